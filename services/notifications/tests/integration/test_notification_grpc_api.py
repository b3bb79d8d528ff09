"""The gRPC API of the running Notification Service: a customer lists only their own notifications, newest
first, page by page; an admin lists everyone's; bad input is INVALID_ARGUMENT with a clear message.

The notifications are recorded through the service's own use case (as the consumer would) and sent to a
real SMTP server, so the listing also shows delivery state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import grpc
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from notifications_fakes import incoming, order_created, order_paid, payment_failed
from notifications_probes import Mailbox, ServiceFactory, eventually, stored
from sqlalchemy.ext.asyncio import AsyncEngine

from ecommerce.common.v1 import common_pb2
from ecommerce.events.channels import Event
from ecommerce.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from notifications.adapters.messaging import notice_of
from notifications.bootstrap import NotificationService

ADA = common_pb2.Caller(user_id=str(uuid4()), role=common_pb2.ROLE_CUSTOMER)
BOB = common_pb2.Caller(user_id=str(uuid4()), role=common_pb2.ROLE_CUSTOMER)
EVE = common_pb2.Caller(user_id=str(uuid4()), role=common_pb2.ROLE_CUSTOMER)
ADMIN = common_pb2.Caller(user_id=str(uuid4()), role=common_pb2.ROLE_ADMIN)
Request = notifications_pb2.ListNotificationsRequest


async def record(service: NotificationService, payload: Event) -> UUID:
    event = incoming(payload)
    notice = notice_of(payload)
    assert notice is not None
    assert await service.handlers.record(event, notice)
    return event.event_id


@pytest_asyncio.fixture
async def service(mailbox: Mailbox, start_service: ServiceFactory) -> NotificationService:
    return await start_service(smtp_port=mailbox.sink.port)


@pytest_asyncio.fixture
async def stub(service: NotificationService) -> AsyncIterator[notifications_pb2_grpc.NotificationServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        yield notifications_pb2_grpc.NotificationServiceStub(channel)


async def list_all(
    stub: notifications_pb2_grpc.NotificationServiceStub, caller: common_pb2.Caller, **filters: Any
) -> list[notifications_pb2.Notification]:
    found, token = [], ""
    while True:
        page = await stub.ListNotifications(Request(caller=caller, page_size=2, page_token=token, **filters))
        assert len(page.notifications) <= 2
        found += list(page.notifications)
        if not (token := page.next_page_token):
            return found


async def test_customers_list_only_their_own_notifications_newest_first_page_by_page(
    service: NotificationService,
    stub: notifications_pb2_grpc.NotificationServiceStub,
    engine: AsyncEngine,
    mailbox: Mailbox,
) -> None:
    ada, bob = UUID(ADA.user_id), UUID(BOB.user_id)
    first_order, second_order = uuid4(), uuid4()
    ada_events = [
        await record(service, order_created(first_order, ada)),
        await record(service, order_paid(first_order, ada)),
        await record(service, order_created(second_order, ada)),
        await record(service, payment_failed(second_order, ada)),
        await record(service, order_created(uuid4(), ada)),
    ]
    bob_event = await record(service, order_created(uuid4(), bob, "bob@example.com"))

    async def delivered() -> bool:
        rows = await stored(engine)
        return len(rows) == 6 and all(row["status"] == "SENT" for row in rows)

    await eventually(delivered, "six notifications to be sent")
    ids_by_event = {row["event_id"]: str(row["id"]) for row in await stored(engine)}

    ada_sees = await list_all(stub, ADA)
    assert [n.id for n in ada_sees] == [ids_by_event[e] for e in reversed(ada_events)]
    assert {n.user_id for n in ada_sees} == {ADA.user_id}
    newest = ada_sees[0]
    assert (newest.channel, newest.template, newest.status, newest.recipient) == (
        notifications_pb2.CHANNEL_EMAIL,
        notifications_pb2.TEMPLATE_ORDER_RECEIVED,
        notifications_pb2.DELIVERY_STATUS_SENT,
        "ada@example.com",
    )
    assert newest.attempts == 1
    assert newest.HasField("sent_time")
    assert newest.subject.startswith("We received your order")

    assert [n.id for n in await list_all(stub, BOB)] == [ids_by_event[bob_event]]
    assert await list_all(stub, EVE) == []
    assert len(await list_all(stub, ADMIN)) == 6

    one_order = await list_all(stub, ADA, order_id=str(second_order))
    assert [n.template for n in one_order] == [
        notifications_pb2.TEMPLATE_PAYMENT_FAILED,
        notifications_pb2.TEMPLATE_ORDER_RECEIVED,
    ]
    assert await list_all(stub, BOB, order_id=str(second_order)) == []  # another's order looks empty


async def test_bad_requests_are_invalid_argument_with_a_clear_message_and_health_is_served(
    service: NotificationService, stub: notifications_pb2_grpc.NotificationServiceStub
) -> None:
    await record(service, order_created(uuid4(), UUID(ADA.user_id)))
    await record(service, order_created(uuid4(), UUID(ADA.user_id)))
    issued = (await stub.ListNotifications(Request(caller=ADA, page_size=1))).next_page_token
    assert issued

    bad = [
        (Request(caller=ADA, page_size=101), "page_size must be between 1 and 100, got 101"),
        (Request(caller=ADA, page_size=-1), "page_size must be between 1 and 100, got -1"),
        (Request(caller=ADA, page_token="garbage!"), "page_token is not a token this service issued"),
        (Request(caller=ADA, page_token="x" * 600), "page_token is too long"),
        (Request(caller=BOB, page_token=issued), "page_token was issued for a different filter"),
        (
            Request(caller=ADA, page_token=issued, order_id=str(uuid4())),
            "page_token was issued for a different filter",
        ),
        (Request(caller=ADA, order_id="order-42"), "order_id must be a UUID, got 'order-42'"),
        (Request(caller=common_pb2.Caller(user_id="42", role=common_pb2.ROLE_CUSTOMER)), "caller.user_id"),
        (Request(caller=common_pb2.Caller(user_id=ADA.user_id)), "caller.role must be ROLE_CUSTOMER or"),
        (Request(), "caller.role must be ROLE_CUSTOMER or ROLE_ADMIN"),
    ]
    for request, message in bad:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.ListNotifications(request)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
        assert message in (raised.value.details() or ""), (message, raised.value.details())

    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        health: Any = health_pb2_grpc.HealthStub(channel)  # the health stubs' types describe sync channels
        api = await health.Check(
            health_pb2.HealthCheckRequest(service="ecommerce.notifications.v1.NotificationService")
        )
        assert api.status == health_pb2.HealthCheckResponse.SERVING
        # Not ready as a whole: this fixture's broker is unreachable, so nothing is consumed.
        whole = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert whole.status == health_pb2.HealthCheckResponse.NOT_SERVING

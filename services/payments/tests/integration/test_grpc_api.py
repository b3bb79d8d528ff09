"""The gRPC API of the running Payment Service: a customer reads only their own payment, another customer's
payment is indistinguishable from a missing one, bad input is INVALID_ARGUMENT, nothing is ever written by a
query, and the standard health and reflection services answer.

Queries need no broker, so the service runs against a closed AMQP port here (it keeps retrying to connect in
the background) and the payments are made by handing it ``order.created`` events directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast
from uuid import UUID, uuid4

import grpc
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from payments_fakes import ADA, cancellation, charge, order_cancelled_event, order_created_event
from sqlalchemy import func, select

from ecommerce.common.v1 import common_pb2
from ecommerce.payments.v1 import payments_pb2, payments_pb2_grpc
from payments.adapters import tables
from payments.bootstrap import PaymentService, PaymentsSettings, bootstrap

CLOSED_PORT_URL = "amqp://guest:guest@127.0.0.1:1/"
OWNER = common_pb2.Caller(user_id=str(ADA), role=common_pb2.ROLE_CUSTOMER)
OTHER = common_pb2.Caller(user_id=str(uuid4()), role=common_pb2.ROLE_CUSTOMER)
ADMIN = common_pb2.Caller(user_id=str(uuid4()), role=common_pb2.ROLE_ADMIN)


@pytest_asyncio.fixture
async def service(database_url: str) -> AsyncIterator[PaymentService]:
    settings = PaymentsSettings(
        database_url=database_url,
        grpc_bind="127.0.0.1:0",
        amqp_url=CLOSED_PORT_URL,
        provider_latency_ms=0,
        charge_backoff_initial_ms=1,
        charge_backoff_max_ms=1,
    )
    service = bootstrap(settings)
    await service.start()
    yield service
    await service.stop()


@pytest_asyncio.fixture
async def stub(service: PaymentService) -> AsyncIterator[payments_pb2_grpc.PaymentServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        yield payments_pb2_grpc.PaymentServiceStub(channel)


async def paid_order(service: PaymentService, token: str = "tok_success") -> UUID:
    order_id = uuid4()
    await service.handlers.order_created(order_created_event(order_id, token), charge(order_id, token))
    return order_id


async def written(service: PaymentService) -> tuple[int, ...]:
    async with service.engine.connect() as conn:
        return tuple(
            [
                (await conn.execute(select(func.count()).select_from(table))).scalar_one()
                for table in (tables.payments, tables.provider_ledger, tables.outbox, tables.inbox)
            ]
        )


def get(caller: common_pb2.Caller, order_id: UUID | str) -> payments_pb2.GetPaymentRequest:
    return payments_pb2.GetPaymentRequest(caller=caller, order_id=str(order_id))


async def test_the_owner_and_an_admin_see_the_payment_in_each_state(
    service: PaymentService, stub: payments_pb2_grpc.PaymentServiceStub
) -> None:
    succeeded, failed = await paid_order(service), await paid_order(service, "tok_declined")

    for caller in (OWNER, ADMIN):
        payment = (await stub.GetPayment(get(caller, succeeded))).payment
        assert (payment.order_id, payment.user_id, payment.status, payment.attempts) == (
            str(succeeded),
            str(ADA),
            payments_pb2.PAYMENT_STATUS_SUCCEEDED,
            1,
        )
        assert (payment.amount.amount_minor, payment.amount.currency) == (2500, "EUR")
        assert payment.provider_reference.startswith("sim_ch_")
        assert payment.failure_reason == ""
        assert UUID(payment.id)
        assert payment.create_time.ToDatetime() <= payment.update_time.ToDatetime()

    declined = (await stub.GetPayment(get(OWNER, failed))).payment
    assert (declined.status, declined.failure_reason, declined.provider_reference) == (
        payments_pb2.PAYMENT_STATUS_FAILED,
        "card_declined",
        "",
    )

    refunded, never_charged = succeeded, uuid4()
    for order_id in (refunded, never_charged):
        await service.handlers.order_cancelled(order_cancelled_event(order_id), cancellation(order_id))

    statuses = [(await stub.GetPayment(get(OWNER, o))).payment.status for o in (refunded, never_charged)]
    assert statuses == [payments_pb2.PAYMENT_STATUS_REFUNDED, payments_pb2.PAYMENT_STATUS_CANCELLED]


async def test_another_customers_payment_answers_like_a_missing_one(
    service: PaymentService, stub: payments_pb2_grpc.PaymentServiceStub
) -> None:
    order_id = await paid_order(service)
    before = await written(service)

    details = []
    for wanted in (order_id, uuid4()):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.GetPayment(get(OTHER, wanted))
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        details.append((raised.value.details() or "").replace(str(wanted), "<id>"))

    assert details == ["no payment found for order <id>"] * 2
    assert await written(service) == before


BAD_REQUESTS = [
    (get(OWNER, "not-a-uuid"), "order_id must be a UUID, got 'not-a-uuid'"),
    (get(OWNER, ""), "order_id must be a UUID"),
    (get(OWNER, "x" * 5000), "order_id must be a UUID"),
    (get(common_pb2.Caller(user_id="42", role=common_pb2.ROLE_CUSTOMER), uuid4()), "caller.user_id must be"),
    (get(common_pb2.Caller(user_id=str(ADA)), uuid4()), "caller.role must be ROLE_CUSTOMER or ROLE_ADMIN"),
    (get(common_pb2.Caller(user_id=str(ADA), role=7), uuid4()), "caller.role must be"),  # type: ignore[arg-type]
    (payments_pb2.GetPaymentRequest(order_id=str(uuid4())), "caller.role must be"),  # no caller at all
]


async def test_bad_input_is_invalid_argument_and_writes_nothing(
    service: PaymentService, stub: payments_pb2_grpc.PaymentServiceStub
) -> None:
    await paid_order(service)
    before = await written(service)

    for request, message in BAD_REQUESTS:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.GetPayment(request)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, message
        details = raised.value.details() or ""
        assert message in details
        assert len(details) < 200  # the echo of a long value is cut short

    assert await written(service) == before


async def test_health_and_reflection(service: PaymentService) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        health: Any = health_pb2_grpc.HealthStub(
            channel
        )  # the health stubs' types describe sync channels only
        reply = await health.Check(
            health_pb2.HealthCheckRequest(service="ecommerce.payments.v1.PaymentService")
        )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        # The API serves, but the whole server is not ready: this fixture's broker is unreachable.
        reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING

        reflection: Any = reflection_pb2_grpc.ServerReflectionStub(cast(grpc.Channel, channel))  # same
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        async for response in reflection.ServerReflectionInfo(iter([request])):
            names = {s.name for s in response.list_services_response.service}
            assert {"ecommerce.payments.v1.PaymentService", "grpc.health.v1.Health"} <= names

"""The services behind the gateway for integration tests, behind one entry point (``running_backends``):
the real Order Service, and small in-test fakes of the Payment and Notification Services.

The fakes speak the real gRPC contracts (generated servicers, the runtime's ``GrpcServer`` with its health
service) and enforce ownership like the real services must: another customer's payment or notifications
are NOT_FOUND / absent. The fakes keep these tests free of the other services' databases and broker;
the end-to-end suite (``tests/e2e``) runs the gateway in front of all the real services.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ecommerce.common.v1 import common_pb2
from ecommerce.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from ecommerce.payments.v1 import payments_pb2, payments_pb2_grpc
from ecommerce_runtime.callers import Caller, caller_of
from ecommerce_runtime.grpc_errors import InvalidArgument
from ecommerce_runtime.grpc_server import GrpcServer, Registration
from orders.bootstrap import OrderService, OrdersSettings
from orders.bootstrap import bootstrap as bootstrap_orders

Context = grpc.aio.ServicerContext


def _now() -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC))
    return stamp


async def _caller(caller: common_pb2.Caller, context: Context[Any, Any]) -> Caller:
    """The request's caller, read like the real services read it (``ecommerce_runtime.callers``)."""
    try:
        return caller_of(caller)
    except InvalidArgument as error:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))


@dataclass
class FakePaymentService(payments_pb2_grpc.PaymentServiceServicer):
    """Payments the test recorded, by order id; ``delay`` makes every answer late (deadline tests)."""

    payments: dict[str, payments_pb2.Payment] = field(default_factory=dict)
    delay: float = 0.0

    def record(self, order_id: str, user_id: str, amount_minor: int, status: int = 2) -> payments_pb2.Payment:
        payment = payments_pb2.Payment(
            id=str(uuid4()),
            order_id=order_id,
            user_id=user_id,
            status=status,  # type: ignore[arg-type]
            amount=common_pb2.Money(amount_minor=amount_minor, currency="EUR"),
            attempts=1,
            provider_reference="sim_ch_0001",
            create_time=_now(),
            update_time=_now(),
        )
        self.payments[order_id] = payment
        return payment

    async def GetPayment(
        self,
        request: payments_pb2.GetPaymentRequest,
        context: Context[payments_pb2.GetPaymentRequest, Awaitable[payments_pb2.GetPaymentResponse]],
    ) -> payments_pb2.GetPaymentResponse:
        await asyncio.sleep(self.delay)
        caller = await _caller(request.caller, context)
        payment = self.payments.get(request.order_id)
        if payment is None or not caller.can_see(UUID(payment.user_id)):
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"no payment is recorded for order {request.order_id}"
            )
        return payments_pb2.GetPaymentResponse(payment=payment)


@dataclass
class FakeNotificationService(notifications_pb2_grpc.NotificationServiceServicer):
    """Notifications the test recorded, newest first; one page only (any page token is foreign)."""

    notifications: list[notifications_pb2.Notification] = field(default_factory=list)

    def record(self, user_id: str, order_id: str, recipient: str) -> notifications_pb2.Notification:
        notification = notifications_pb2.Notification(
            id=str(uuid4()),
            user_id=user_id,
            order_id=order_id,
            channel=notifications_pb2.CHANNEL_EMAIL,
            template=notifications_pb2.TEMPLATE_ORDER_RECEIVED,
            recipient=recipient,
            subject="We received your order",
            status=notifications_pb2.DELIVERY_STATUS_SENT,
            attempts=1,
            create_time=_now(),
            sent_time=_now(),
        )
        self.notifications.insert(0, notification)
        return notification

    async def ListNotifications(
        self,
        request: notifications_pb2.ListNotificationsRequest,
        context: Context[
            notifications_pb2.ListNotificationsRequest, Awaitable[notifications_pb2.ListNotificationsResponse]
        ],
    ) -> notifications_pb2.ListNotificationsResponse:
        caller = await _caller(request.caller, context)
        if not 0 <= request.page_size <= 100:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "page_size must be between 1 and 100")
        if request.page_token:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "page_token is not a token this service issued"
            )
        mine = [
            n
            for n in self.notifications
            if caller.can_see(UUID(n.user_id)) and (not request.order_id or n.order_id == request.order_id)
        ]
        return notifications_pb2.ListNotificationsResponse(notifications=mine[: request.page_size or 20])


@dataclass
class Backends:
    orders: OrderService
    payments: FakePaymentService
    notifications: FakeNotificationService
    orders_addr: str
    payments_addr: str
    notifications_addr: str


@contextlib.asynccontextmanager
async def running_backends(orders_database_url: str, amqp_url: str) -> AsyncIterator[Backends]:
    """The three services the gateway calls, each on a free local port; stopped on exit."""
    orders = bootstrap_orders(
        OrdersSettings(
            database_url=orders_database_url,
            grpc_bind="127.0.0.1:0",
            amqp_url=amqp_url,
            shutdown_grace_seconds=1,
        )
    )
    await orders.start()
    await _ready(f"127.0.0.1:{orders.grpc_port}")
    payments, notifications = FakePaymentService(), FakeNotificationService()
    fakes = [payment_server(payments, "127.0.0.1:0"), notification_server(notifications, "127.0.0.1:0")]
    for server in fakes:
        await server.start()
    try:
        yield Backends(
            orders,
            payments,
            notifications,
            f"127.0.0.1:{orders.grpc_port}",
            f"127.0.0.1:{fakes[0].port}",
            f"127.0.0.1:{fakes[1].port}",
        )
    finally:
        for server in fakes:
            await server.stop(0)
        await orders.stop()


async def _ready(address: str, within: float = 30) -> None:
    """Waits until the service at ``address`` reports ready (health name ""): the Order Service does once
    its consumer consumes. The bound turns a hang into a failure; it is not a speed assertion."""
    async with grpc.aio.insecure_channel(address) as channel, asyncio.timeout(within):
        health: Any = health_pb2_grpc.HealthStub(channel)  # the stubs' types describe sync channels only
        for _ in range(int(within * 20)):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
            await asyncio.sleep(0.05)


def payment_server(service: FakePaymentService, bind: str) -> GrpcServer:
    name = payments_pb2.DESCRIPTOR.services_by_name["PaymentService"].full_name
    return GrpcServer(
        [Registration(payments_pb2_grpc.add_PaymentServiceServicer_to_server, service, name)], bind
    )


def notification_server(service: FakeNotificationService, bind: str) -> GrpcServer:
    name = notifications_pb2.DESCRIPTOR.services_by_name["NotificationService"].full_name
    registration = Registration(
        notifications_pb2_grpc.add_NotificationServiceServicer_to_server, service, name
    )
    return GrpcServer([registration], bind)


def closed_port_address() -> str:
    """An address nothing listens on (a port just released by the OS)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"


def orders_sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'orders.db'}"

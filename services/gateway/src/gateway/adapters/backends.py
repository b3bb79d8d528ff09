"""The services behind the gateway, over gRPC: the backend ports implemented with the generated stubs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from uuid import UUID

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import ValidationError

from ecommerce.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce.payments.v1 import payments_pb2, payments_pb2_grpc
from ecommerce.rest import models
from gateway.adapters import translate
from gateway.adapters.grpc_calls import CallPolicy, ServiceClient, open_channel
from gateway.adapters.grpc_status import unreadable_answer
from gateway.domain import Principal
from gateway.ports import OrderStatusFilter, PlacedOrder

T = TypeVar("T")
ServingStatus = Literal["SERVING", "NOT_SERVING", "UNKNOWN"]
WHOLE_SERVER = ""
"""The health name a service reports ready under (``ecommerce_runtime.grpc_server``): SERVING only once it
is ready for work (a consumer, once it consumes), NOT_SERVING from the start of a shutdown."""


def _read(client: ServiceClient, rpc: str, translate_reply: Callable[[], T]) -> T:
    try:
        return translate_reply()
    except (KeyError, ValueError, ValidationError) as error:
        raise unreadable_answer(client.name, rpc, error) from None


class GrpcOrders:
    def __init__(self, channel: grpc.aio.Channel, policy: CallPolicy) -> None:
        self._stub = orders_pb2_grpc.OrderServiceStub(channel)
        self._client = ServiceClient("orders", policy)

    async def create(
        self, caller: Principal, request: models.CreateOrderRequest, idempotency_key: str
    ) -> PlacedOrder:
        message = orders_pb2.CreateOrderRequest(
            caller=translate.caller_pb(caller),
            idempotency_key=idempotency_key,
            items=[orders_pb2.OrderLineInput(sku=i.sku, quantity=i.quantity) for i in request.items],
            payment_token=request.payment_token,
            customer_email=caller.email,
        )
        reply = await self._client.call(
            self._stub.CreateOrder, message, rpc="CreateOrder", caller=caller, idempotent=False
        )
        return _read(
            self._client, "CreateOrder", lambda: PlacedOrder(translate.order(reply.order), reply.replayed)
        )

    async def get(self, caller: Principal, order_id: UUID) -> models.Order:
        message = orders_pb2.GetOrderRequest(caller=translate.caller_pb(caller), order_id=str(order_id))
        reply = await self._client.call(
            self._stub.GetOrder, message, rpc="GetOrder", caller=caller, idempotent=True
        )
        return _read(self._client, "GetOrder", lambda: translate.order(reply.order))

    async def list(
        self, caller: Principal, *, page_size: int, page_token: str | None, status: OrderStatusFilter | None
    ) -> models.OrderPage:
        message = orders_pb2.ListOrdersRequest(
            caller=translate.caller_pb(caller),
            page_size=page_size,
            page_token=page_token or "",
            status=translate.ORDER_STATUS_PB[status] if status else orders_pb2.ORDER_STATUS_UNSPECIFIED,
        )
        reply = await self._client.call(
            self._stub.ListOrders, message, rpc="ListOrders", caller=caller, idempotent=True
        )
        return _read(
            self._client,
            "ListOrders",
            lambda: models.OrderPage(
                items=[translate.order(o) for o in reply.orders],
                next_page_token=translate.next_token(reply.next_page_token),
            ),
        )

    async def cancel(self, caller: Principal, order_id: UUID) -> models.Order:
        message = orders_pb2.CancelOrderRequest(caller=translate.caller_pb(caller), order_id=str(order_id))
        reply = await self._client.call(
            self._stub.CancelOrder, message, rpc="CancelOrder", caller=caller, idempotent=False
        )
        return _read(self._client, "CancelOrder", lambda: translate.order(reply.order))

    async def list_products(self, *, page_size: int, page_token: str | None) -> models.ProductPage:
        message = orders_pb2.ListProductsRequest(page_size=page_size, page_token=page_token or "")
        reply = await self._client.call(
            self._stub.ListProducts, message, rpc="ListProducts", caller=None, idempotent=True
        )
        return _read(
            self._client,
            "ListProducts",
            lambda: models.ProductPage(
                items=[translate.product(p) for p in reply.products],
                next_page_token=translate.next_token(reply.next_page_token),
            ),
        )

    async def get_product(self, sku: str) -> models.Product:
        message = orders_pb2.GetProductRequest(sku=sku)
        reply = await self._client.call(
            self._stub.GetProduct, message, rpc="GetProduct", caller=None, idempotent=True
        )
        return _read(self._client, "GetProduct", lambda: translate.product(reply.product))


class GrpcPayments:
    def __init__(self, channel: grpc.aio.Channel, policy: CallPolicy) -> None:
        self._stub = payments_pb2_grpc.PaymentServiceStub(channel)
        self._client = ServiceClient("payments", policy)

    async def get(self, caller: Principal, order_id: UUID) -> models.Payment:
        message = payments_pb2.GetPaymentRequest(caller=translate.caller_pb(caller), order_id=str(order_id))
        reply = await self._client.call(
            self._stub.GetPayment, message, rpc="GetPayment", caller=caller, idempotent=True
        )
        return _read(self._client, "GetPayment", lambda: translate.payment(reply.payment))


class GrpcNotifications:
    def __init__(self, channel: grpc.aio.Channel, policy: CallPolicy) -> None:
        self._stub = notifications_pb2_grpc.NotificationServiceStub(channel)
        self._client = ServiceClient("notifications", policy)

    async def list(
        self, caller: Principal, *, page_size: int, page_token: str | None, order_id: UUID | None
    ) -> models.NotificationPage:
        message = notifications_pb2.ListNotificationsRequest(
            caller=translate.caller_pb(caller),
            page_size=page_size,
            page_token=page_token or "",
            order_id=str(order_id) if order_id else "",
        )
        reply = await self._client.call(
            self._stub.ListNotifications, message, rpc="ListNotifications", caller=caller, idempotent=True
        )
        return _read(
            self._client,
            "ListNotifications",
            lambda: models.NotificationPage(
                items=[translate.notification(n) for n in reply.notifications],
                next_page_token=translate.next_token(reply.next_page_token),
            ),
        )


_HEALTH: dict[int, ServingStatus] = {
    health_pb2.HealthCheckResponse.SERVING: "SERVING",
    health_pb2.HealthCheckResponse.NOT_SERVING: "NOT_SERVING",
}


async def _serving_status(channel: grpc.aio.Channel, deadline: float) -> ServingStatus:
    """The service's answer to the standard gRPC health check; NOT_SERVING when it does not answer."""
    stub: Any = health_pb2_grpc.HealthStub(channel)  # the health stubs' types describe sync channels only
    try:
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=WHOLE_SERVER), timeout=deadline)
    except grpc.aio.AioRpcError as error:
        return "UNKNOWN" if error.code() is grpc.StatusCode.NOT_FOUND else "NOT_SERVING"
    return _HEALTH.get(reply.status, "UNKNOWN")


@dataclass
class Channels:
    """One channel per backend service, opened at start and closed at shutdown."""

    orders: grpc.aio.Channel
    payments: grpc.aio.Channel
    notifications: grpc.aio.Channel

    @classmethod
    def open(cls, orders: str, payments: str, notifications: str) -> Channels:
        return cls(open_channel(orders), open_channel(payments), open_channel(notifications))

    async def close(self, grace: float | None = None) -> None:
        await asyncio.gather(
            self.orders.close(grace), self.payments.close(grace), self.notifications.close(grace)
        )


class GrpcReadiness:
    def __init__(self, channels: Channels, deadline_seconds: float) -> None:
        self._channels = channels
        self._deadline = deadline_seconds

    async def check(self) -> models.ReadinessChecks:
        orders, payments, notifications = await asyncio.gather(
            _serving_status(self._channels.orders, self._deadline),
            _serving_status(self._channels.payments, self._deadline),
            _serving_status(self._channels.notifications, self._deadline),
        )
        return models.ReadinessChecks(orders=orders, payments=payments, notifications=notifications)

"""Protobuf messages of the services <-> the REST models of the API (``ecommerce.rest.models``).

Enum values the API does not know (``*_UNSPECIFIED`` or newer ones) raise ``KeyError``; the caller turns
that into a 502, since it means the services and the API's contract disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from google.protobuf.timestamp_pb2 import Timestamp

from ecommerce.common.v1 import common_pb2
from ecommerce.notifications.v1 import notifications_pb2
from ecommerce.orders.v1 import orders_pb2
from ecommerce.payments.v1 import payments_pb2
from ecommerce.rest import models
from gateway.domain import Principal, Role
from gateway.ports import OrderStatusFilter

ORDER_STATUS: dict[int, OrderStatusFilter] = {
    orders_pb2.ORDER_STATUS_PENDING: "PENDING",
    orders_pb2.ORDER_STATUS_PAID: "PAID",
    orders_pb2.ORDER_STATUS_CANCELLED: "CANCELLED",
}
ORDER_STATUS_PB: dict[OrderStatusFilter, orders_pb2.OrderStatus.ValueType] = {
    "PENDING": orders_pb2.ORDER_STATUS_PENDING,
    "PAID": orders_pb2.ORDER_STATUS_PAID,
    "CANCELLED": orders_pb2.ORDER_STATUS_CANCELLED,
}
CANCELLATION_REASON: dict[int, Literal["customer_request", "payment_declined"] | None] = {
    orders_pb2.CANCELLATION_REASON_UNSPECIFIED: None,
    orders_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST: "customer_request",
    orders_pb2.CANCELLATION_REASON_PAYMENT_DECLINED: "payment_declined",
}
PAYMENT_STATUS: dict[int, Literal["PENDING", "SUCCEEDED", "FAILED", "REFUNDED", "CANCELLED"]] = {
    payments_pb2.PAYMENT_STATUS_PENDING: "PENDING",
    payments_pb2.PAYMENT_STATUS_SUCCEEDED: "SUCCEEDED",
    payments_pb2.PAYMENT_STATUS_FAILED: "FAILED",
    payments_pb2.PAYMENT_STATUS_REFUNDED: "REFUNDED",
    payments_pb2.PAYMENT_STATUS_CANCELLED: "CANCELLED",
}
CHANNEL: dict[int, Literal["email"]] = {notifications_pb2.CHANNEL_EMAIL: "email"}
TEMPLATE: dict[
    int,
    Literal["order_received", "order_paid", "order_cancelled", "payment_failed", "payment_refunded"],
] = {
    notifications_pb2.TEMPLATE_ORDER_RECEIVED: "order_received",
    notifications_pb2.TEMPLATE_ORDER_PAID: "order_paid",
    notifications_pb2.TEMPLATE_ORDER_CANCELLED: "order_cancelled",
    notifications_pb2.TEMPLATE_PAYMENT_FAILED: "payment_failed",
    notifications_pb2.TEMPLATE_PAYMENT_REFUNDED: "payment_refunded",
}
DELIVERY_STATUS: dict[int, Literal["PENDING", "SENT", "FAILED"]] = {
    notifications_pb2.DELIVERY_STATUS_PENDING: "PENDING",
    notifications_pb2.DELIVERY_STATUS_SENT: "SENT",
    notifications_pb2.DELIVERY_STATUS_FAILED: "FAILED",
}
ROLE_PB = {Role.CUSTOMER: common_pb2.ROLE_CUSTOMER, Role.ADMIN: common_pb2.ROLE_ADMIN}


def caller_pb(caller: Principal) -> common_pb2.Caller:
    return common_pb2.Caller(user_id=str(caller.user_id), role=ROLE_PB[caller.role])


def _time(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def _money(money: common_pb2.Money) -> models.Money:
    return models.Money(amount_minor=money.amount_minor, currency=money.currency)


def next_token(token: str) -> str | None:
    return token or None


def order(pb: orders_pb2.Order) -> models.Order:
    return models.Order(
        id=UUID(pb.id),
        status=ORDER_STATUS[pb.status],
        cancellation_reason=CANCELLATION_REASON[pb.cancellation_reason],
        items=[
            models.OrderLine(
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
                unit_price=_money(line.unit_price),
                line_total=_money(line.line_total),
            )
            for line in pb.items
        ],
        total=_money(pb.total),
        created_at=_time(pb.create_time),
        updated_at=_time(pb.update_time),
    )


def product(pb: orders_pb2.Product) -> models.Product:
    return models.Product(
        sku=pb.sku,
        name=pb.name,
        description=pb.description,
        unit_price=_money(pb.unit_price),
        stock_available=pb.stock_available,
    )


def payment(pb: payments_pb2.Payment) -> models.Payment:
    return models.Payment(
        id=UUID(pb.id),
        order_id=UUID(pb.order_id),
        status=PAYMENT_STATUS[pb.status],
        amount=_money(pb.amount),
        attempts=pb.attempts,
        provider_reference=pb.provider_reference or None,
        failure_reason=pb.failure_reason or None,
        created_at=_time(pb.create_time),
        updated_at=_time(pb.update_time),
    )


def notification(pb: notifications_pb2.Notification) -> models.Notification:
    return models.Notification(
        id=UUID(pb.id),
        order_id=UUID(pb.order_id),
        channel=CHANNEL[pb.channel],
        template=TEMPLATE[pb.template],
        recipient=pb.recipient,
        subject=pb.subject,
        status=DELIVERY_STATUS[pb.status],
        attempts=pb.attempts,
        created_at=_time(pb.create_time),
        sent_at=_time(pb.sent_time) if pb.HasField("sent_time") else None,
    )

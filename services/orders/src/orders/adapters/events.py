"""Translation between the order domain and the generated event models of ``specs/asyncapi.yaml``."""

from __future__ import annotations

from uuid import uuid4

from ecommerce.events import models
from ecommerce_runtime.messages import OutgoingMessage, outgoing
from orders.domain import Money, OrderCancelled, OrderEvent, OrderPaid, OrderPlaced

PRODUCER = "orders"


def _money(money: Money) -> models.Money:
    return models.Money(amount_minor=money.amount_minor, currency=money.currency)


def _payload(event: OrderEvent) -> models.OrderCreated | models.OrderPaid | models.OrderCancelled:
    order = event.order
    match event:
        case OrderPlaced():
            return models.OrderCreated(
                order_id=order.id,
                user_id=order.user_id,
                customer_email=order.customer_email,
                items=[
                    models.OrderLine(
                        sku=line.sku,
                        name=line.name,
                        quantity=line.quantity,
                        unit_price=_money(line.unit_price),
                        line_total=_money(line.line_total),
                    )
                    for line in order.lines
                ],
                total=_money(order.total),
                payment_token=order.payment_token,
                created_at=order.created_at,
            )
        case OrderPaid(payment_id=payment_id):
            return models.OrderPaid(
                order_id=order.id,
                user_id=order.user_id,
                customer_email=order.customer_email,
                payment_id=payment_id,
                total=_money(order.total),
                paid_at=order.updated_at,
            )
        case OrderCancelled(reason=reason, previous_status=previous):
            return models.OrderCancelled(
                order_id=order.id,
                user_id=order.user_id,
                customer_email=order.customer_email,
                reason=reason.value,
                previous_status=previous.value,  # PENDING or PAID: the state machine allows no other
                total=_money(order.total),
                cancelled_at=order.updated_at,
            )


def to_message(event: OrderEvent, traceparent: str) -> OutgoingMessage:
    """The outbox message for a domain event (validated against its generated model)."""
    return outgoing(
        _payload(event),
        event_id=uuid4(),
        occurred_at=event.order.updated_at,
        producer=PRODUCER,
        correlation_id=str(event.order.id),
        traceparent=traceparent,
    )

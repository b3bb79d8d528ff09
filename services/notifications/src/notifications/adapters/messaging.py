"""The inbound side: order and payment events from the bus, translated into notices the customer hears."""

from __future__ import annotations

from ecommerce.events import models
from ecommerce.events.channels import Event
from ecommerce_runtime.bus import PermanentError, Subscriber
from ecommerce_runtime.messages import IncomingEvent
from notifications import domain
from notifications.domain import CancellationReason, Money, Notice, NoticeLine
from notifications.handlers import NotificationHandlers


def _money(money: models.Money) -> Money:
    return Money(money.amount_minor, money.currency)


def notice_of(payload: Event) -> Notice | None:
    """What the customer should hear about ``payload``; None for events customers are not told about."""
    match payload:
        case models.OrderCreated():
            return domain.order_received(
                order_id=payload.order_id,
                user_id=payload.user_id,
                recipient=payload.customer_email,
                lines=tuple(NoticeLine(i.name, i.quantity, _money(i.line_total)) for i in payload.items),
                total=_money(payload.total),
            )
        case models.OrderPaid():
            return domain.order_paid(
                order_id=payload.order_id,
                user_id=payload.user_id,
                recipient=payload.customer_email,
                total=_money(payload.total),
            )
        case models.OrderCancelled():
            return domain.order_cancelled(
                order_id=payload.order_id,
                user_id=payload.user_id,
                recipient=payload.customer_email,
                total=_money(payload.total),
                reason=CancellationReason(payload.reason),
                was_paid=payload.previous_status == "PAID",
            )
        case models.PaymentFailed():
            return domain.payment_failed(
                order_id=payload.order_id,
                user_id=payload.user_id,
                recipient=payload.customer_email,
                amount=_money(payload.amount),
                message=payload.message,
            )
        case models.PaymentRefunded():
            return domain.payment_refunded(
                order_id=payload.order_id,
                user_id=payload.user_id,
                recipient=payload.customer_email,
                amount=_money(payload.amount),
            )
    return None


def customer_events(handlers: NotificationHandlers) -> Subscriber:
    """The subscriber of the ``notifications`` queue: records the notification and acks.

    Sending happens later, in the mailer loop, so a mail server outage never holds up the queue.
    """

    async def handle(event: IncomingEvent) -> None:
        notice = notice_of(event.payload)
        if notice is None:
            raise PermanentError(f"the notifications service does not handle {event.event_type}")
        await handlers.record(event, notice)

    return handle

"""Translation between the payment domain and the generated event models of ``specs/asyncapi.yaml``."""

from __future__ import annotations

from uuid import uuid4

from ecommerce.events import models
from ecommerce_runtime.messages import OutgoingMessage, outgoing
from payments.domain import Money, PaymentEvent, PaymentFailed, PaymentRefunded, PaymentSucceeded

PRODUCER = "payments"


def money_model(money: Money) -> models.Money:
    return models.Money(amount_minor=money.amount_minor, currency=money.currency)


def money_of(money: models.Money) -> Money:
    return Money(money.amount_minor, money.currency)


def _payload(event: PaymentEvent) -> models.PaymentSucceeded | models.PaymentFailed | models.PaymentRefunded:
    payment = event.payment
    match event:
        case PaymentSucceeded():
            return models.PaymentSucceeded(
                payment_id=payment.id,
                order_id=payment.order_id,
                user_id=payment.user_id,
                customer_email=payment.customer_email,
                amount=money_model(payment.amount),
                provider_reference=payment.provider_reference or "",  # set by record_charge
                attempts=payment.attempts,
                succeeded_at=payment.updated_at,
            )
        case PaymentFailed(reason=reason):
            return models.PaymentFailed(
                payment_id=payment.id,
                order_id=payment.order_id,
                user_id=payment.user_id,
                customer_email=payment.customer_email,
                amount=money_model(payment.amount),
                reason=reason.value,
                message=reason.message,
                attempts=payment.attempts,
                failed_at=payment.updated_at,
            )
        case PaymentRefunded():
            return models.PaymentRefunded(
                payment_id=payment.id,
                order_id=payment.order_id,
                user_id=payment.user_id,
                customer_email=payment.customer_email,
                amount=money_model(payment.amount),
                provider_reference=payment.refund_reference or "",  # set by record_refund
                refunded_at=payment.updated_at,
            )


def to_message(event: PaymentEvent, traceparent: str) -> OutgoingMessage:
    """The outbox message for a domain event (validated against its generated model)."""
    return outgoing(
        _payload(event),
        event_id=uuid4(),
        occurred_at=event.payment.updated_at,
        producer=PRODUCER,
        correlation_id=str(event.payment.order_id),
        traceparent=traceparent,
    )

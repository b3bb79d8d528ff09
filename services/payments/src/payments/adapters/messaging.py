"""The inbound side: order events from the bus, translated into use-case calls."""

from __future__ import annotations

from ecommerce.events import models
from ecommerce_runtime.bus import PermanentError, Subscriber, TransientError
from ecommerce_runtime.messages import IncomingEvent
from payments.adapters.events import money_of
from payments.handlers import CancelOrderPayment, ChargeOrder, PaymentHandlers
from payments.ports import ProviderUnavailable


def order_events(handlers: PaymentHandlers) -> Subscriber:
    """The subscriber of the ``payments`` queue (order.created, order.cancelled)."""

    async def handle(event: IncomingEvent) -> None:
        try:
            match event.payload:
                case models.OrderCreated() as created:
                    await handlers.order_created(
                        event,
                        ChargeOrder(
                            order_id=created.order_id,
                            user_id=created.user_id,
                            customer_email=created.customer_email,
                            amount=money_of(created.total),
                            payment_token=created.payment_token,
                        ),
                    )
                case models.OrderCancelled() as cancelled:
                    await handlers.order_cancelled(
                        event,
                        CancelOrderPayment(
                            order_id=cancelled.order_id,
                            user_id=cancelled.user_id,
                            customer_email=cancelled.customer_email,
                            amount=money_of(cancelled.total),
                        ),
                    )
                case _:
                    raise PermanentError(f"the payments service does not handle {event.event_type}")
        except ProviderUnavailable as error:
            # Only a refund gets here (charges end FAILED instead); the refund owed is in the database.
            raise TransientError(f"refund not possible yet: {error}") from error

    return handle

"""The saga's inbound side: payment events from the bus, translated into use-case calls."""

from __future__ import annotations

from ecommerce.events import models
from ecommerce_runtime.bus import PermanentError, Subscriber
from ecommerce_runtime.messages import IncomingEvent
from orders.domain import OrderNotFound
from orders.handlers import OrderHandlers


def payment_events(handlers: OrderHandlers) -> Subscriber:
    """The subscriber of the ``orders`` queue (payment.succeeded, payment.failed)."""

    async def handle(event: IncomingEvent) -> None:
        try:
            match event.payload:
                case models.PaymentSucceeded(order_id=order_id, payment_id=payment_id):
                    await handlers.payment_succeeded(event, order_id, payment_id)
                case models.PaymentFailed(order_id=order_id):
                    await handlers.payment_failed(event, order_id)
                case _:
                    raise PermanentError(f"the orders service does not handle {event.event_type}")
        except OrderNotFound as error:
            raise PermanentError(str(error)) from error

    return handle

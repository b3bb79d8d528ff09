"""The bus handler: order events become use-case calls; failures become a retry or a dead letter."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from payments_fakes import FakeProvider, World, order_cancelled_event, order_created_event
from sqlalchemy.exc import OperationalError

from ecommerce.events import models
from ecommerce_runtime.bus import PermanentError, TransientError
from ecommerce_runtime.messages import IncomingEvent
from payments.adapters.messaging import order_events
from payments.domain import Money, PaymentStatus
from payments.handlers import PaymentHandlers


async def test_order_events_reach_the_use_cases_translated() -> None:
    world = World()
    handle = order_events(world.handlers)
    charged, tombstone = uuid4(), uuid4()

    await handle(order_created_event(charged, "tok_success"))
    await handle(order_cancelled_event(tombstone))

    payment = world.store.payment(charged)
    assert (payment.status, payment.amount, payment.payment_token) == (
        PaymentStatus.SUCCEEDED,
        Money(2500, "EUR"),
        "tok_success",
    )
    assert world.store.payment(tombstone).status is PaymentStatus.CANCELLED


async def test_an_event_type_the_service_does_not_consume_is_permanent() -> None:
    paid = models.OrderPaid(
        order_id=uuid4(),
        user_id=uuid4(),
        customer_email="ada@example.com",
        payment_id=uuid4(),
        total=models.Money(amount_minor=1, currency="EUR"),
        paid_at=datetime.now(UTC),
    )
    event = IncomingEvent(uuid4(), "order.paid", paid, str(paid.order_id), paid.paid_at, "orders", "", 1)
    with pytest.raises(PermanentError, match=r"does not handle order\.paid"):
        await order_events(World().handlers)(event)


async def test_a_refund_the_provider_keeps_refusing_goes_back_to_the_broker() -> None:
    world, order_id = World(), uuid4()
    handle = order_events(world.handlers)
    await handle(order_created_event(order_id))
    world.provider.refunds_unavailable = 100

    with pytest.raises(TransientError, match="refund not possible yet"):
        await handle(order_cancelled_event(order_id))
    assert world.store.payment(order_id).refund_owed


async def test_an_unreachable_database_is_left_to_the_consumer_to_retry() -> None:
    class Unreachable:
        async def __aenter__(self) -> Unreachable:
            raise OperationalError("BEGIN", {}, ConnectionRefusedError())

        async def __aexit__(self, *exc_info: object) -> None:
            return None

    handlers = PaymentHandlers(lambda: Unreachable(), FakeProvider())  # type: ignore[arg-type]
    with pytest.raises(OperationalError):  # the consumer retries it (``db.UNREACHABLE``), not a dead letter
        await order_events(handlers)(order_created_event(uuid4()))

"""Use cases with in-memory fakes: charges, declines, retries, duplicates, crashes and cancellation races.

Each test ends with what the provider's books say (charges, refunds), what the payment row says and which
events went to the outbox.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from payments_fakes import (
    ADA,
    World,
    cancellation,
    charge,
    order_cancelled_event,
    order_created_event,
)

from ecommerce_runtime.callers import Caller
from payments.domain import FailureReason, PaymentNotFound, PaymentStatus
from payments.handlers import RetryPolicy
from payments.ports import ProviderUnavailable


async def create(
    world: World, order_id: UUID, token: str = "tok_success", event_id: UUID | None = None
) -> None:
    """order.created handled, as the consumer would hand it over."""
    await world.handlers.order_created(
        order_created_event(order_id, token, event_id), charge(order_id, token)
    )


async def cancel(world: World, order_id: UUID, event_id: UUID | None = None) -> None:
    """order.cancelled handled, as the consumer would hand it over."""
    await world.handlers.order_cancelled(
        order_cancelled_event(order_id, event_id=event_id), cancellation(order_id)
    )


@pytest.mark.parametrize(
    ("token", "status", "attempts", "reason", "events", "backoffs"),
    [
        ("tok_success", PaymentStatus.SUCCEEDED, 1, None, ["PaymentSucceeded"], 0),
        ("tok_declined", PaymentStatus.FAILED, 1, FailureReason.CARD_DECLINED, ["PaymentFailed"], 0),
        (
            "tok_insufficient_funds",
            PaymentStatus.FAILED,
            1,
            FailureReason.INSUFFICIENT_FUNDS,
            ["PaymentFailed"],
            0,
        ),
        ("tok_made_up", PaymentStatus.FAILED, 1, FailureReason.CARD_DECLINED, ["PaymentFailed"], 0),
        ("tok_transient", PaymentStatus.SUCCEEDED, 3, None, ["PaymentSucceeded"], 2),
        (
            "tok_always_fail",
            PaymentStatus.FAILED,
            4,
            FailureReason.PROVIDER_UNAVAILABLE,
            ["PaymentFailed"],
            3,
        ),
    ],
)
async def test_each_provider_answer_settles_the_payment_and_records_its_event(
    token: str,
    status: PaymentStatus,
    attempts: int,
    reason: FailureReason | None,
    events: list[str],
    backoffs: int,
) -> None:
    world, order_id = World(), uuid4()
    event = order_created_event(order_id, token)

    await world.handlers.order_created(event, charge(order_id, token))

    payment = world.store.payment(order_id)
    assert (payment.status, payment.attempts, payment.failure_reason) == (status, attempts, reason)
    assert payment.charge_in_flight is False
    assert (payment.provider_reference is not None) == (status is PaymentStatus.SUCCEEDED)
    assert len(world.provider.charges()) == (1 if status is PaymentStatus.SUCCEEDED else 0)
    assert world.store.events_of(order_id) == events
    assert len(world.sleeper.delays) == backoffs
    assert event.event_id in world.store.inbox


def test_backoff_doubles_from_the_first_delay_up_to_the_cap_with_some_jitter() -> None:
    policy = RetryPolicy(max_attempts=10, first_delay=0.2, max_delay=1.0)
    for attempt, full in [(1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (9, 1.0)]:
        for _ in range(20):
            assert 0.75 * full <= policy.delay(attempt) <= full


async def test_the_same_event_delivered_five_times_charges_once() -> None:
    world, order_id, event_id = World(), uuid4(), uuid4()
    for _ in range(5):
        await create(world, order_id, event_id=event_id)
    assert len(world.provider.charges()) == 1
    assert world.store.payment(order_id).attempts == 1
    assert world.store.events_of(order_id) == ["PaymentSucceeded"]


async def test_two_events_for_one_order_charge_once() -> None:
    world, order_id = World(), uuid4()
    await create(world, order_id)
    await create(world, order_id)  # another event id (a producer that sent it twice)
    assert len(world.provider.charges()) == 1
    assert world.store.events_of(order_id) == ["PaymentSucceeded"]


async def test_concurrent_deliveries_charge_once() -> None:
    world, order_id, event_id = World(), uuid4(), uuid4()
    await asyncio.gather(*(create(world, order_id, event_id=event_id) for _ in range(5)))
    assert len(world.provider.charges()) == 1
    assert world.store.payment(order_id).attempts == 1  # the duplicates waited instead of asking again
    assert world.store.events_of(order_id) == ["PaymentSucceeded"]


@pytest.mark.parametrize("crash", [RuntimeError("process died"), asyncio.CancelledError()])
async def test_a_crash_between_the_charge_and_its_record_is_resumed_without_a_second_charge(
    crash: BaseException,
) -> None:
    world, order_id, event_id = World(), uuid4(), uuid4()

    async def die() -> None:
        raise crash

    world.provider.after_booking = die
    with pytest.raises(type(crash)):
        await create(world, order_id, event_id=event_id)

    payment = world.store.payment(order_id)
    assert (payment.status, payment.charge_in_flight) == (PaymentStatus.PENDING, True)
    assert len(world.provider.charges()) == 1
    assert world.store.outbox == []
    assert world.store.inbox == set()  # so the broker redelivers it

    await create(world, order_id, event_id=event_id)  # the redelivery

    payment = world.store.payment(order_id)
    assert (payment.status, payment.attempts) == (PaymentStatus.SUCCEEDED, 2)
    assert len(world.provider.charges()) == 1
    assert world.store.events_of(order_id) == ["PaymentSucceeded"]


async def test_a_cancellation_before_the_order_leaves_a_tombstone_that_is_never_charged() -> None:
    world, order_id = World(), uuid4()
    await cancel(world, order_id)
    assert world.store.payment(order_id).status is PaymentStatus.CANCELLED

    await create(world, order_id)

    payment = world.store.payment(order_id)
    assert (payment.status, payment.attempts) == (PaymentStatus.CANCELLED, 0)
    assert world.provider.books == []
    assert world.store.outbox == []
    assert len(world.store.inbox) == 2


async def test_a_cancellation_during_the_backoff_stops_the_retries_uncharged() -> None:
    world, order_id = World(), uuid4()
    world.sleeper.during = lambda: cancel(world, order_id)

    await create(world, order_id, "tok_transient")

    payment = world.store.payment(order_id)
    assert (payment.status, payment.attempts) == (PaymentStatus.CANCELLED, 1)
    assert world.provider.charges() == []
    assert world.store.outbox == []


async def test_a_cancellation_during_the_charge_refunds_it_at_once() -> None:
    world, order_id = World(), uuid4()
    world.provider.after_booking = lambda: cancel(world, order_id)

    await create(world, order_id)

    payment = world.store.payment(order_id)
    assert payment.status is PaymentStatus.REFUNDED
    assert (len(world.provider.charges()), len(world.provider.refunds())) == (1, 1)
    assert world.store.events_of(order_id) == ["PaymentRefunded"]  # never announced as succeeded
    assert len(world.store.inbox) == 2


async def test_a_cancellation_during_a_declined_charge_ends_cancelled_silently() -> None:
    world, order_id = World(), uuid4()
    world.provider.after_booking = lambda: cancel(world, order_id)

    await create(world, order_id, "tok_declined")

    assert world.store.payment(order_id).status is PaymentStatus.CANCELLED
    assert world.store.outbox == []


async def test_a_cancellation_after_a_crashed_charge_waits_and_the_redelivery_refunds() -> None:
    world, order_id, event_id = World(), uuid4(), uuid4()

    async def die() -> None:
        raise RuntimeError("process died")

    world.provider.after_booking = die
    with pytest.raises(RuntimeError):
        await create(world, order_id, event_id=event_id)
    await cancel(world, order_id)  # the outcome of the charge is unknown: no verdict yet
    payment = world.store.payment(order_id)
    assert (payment.status, payment.order_cancelled) == (PaymentStatus.PENDING, True)

    await create(world, order_id, event_id=event_id)

    assert world.store.payment(order_id).status is PaymentStatus.REFUNDED
    assert (len(world.provider.charges()), len(world.provider.refunds())) == (1, 1)
    assert world.store.events_of(order_id) == ["PaymentRefunded"]


async def test_a_cancellation_after_the_charge_refunds_once_even_when_redelivered() -> None:
    world, order_id, cancelled_id = World(), uuid4(), uuid4()
    await create(world, order_id)

    await cancel(world, order_id, cancelled_id)
    await cancel(world, order_id, cancelled_id)
    await cancel(world, order_id)

    payment = world.store.payment(order_id)
    assert payment.status is PaymentStatus.REFUNDED
    assert payment.refund_reference == world.provider.refunds()[0].reference
    assert (len(world.provider.charges()), len(world.provider.refunds())) == (1, 1)
    assert world.store.events_of(order_id) == ["PaymentSucceeded", "PaymentRefunded"]


async def test_a_refund_the_provider_keeps_refusing_stays_owed_and_is_retried_later() -> None:
    world, order_id, cancelled_id = World(), uuid4(), uuid4()
    await create(world, order_id)
    world.provider.refunds_unavailable = 4 + 4

    with pytest.raises(ProviderUnavailable):
        await cancel(world, order_id, cancelled_id)
    payment = world.store.payment(order_id)
    assert (payment.status, payment.refund_owed) == (PaymentStatus.SUCCEEDED, True)
    assert cancelled_id not in world.store.inbox  # the broker will redeliver

    assert await world.handlers.settle_unsettled(timedelta(hours=1)) == 0  # too recent for recovery
    world.clock.now += timedelta(hours=2)
    assert await world.handlers.settle_unsettled(timedelta(hours=1)) == 1  # still refused: left owed
    assert world.store.payment(order_id).refund_owed

    await cancel(world, order_id, cancelled_id)  # the redelivery, once the provider is back

    assert world.store.payment(order_id).status is PaymentStatus.REFUNDED
    assert len(world.provider.refunds()) == 1
    assert world.store.events_of(order_id) == ["PaymentSucceeded", "PaymentRefunded"]


async def test_recovery_settles_a_payment_whose_message_is_gone() -> None:
    world, order_id = World(), uuid4()

    async def die() -> None:
        raise RuntimeError("process died")

    world.provider.after_booking = die
    with pytest.raises(RuntimeError):
        await create(world, order_id)

    world.clock.now += timedelta(minutes=10)
    assert await world.handlers.settle_unsettled(timedelta(minutes=5)) == 1

    assert world.store.payment(order_id).status is PaymentStatus.SUCCEEDED
    assert len(world.provider.charges()) == 1
    assert world.store.events_of(order_id) == ["PaymentSucceeded"]
    assert await world.handlers.settle_unsettled(timedelta(0)) == 0


async def test_a_customer_sees_only_their_own_payment_and_an_admin_sees_all() -> None:
    world, order_id = World(), uuid4()
    await create(world, order_id)
    before = world.store.snapshot()

    assert (await world.handlers.get_payment(Caller(ADA), order_id)).order_id == order_id
    assert (await world.handlers.get_payment(Caller(uuid4(), is_admin=True), order_id)).order_id == order_id
    messages = []
    for caller, wanted in [(Caller(uuid4()), order_id), (Caller(ADA), unknown := uuid4())]:
        with pytest.raises(PaymentNotFound) as raised:
            await world.handlers.get_payment(caller, wanted)
        messages.append(str(raised.value).replace(str(wanted), "<id>"))
    assert messages[0] == messages[1]
    assert unknown not in world.store.payments
    assert world.store.snapshot() == before

"""The payment aggregate's state machine: every path ends charged and announced, refunded, or uncharged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from payments.domain import (
    FailureReason,
    Money,
    NextStep,
    Payment,
    PaymentFailed,
    PaymentRefunded,
    PaymentStatus,
    PaymentSucceeded,
)

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=5)


def pending() -> Payment:
    return Payment.open(
        payment_id=uuid4(),
        order_id=uuid4(),
        user_id=uuid4(),
        customer_email="ada@example.com",
        amount=Money(2500, "EUR"),
        payment_token="tok_success",
        now=NOW,
    )


def charged() -> Payment:
    payment = pending()
    assert payment.begin_attempt(4, NOW)
    payment.record_charge("ch_1", NOW)
    payment.events.clear()
    return payment


def test_a_new_payment_is_pending_and_needs_a_charge() -> None:
    payment = pending()
    assert (payment.status, payment.attempts, payment.next_step()) == (
        PaymentStatus.PENDING,
        0,
        NextStep.CHARGE,
    )
    assert payment.events == []


def test_a_successful_attempt_is_announced() -> None:
    payment = pending()
    assert payment.begin_attempt(4, LATER)
    assert (payment.attempts, payment.charge_in_flight) == (1, True)
    payment.record_charge("ch_1", LATER)
    assert (payment.status, payment.provider_reference, payment.charge_in_flight) == (
        PaymentStatus.SUCCEEDED,
        "ch_1",
        False,
    )
    assert [type(e) for e in payment.events] == [PaymentSucceeded]
    assert payment.next_step() is NextStep.NOTHING
    assert payment.updated_at == LATER


def test_the_same_charge_recorded_twice_changes_nothing() -> None:
    payment = charged()
    payment.record_charge("ch_1", LATER)
    assert payment.events == []
    assert payment.updated_at == NOW


@pytest.mark.parametrize("reason", [FailureReason.CARD_DECLINED, FailureReason.INSUFFICIENT_FUNDS])
def test_a_decline_fails_the_payment_with_its_reason(reason: FailureReason) -> None:
    payment = pending()
    payment.begin_attempt(4, NOW)
    payment.record_decline(reason, NOW)
    assert (payment.status, payment.failure_reason) == (PaymentStatus.FAILED, reason)
    (event,) = payment.events
    assert isinstance(event, PaymentFailed)
    assert event.reason is reason
    assert "not been charged" in reason.message


def test_attempts_run_out_into_provider_unavailable() -> None:
    payment = pending()
    for _ in range(3):
        assert payment.begin_attempt(3, NOW)
        payment.record_unavailable(NOW)
    assert not payment.begin_attempt(3, NOW)
    assert (payment.status, payment.failure_reason, payment.attempts) == (
        PaymentStatus.FAILED,
        FailureReason.PROVIDER_UNAVAILABLE,
        3,
    )


def test_an_attempt_in_flight_is_always_resolved_even_past_the_limit() -> None:
    payment = pending()
    assert payment.begin_attempt(1, NOW)  # ... and then the process died: the outcome is unknown
    assert payment.begin_attempt(1, NOW)  # the provider must be asked again, with the same key
    assert payment.attempts == 2


def test_a_cancellation_before_any_attempt_cancels_at_once() -> None:
    payment = pending()
    payment.cancel_order(LATER)
    assert payment.status is PaymentStatus.CANCELLED
    assert not payment.begin_attempt(4, LATER)
    assert payment.events == []


def test_a_cancellation_during_an_attempt_waits_for_its_outcome() -> None:
    payment = pending()
    payment.begin_attempt(4, NOW)
    payment.cancel_order(LATER)
    assert (payment.status, payment.order_cancelled) == (PaymentStatus.PENDING, True)

    payment.record_charge("ch_1", LATER)

    assert payment.status is PaymentStatus.SUCCEEDED
    assert payment.next_step() is NextStep.REFUND
    assert payment.events == []  # never announced as succeeded: the order is cancelled


def test_a_cancellation_during_a_declined_attempt_ends_cancelled_without_events() -> None:
    payment = pending()
    payment.begin_attempt(4, NOW)
    payment.cancel_order(LATER)
    payment.record_decline(FailureReason.CARD_DECLINED, LATER)
    assert (payment.status, payment.failure_reason) == (PaymentStatus.CANCELLED, None)
    assert payment.events == []


def test_a_cancellation_after_a_failed_attempt_needs_no_provider() -> None:
    payment = pending()
    payment.begin_attempt(4, NOW)
    payment.record_unavailable(NOW)
    payment.cancel_order(LATER)
    assert payment.status is PaymentStatus.CANCELLED
    assert payment.next_step() is NextStep.NOTHING


@pytest.mark.parametrize("settled", ["cancelled", "failed"])
def test_a_late_success_for_a_settled_payment_is_refunded(settled: str) -> None:
    payment = pending()
    payment.begin_attempt(1, NOW)
    payment.record_unavailable(NOW)
    if settled == "cancelled":
        payment.cancel_order(NOW)
    else:
        assert not payment.begin_attempt(1, NOW)
    payment.events.clear()

    payment.record_charge("ch_late", LATER)  # an attempt of a concurrent delivery charged after all

    assert (payment.status, payment.provider_reference, payment.failure_reason) == (
        PaymentStatus.SUCCEEDED,
        "ch_late",
        None,
    )
    assert payment.next_step() is NextStep.REFUND
    assert payment.events == []


def test_cancelling_a_charged_order_owes_a_refund_then_refunds_once() -> None:
    payment = charged()
    payment.cancel_order(LATER)
    assert payment.refund_owed
    payment.record_refund("rf_1", LATER)
    payment.record_refund("rf_1", LATER)
    assert (payment.status, payment.refund_reference) == (PaymentStatus.REFUNDED, "rf_1")
    assert [type(e) for e in payment.events] == [PaymentRefunded]
    payment.cancel_order(LATER)
    assert payment.next_step() is NextStep.NOTHING


def test_a_refund_without_a_cancellation_is_ignored() -> None:
    payment = charged()
    payment.record_refund("rf_1", LATER)
    assert payment.status is PaymentStatus.SUCCEEDED


def test_a_tombstone_is_never_charged() -> None:
    tombstone = Payment.tombstone(
        payment_id=uuid4(),
        order_id=uuid4(),
        user_id=uuid4(),
        customer_email="ada@example.com",
        amount=Money(2500, "EUR"),
        now=NOW,
    )
    assert (tombstone.status, tombstone.payment_token, tombstone.next_step()) == (
        PaymentStatus.CANCELLED,
        None,
        NextStep.NOTHING,
    )
    assert not tombstone.begin_attempt(4, NOW)
    tombstone.cancel_order(LATER)
    assert tombstone.status is PaymentStatus.CANCELLED

"""The pure domain: money as customers read it, the retry policy and the delivery state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from notifications import domain
from notifications.domain import (
    TEMPLATE_FIELDS,
    CancellationReason,
    DeliveryStatus,
    Money,
    Notice,
    NoticeLine,
    Notification,
    RenderedMessage,
    RetryPolicy,
    TemplateKind,
    format_money,
    order_reference,
)

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
ORDER = UUID("0b4f3c1e-9d2a-4c3b-8e6f-1a2b3c4d5e6f")


@pytest.mark.parametrize(
    ("amount_minor", "currency", "expected"),
    [
        (2500, "EUR", "€25.00"),
        (5, "EUR", "€0.05"),
        (0, "GBP", "£0.00"),
        (123_456_789, "USD", "$1,234,567.89"),
        (1200, "JPY", "¥1,200"),
        (1_234_500, "KWD", "1,234.500 KWD"),
        (999, "CHF", "9.99 CHF"),
        (-1050, "EUR", "-€10.50"),
        (100_000_000_000, "EUR", "€1,000,000,000.00"),
    ],
)
def test_money_is_formatted_from_minor_units_and_currency(
    amount_minor: int, currency: str, expected: str
) -> None:
    assert format_money(Money(amount_minor, currency)) == expected
    assert str(Money(amount_minor, currency)) == expected


def test_an_order_is_referred_to_by_the_first_eight_hex_digits_of_its_id() -> None:
    assert order_reference(ORDER) == "0b4f3c1e"


def _notices() -> list[Notice]:
    user, email, total = uuid4(), "ada@example.com", Money(2500, "EUR")
    return [
        domain.order_received(
            order_id=ORDER,
            user_id=user,
            recipient=email,
            lines=(NoticeLine("Mug", 2, total),),
            total=total,
        ),
        domain.order_paid(order_id=ORDER, user_id=user, recipient=email, total=total),
        domain.order_cancelled(
            order_id=ORDER,
            user_id=user,
            recipient=email,
            total=total,
            reason=CancellationReason.CUSTOMER_REQUEST,
            was_paid=False,
        ),
        domain.payment_failed(order_id=ORDER, user_id=user, recipient=email, amount=total, message="No."),
        domain.payment_refunded(order_id=ORDER, user_id=user, recipient=email, amount=total),
    ]


def test_every_kind_of_notice_carries_exactly_the_values_its_templates_may_use() -> None:
    notices = _notices()
    assert {notice.kind for notice in notices} == set(TemplateKind)
    for notice in notices:
        assert set(notice.values) == TEMPLATE_FIELDS[notice.kind], notice.kind


@pytest.mark.parametrize(
    ("reason", "was_paid", "why", "money"),
    [
        (CancellationReason.CUSTOMER_REQUEST, False, "as you asked", "Nothing was charged."),
        (CancellationReason.CUSTOMER_REQUEST, True, "as you asked", "€25.00 you paid will be refunded"),
        (CancellationReason.PAYMENT_DECLINED, False, "the payment was declined", "Nothing was charged."),
    ],
)
def test_a_cancellation_says_why_and_what_happens_to_the_money(
    reason: CancellationReason, was_paid: bool, why: str, money: str
) -> None:
    notice = domain.order_cancelled(
        order_id=ORDER,
        user_id=uuid4(),
        recipient="ada@example.com",
        total=Money(2500, "EUR"),
        reason=reason,
        was_paid=was_paid,
    )
    assert why in notice.values["reason"]
    assert money in notice.values["refund"]


def test_retry_delays_double_from_the_first_and_stop_at_the_cap() -> None:
    policy = RetryPolicy(max_attempts=20, first_delay=timedelta(seconds=5), max_delay=timedelta(minutes=1))
    delays = [policy.delay_after(n).total_seconds() for n in range(1, 8)]
    assert delays == [5, 10, 20, 40, 60, 60, 60]
    assert policy.delay_after(10_000) == timedelta(minutes=1)  # no overflow however long the outage


def test_the_default_policy_rides_out_hours_of_mail_server_outage() -> None:
    policy = RetryPolicy()
    waited = sum((policy.delay_after(n) for n in range(1, policy.max_attempts)), timedelta())
    assert waited > timedelta(hours=5)


def _notification() -> Notification:
    notice = _notices()[1]
    return Notification.compose(
        notification_id=uuid4(),
        event_id=uuid4(),
        notice=notice,
        message=RenderedMessage("subject", "text", "<p>html</p>"),
        now=NOW,
    )


def test_a_new_notification_is_pending_and_due_at_once() -> None:
    notification = _notification()
    assert (notification.status, notification.attempts, notification.next_attempt_at) == (
        DeliveryStatus.PENDING,
        0,
        NOW,
    )
    assert notification.is_due(NOW)


def test_a_claim_counts_the_attempt_and_hides_the_notification_for_the_lease() -> None:
    notification = _notification()
    notification.claim(NOW, timedelta(minutes=5))
    assert notification.attempts == 1
    assert not notification.is_due(NOW + timedelta(minutes=4))
    assert notification.is_due(NOW + timedelta(minutes=5))
    with pytest.raises(ValueError, match="not due"):
        notification.claim(NOW, timedelta(minutes=5))


def test_a_released_claim_gives_the_attempt_back() -> None:
    notification = _notification()
    notification.claim(NOW, timedelta(minutes=5))
    notification.release(NOW)
    assert (notification.attempts, notification.next_attempt_at) == (0, NOW)


def test_delivered_is_final() -> None:
    notification = _notification()
    notification.claim(NOW, timedelta(minutes=5))
    notification.delivered(NOW)
    assert (notification.status, notification.sent_at, notification.next_attempt_at) == (
        DeliveryStatus.SENT,
        NOW,
        None,
    )
    assert not notification.is_due(NOW + timedelta(days=1))


def test_a_transient_failure_backs_off_until_the_last_attempt_fails_for_good() -> None:
    policy = RetryPolicy(max_attempts=3, first_delay=timedelta(seconds=5), max_delay=timedelta(minutes=1))
    notification = _notification()
    now = NOW
    for attempt, delay in ((1, 5), (2, 10)):
        notification.claim(now, timedelta(minutes=5))
        notification.delivery_failed("connection refused", now, policy, permanent=False)
        assert (notification.status, notification.attempts) == (DeliveryStatus.PENDING, attempt)
        assert notification.next_attempt_at == now + timedelta(seconds=delay)
        now += timedelta(seconds=delay)
    notification.claim(now, timedelta(minutes=5))
    notification.delivery_failed("connection refused", now, policy, permanent=False)
    assert (notification.status, notification.attempts, notification.next_attempt_at) == (
        DeliveryStatus.FAILED,
        3,
        None,
    )
    assert notification.last_error == "connection refused"


def test_a_permanent_refusal_fails_at_once_and_long_errors_are_cut() -> None:
    notification = _notification()
    notification.claim(NOW, timedelta(minutes=5))
    notification.delivery_failed("550 " + "x" * 5000, NOW, RetryPolicy(), permanent=True)
    assert notification.status is DeliveryStatus.FAILED
    assert notification.last_error is not None
    assert len(notification.last_error) == domain.MAX_ERROR_LENGTH

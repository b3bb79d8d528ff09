"""The notification domain: what a customer is told, and the delivery state of each message.

Pure: no I/O, no generated types. A ``Notice`` is what the customer should hear about an order (built from
an event by the messaging adapter); a ``Notification`` is one rendered message on one channel, with its
delivery state machine::

    PENDING --claim--> PENDING (attempt counted, leased) --delivered--> SENT
                                                          --failed----> PENDING (backed off) | FAILED

A claim counts the attempt *before* the message goes out, so a process that dies mid-send still used an
attempt, and a message that crashes the mailer cannot loop forever.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from uuid import UUID

from ecommerce_runtime.backoff import Backoff

MAX_ERROR_LENGTH = 2000

# ISO 4217 minor units where they are not 2, and the symbols customers know; other codes print as "12.50 CHF".
_ZERO_DECIMALS = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND"}
)
_THREE_DECIMALS = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
_SYMBOLS = MappingProxyType({"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"})


class Channel(enum.StrEnum):
    EMAIL = "email"


class TemplateKind(enum.StrEnum):
    """What a notification tells the customer; names the template files too."""

    ORDER_RECEIVED = "order_received"
    ORDER_PAID = "order_paid"
    ORDER_CANCELLED = "order_cancelled"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_REFUNDED = "payment_refunded"


class DeliveryStatus(enum.StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"


class CancellationReason(enum.StrEnum):
    CUSTOMER_REQUEST = "customer_request"
    PAYMENT_DECLINED = "payment_declined"


@dataclass(frozen=True, slots=True)
class Money:
    amount_minor: int
    currency: str

    def __str__(self) -> str:
        return format_money(self)


def format_money(money: Money) -> str:
    """``€25.00``, ``¥1,200``, ``1,234.500 KWD``: the amount as a customer reads it (English grouping)."""
    digits = 0 if money.currency in _ZERO_DECIMALS else 3 if money.currency in _THREE_DECIMALS else 2
    sign = "-" if money.amount_minor < 0 else ""
    units, minor = divmod(abs(money.amount_minor), 10**digits)
    number = f"{units:,}" + (f".{minor:0{digits}d}" if digits else "")
    symbol = _SYMBOLS.get(money.currency)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {money.currency}"


def order_reference(order_id: UUID) -> str:
    """The short form of an order id that subjects and bodies show (its first 8 hex digits)."""
    return order_id.hex[:8]


COMMON_FIELDS = frozenset({"order_ref", "order_id"})
TEMPLATE_FIELDS: Mapping[TemplateKind, frozenset[str]] = MappingProxyType(
    {
        TemplateKind.ORDER_RECEIVED: COMMON_FIELDS | {"total"},
        TemplateKind.ORDER_PAID: COMMON_FIELDS | {"total"},
        TemplateKind.ORDER_CANCELLED: COMMON_FIELDS | {"total", "reason", "refund"},
        TemplateKind.PAYMENT_FAILED: COMMON_FIELDS | {"amount", "message"},
        TemplateKind.PAYMENT_REFUNDED: COMMON_FIELDS | {"amount"},
    }
)
"""The values each kind of notice carries: the placeholders its templates may use."""


@dataclass(frozen=True, slots=True)
class NoticeLine:
    """One line of an order as the customer sees it in a message."""

    name: str
    quantity: int
    line_total: Money


@dataclass(frozen=True, slots=True)
class Notice:
    """What a customer should hear about their order: the template and its plain-text values.

    Build one with the functions below; ``values`` are the template's placeholders, never escaped here
    (the renderer escapes them for HTML).
    """

    kind: TemplateKind
    order_id: UUID
    user_id: UUID
    recipient: str
    values: Mapping[str, str]
    lines: tuple[NoticeLine, ...] = ()


def _notice(
    kind: TemplateKind,
    order_id: UUID,
    user_id: UUID,
    recipient: str,
    lines: tuple[NoticeLine, ...] = (),
    **values: str,
) -> Notice:
    common = {"order_ref": order_reference(order_id), "order_id": str(order_id)}
    return Notice(kind, order_id, user_id, recipient, MappingProxyType(common | values), lines)


def order_received(
    *, order_id: UUID, user_id: UUID, recipient: str, lines: tuple[NoticeLine, ...], total: Money
) -> Notice:
    return _notice(TemplateKind.ORDER_RECEIVED, order_id, user_id, recipient, lines, total=str(total))


def order_paid(*, order_id: UUID, user_id: UUID, recipient: str, total: Money) -> Notice:
    return _notice(TemplateKind.ORDER_PAID, order_id, user_id, recipient, total=str(total))


def order_cancelled(
    *, order_id: UUID, user_id: UUID, recipient: str, total: Money, reason: CancellationReason, was_paid: bool
) -> Notice:
    why = {
        CancellationReason.CUSTOMER_REQUEST: "We cancelled it as you asked.",
        CancellationReason.PAYMENT_DECLINED: "We cancelled it because the payment was declined.",
    }[reason]
    money = (
        f"The {total} you paid will be refunded; we will email you when the refund is done."
        if was_paid
        else "Nothing was charged."
    )
    return _notice(
        TemplateKind.ORDER_CANCELLED, order_id, user_id, recipient, total=str(total), reason=why, refund=money
    )


def payment_failed(*, order_id: UUID, user_id: UUID, recipient: str, amount: Money, message: str) -> Notice:
    return _notice(
        TemplateKind.PAYMENT_FAILED, order_id, user_id, recipient, amount=str(amount), message=message
    )


def payment_refunded(*, order_id: UUID, user_id: UUID, recipient: str, amount: Money) -> Notice:
    return _notice(TemplateKind.PAYMENT_REFUNDED, order_id, user_id, recipient, amount=str(amount))


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    subject: str
    body_text: str
    body_html: str


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait after the n-th failed attempt, and when to give up."""

    max_attempts: int = 20
    first_delay: timedelta = timedelta(seconds=5)
    max_delay: timedelta = timedelta(minutes=30)

    def delay_after(self, attempts: int) -> timedelta:
        """``first_delay`` doubling per attempt, capped at ``max_delay`` (no jitter: the schedule is exact,
        and the mailer's claim lease spreads replicas anyway)."""
        backoff = Backoff(self.first_delay.total_seconds(), self.max_delay.total_seconds(), jitter=0)
        return timedelta(seconds=backoff.delay(attempts))


@dataclass(eq=False, slots=True)
class Notification:
    """One message to one customer on one channel, stored before it is sent."""

    id: UUID
    event_id: UUID
    user_id: UUID
    order_id: UUID
    channel: Channel
    template: TemplateKind
    recipient: str
    subject: str
    body_text: str
    body_html: str
    created_at: datetime
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    next_attempt_at: datetime | None = field(default=None)

    @classmethod
    def compose(
        cls, *, notification_id: UUID, event_id: UUID, notice: Notice, message: RenderedMessage, now: datetime
    ) -> Notification:
        """A PENDING email for ``notice``, due at once."""
        return cls(
            id=notification_id,
            event_id=event_id,
            user_id=notice.user_id,
            order_id=notice.order_id,
            channel=Channel.EMAIL,
            template=notice.kind,
            recipient=notice.recipient,
            subject=message.subject,
            body_text=message.body_text,
            body_html=message.body_html,
            created_at=now,
            next_attempt_at=now,
        )

    def is_due(self, now: datetime) -> bool:
        return (
            self.status is DeliveryStatus.PENDING
            and self.next_attempt_at is not None
            and self.next_attempt_at <= now
        )

    def claim(self, now: datetime, lease: timedelta) -> None:
        """Counts an attempt and hides the notification from other mailers for ``lease``."""
        if not self.is_due(now):
            raise ValueError(f"notification {self.id} is not due")
        self.attempts += 1
        self.next_attempt_at = now + lease

    def release(self, now: datetime) -> None:
        """Gives back a claim that was never tried (shutdown): the attempt did not happen."""
        self.attempts -= 1
        self.next_attempt_at = now

    def delivered(self, now: datetime) -> None:
        self.status = DeliveryStatus.SENT
        self.sent_at = now
        self.next_attempt_at = None

    def delivery_failed(self, error: str, now: datetime, policy: RetryPolicy, *, permanent: bool) -> None:
        """Backs off for another attempt, or gives up (a permanent refusal, or the last attempt)."""
        self.last_error = error[:MAX_ERROR_LENGTH]
        if permanent or self.attempts >= policy.max_attempts:
            self.status = DeliveryStatus.FAILED
            self.next_attempt_at = None
        else:
            self.next_attempt_at = now + policy.delay_after(self.attempts)

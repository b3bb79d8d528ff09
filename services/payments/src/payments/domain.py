"""The payment domain: one payment per order and its state machine. Pure: no I/O, no generated types.

PENDING ends SUCCEEDED (then maybe REFUNDED), FAILED or CANCELLED; a cancellation that comes first leaves a
CANCELLED tombstone. A charge the provider reports is always either announced for a live order or refunded.
The states and why ``charge_in_flight`` exists: ``docs/decisions/0009-payments-never-charge-twice.md``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID


class DomainError(Exception):
    """A request the domain refuses; the message is meant for the caller."""


class PaymentNotFound(DomainError):
    def __init__(self, order_id: UUID) -> None:
        super().__init__(f"no payment found for order {order_id}")


@dataclass(frozen=True, slots=True)
class Money:
    amount_minor: int
    currency: str


class PaymentStatus(enum.StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    REFUNDED = "REFUNDED"
    CANCELLED = "CANCELLED"


class FailureReason(enum.StrEnum):
    CARD_DECLINED = "card_declined"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    PROVIDER_UNAVAILABLE = "provider_unavailable"

    @property
    def message(self) -> str:
        """A sentence the customer can read."""
        return _MESSAGES[self]


_MESSAGES = {
    FailureReason.CARD_DECLINED: "Your card was declined by its issuer; you have not been charged.",
    FailureReason.INSUFFICIENT_FUNDS: (
        "Your card has insufficient funds for this payment; you have not been charged."
    ),
    FailureReason.PROVIDER_UNAVAILABLE: (
        "We could not reach the payment provider; you have not been charged. Please try again later."
    ),
}


class NextStep(enum.Enum):
    """What a payment needs from the provider before it rests."""

    CHARGE = "charge"
    REFUND = "refund"
    NOTHING = "nothing"


# Domain events: what happened to a payment, in the payment's own terms.
@dataclass(frozen=True, slots=True)
class PaymentSucceeded:
    payment: Payment


@dataclass(frozen=True, slots=True)
class PaymentFailed:
    payment: Payment
    reason: FailureReason


@dataclass(frozen=True, slots=True)
class PaymentRefunded:
    payment: Payment


PaymentEvent = PaymentSucceeded | PaymentFailed | PaymentRefunded


@dataclass(eq=False, slots=True)
class Payment:
    """The payment aggregate of one order. Changes go through its methods, which record domain events."""

    id: UUID
    order_id: UUID
    user_id: UUID
    customer_email: str
    amount: Money
    payment_token: str | None
    status: PaymentStatus
    created_at: datetime
    updated_at: datetime
    attempts: int = 0
    provider_reference: str | None = None
    failure_reason: FailureReason | None = None
    refund_reference: str | None = None
    order_cancelled: bool = False
    charge_in_flight: bool = False
    events: list[PaymentEvent] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        *,
        payment_id: UUID,
        order_id: UUID,
        user_id: UUID,
        customer_email: str,
        amount: Money,
        payment_token: str,
        now: datetime,
    ) -> Payment:
        """A PENDING payment for a new order, before any charge attempt."""
        return cls(
            payment_id,
            order_id,
            user_id,
            customer_email,
            amount,
            payment_token,
            PaymentStatus.PENDING,
            now,
            now,
        )

    @classmethod
    def tombstone(
        cls,
        *,
        payment_id: UUID,
        order_id: UUID,
        user_id: UUID,
        customer_email: str,
        amount: Money,
        now: datetime,
    ) -> Payment:
        """A CANCELLED payment for an order cancelled before its payment was seen: it is never charged."""
        return cls(
            payment_id,
            order_id,
            user_id,
            customer_email,
            amount,
            None,
            PaymentStatus.CANCELLED,
            now,
            now,
            order_cancelled=True,
        )

    def next_step(self) -> NextStep:
        if self.status is PaymentStatus.PENDING:
            return NextStep.CHARGE
        if self.status is PaymentStatus.SUCCEEDED and self.order_cancelled:
            return NextStep.REFUND
        return NextStep.NOTHING

    @property
    def refund_owed(self) -> bool:
        return self.next_step() is NextStep.REFUND

    def begin_attempt(self, max_attempts: int, now: datetime) -> bool:
        """Decides whether to call the provider (again); True means: charge now, attempt recorded.

        False when the payment came to rest instead: CANCELLED (order cancelled and no charge can exist)
        or FAILED (attempts exhausted). With an attempt in flight the provider is always asked, even past
        ``max_attempts``, because only the provider knows whether that attempt charged.
        """
        if self.status is not PaymentStatus.PENDING:
            return False
        if not self.charge_in_flight:
            if self.order_cancelled:
                self._touch(now, PaymentStatus.CANCELLED)
                return False
            if self.attempts >= max_attempts:
                self._fail(FailureReason.PROVIDER_UNAVAILABLE, now)
                return False
        self.attempts += 1
        self.charge_in_flight = True
        self._touch(now)
        return True

    def record_charge(self, reference: str, now: datetime) -> None:
        """The provider charged. Announced if the order is live; otherwise the charge is owed back."""
        if self.provider_reference is not None:
            return  # recorded already (the provider gives the same answer for the same key)
        self.provider_reference = reference
        self.charge_in_flight = False
        live = self.status is PaymentStatus.PENDING and not self.order_cancelled
        if live:
            self._touch(now, PaymentStatus.SUCCEEDED)
            self.events.append(PaymentSucceeded(self))
            return
        # A late success for an order cancelled meanwhile, or after we gave up: refund it.
        self.order_cancelled = True
        self.failure_reason = None
        self._touch(now, PaymentStatus.SUCCEEDED)

    def record_decline(self, reason: FailureReason, now: datetime) -> None:
        """The provider declined for good (nothing charged)."""
        if self.status is not PaymentStatus.PENDING:
            return
        self.charge_in_flight = False
        if self.order_cancelled:
            self._touch(now, PaymentStatus.CANCELLED)
        else:
            self._fail(reason, now)

    def record_unavailable(self, now: datetime) -> None:
        """The attempt failed transiently (nothing charged); another may follow."""
        if self.status is PaymentStatus.PENDING:
            self.charge_in_flight = False
            self._touch(now)

    def cancel_order(self, now: datetime) -> None:
        """The order was cancelled: cancel the payment if nothing can have been charged, else owe a refund."""
        if self.status is PaymentStatus.PENDING:
            self.order_cancelled = True
            if self.charge_in_flight:
                self._touch(now)  # the outcome of the attempt in flight decides: refund or CANCELLED
            else:
                self._touch(now, PaymentStatus.CANCELLED)
        elif self.status is PaymentStatus.SUCCEEDED and not self.order_cancelled:
            self.order_cancelled = True
            self._touch(now)

    def record_refund(self, reference: str, now: datetime) -> None:
        """The provider refunded the charge."""
        if not self.refund_owed:
            return
        self.refund_reference = reference
        self._touch(now, PaymentStatus.REFUNDED)
        self.events.append(PaymentRefunded(self))

    def _fail(self, reason: FailureReason, now: datetime) -> None:
        self.failure_reason = reason
        self._touch(now, PaymentStatus.FAILED)
        self.events.append(PaymentFailed(self, reason))

    def _touch(self, now: datetime, status: PaymentStatus | None = None) -> None:
        if status is not None:
            self.status = status
        self.updated_at = now

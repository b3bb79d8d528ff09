"""The ports the use cases need: the payment provider, and the payments behind one unit of work.
Adapters implement them (the provider simulator, SQLAlchemy); unit tests use in-memory fakes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from ecommerce_runtime import unit_of_work
from ecommerce_runtime.inbox import EventRef
from payments.domain import FailureReason, Money, Payment


class DuplicatePayment(Exception):
    """A payment for the order was recorded concurrently (the order id is unique)."""


class ProviderUnavailable(Exception):
    """The provider could not act on this call, and did not: nothing was charged or refunded. Retry later.

    A failure whose outcome is unknown (a timeout after the request left, a crash) must not be reported as
    this; it propagates as any other exception, and the same idempotency key tells the truth later.
    """


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """The provider's final answer for one idempotency key: charged (``reference``) or declined."""

    reference: str | None = None
    decline_reason: FailureReason | None = None

    def __post_init__(self) -> None:
        if (self.reference is None) == (self.decline_reason is None):
            raise ValueError("a charge result is either a reference or a decline reason")

    @property
    def succeeded(self) -> bool:
        return self.reference is not None


@dataclass(frozen=True, slots=True)
class RefundResult:
    reference: str


class PaymentProvider(Protocol):
    """A payment provider. Idempotent by key: the same key never charges (or refunds) twice; it returns the
    first final answer again. Raises ``ProviderUnavailable`` for a transient failure that changed nothing."""

    async def charge(self, idempotency_key: str, amount: Money, token: str) -> ChargeResult: ...

    async def refund(self, idempotency_key: str, charge_reference: str, amount: Money) -> RefundResult: ...


class PaymentRepository(Protocol):
    async def add(self, payment: Payment) -> None:
        """Raises ``DuplicatePayment`` if the order has a payment already (a concurrent one committed it)."""
        ...

    async def for_order(self, order_id: UUID, *, lock: bool = False) -> Payment | None:
        """The order's payment; with ``lock``, locked for update until the unit of work ends."""
        ...

    async def save(self, payment: Payment) -> None: ...

    async def unsettled(self, *, untouched_since: datetime, limit: int) -> list[UUID]:
        """Order ids of payments that still need the provider (PENDING, or a refund owed), oldest first."""
        ...


class UnitOfWork(unit_of_work.UnitOfWork, Protocol):
    """One transaction over the payments (``unit_of_work.UnitOfWork``)."""

    @property
    def payments(self) -> PaymentRepository: ...

    async def handled_before(self, event: EventRef) -> bool:
        """Whether ``event`` is in the inbox already (reads only)."""
        ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...

"""In-memory fakes of the Payment Service's ports, with real transaction semantics: a unit of work sees a copy
of the store and writes it back only on commit, so a failed use case leaves nothing behind. The fake provider
answers by the simulator's own rules (``verdict``) and keeps its books in memory."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Self
from uuid import UUID, uuid4

from ecommerce.events import models
from ecommerce.events.channels import EventType
from ecommerce_runtime.inbox import EventRef
from ecommerce_runtime.messages import IncomingEvent
from payments.adapters.provider_simulator import verdict
from payments.domain import FailureReason, Money, Payment, PaymentEvent, PaymentStatus
from payments.handlers import CancelOrderPayment, ChargeOrder, PaymentHandlers, RetryPolicy
from payments.ports import ChargeResult, DuplicatePayment, ProviderUnavailable, RefundResult

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
ADA = UUID("5d2c1b0a-9e8f-4a7b-8c6d-5e4f3a2b1c0d")


@dataclass
class FakeStore:
    payments: dict[UUID, Payment] = field(default_factory=dict)
    inbox: set[UUID] = field(default_factory=set)
    outbox: list[PaymentEvent] = field(default_factory=list)
    commits: int = 0

    def payment(self, order_id: UUID) -> Payment:
        return self.payments[order_id]

    def events_of(self, order_id: UUID) -> list[str]:
        return [type(e).__name__ for e in self.outbox if e.payment.order_id == order_id]

    def snapshot(self) -> object:
        rows = {
            order_id: (p.status, p.attempts, p.provider_reference, p.refund_reference, p.order_cancelled)
            for order_id, p in self.payments.items()
        }
        return (rows, set(self.inbox), [type(e).__name__ for e in self.outbox])


class FakePayments:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.touched: list[Payment] = []

    async def add(self, payment: Payment) -> None:
        if payment.order_id in self.store.payments:
            raise DuplicatePayment(str(payment.order_id))
        self.store.payments[payment.order_id] = payment
        self.touched.append(payment)

    async def for_order(self, order_id: UUID, *, lock: bool = False) -> Payment | None:
        return self.store.payments.get(order_id)

    async def save(self, payment: Payment) -> None:
        self.store.payments[payment.order_id] = payment
        self.touched.append(payment)

    async def unsettled(self, *, untouched_since: datetime, limit: int) -> list[UUID]:
        waiting = [
            p
            for p in self.store.payments.values()
            if p.status is PaymentStatus.PENDING or p.refund_owed
            if p.updated_at < untouched_since
        ]
        return [p.order_id for p in sorted(waiting, key=lambda p: p.updated_at)][:limit]


class FakeUnitOfWork:
    def __init__(self, store: FakeStore) -> None:
        self._committed_store = store

    async def __aenter__(self) -> Self:
        self._working = copy.deepcopy(self._committed_store)
        self.payments = FakePayments(self._working)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def commit(self) -> None:
        for payment in self.payments.touched:
            self._working.outbox.extend(payment.events)
            payment.events.clear()
        self._working.commits += 1
        vars(self._committed_store).update(vars(self._working))
        self._working = copy.deepcopy(self._committed_store)

    async def first_delivery(self, event: EventRef) -> bool:
        if event.event_id in self._working.inbox:
            return False
        self._working.inbox.add(event.event_id)
        return True

    async def handled_before(self, event: EventRef) -> bool:
        return event.event_id in self._working.inbox


Hook = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Booked:
    key: str
    operation: str
    outcome: str
    reference: str | None = None
    decline_reason: FailureReason | None = None


class FakeProvider:
    """The simulator's rules over in-memory books. ``after_booking`` runs once the answer is booked and before
    it is returned: a cancellation racing the charge, or a crash (raise) between charge and record."""

    def __init__(self) -> None:
        self.books: list[Booked] = []
        self.after_booking: Hook | None = None
        self.refunds_unavailable = 0
        """How many refund calls fail transiently before refunds work."""

    def charges(self) -> list[Booked]:
        return [b for b in self.books if (b.operation, b.outcome) == ("charge", "succeeded")]

    def refunds(self) -> list[Booked]:
        return [b for b in self.books if (b.operation, b.outcome) == ("refund", "succeeded")]

    def _final(self, key: str) -> Booked | None:
        return next((b for b in self.books if b.key == key and b.outcome != "unavailable"), None)

    async def charge(self, idempotency_key: str, amount: Money, token: str) -> ChargeResult:
        booked = self._final(idempotency_key)
        if booked is None:
            failures = sum(1 for b in self.books if b.key == idempotency_key)
            what = verdict(token, failures)
            if what == "unavailable":
                self.books.append(Booked(idempotency_key, "charge", "unavailable"))
                await self._after()
                raise ProviderUnavailable("fake provider unavailable")
            if what == "charge":
                reference = "ch_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:12]
                booked = Booked(idempotency_key, "charge", "succeeded", reference)
            else:
                booked = Booked(idempotency_key, "charge", "declined", decline_reason=what)
            self.books.append(booked)
        await self._after()
        return ChargeResult(reference=booked.reference, decline_reason=booked.decline_reason)

    async def refund(self, idempotency_key: str, charge_reference: str, amount: Money) -> RefundResult:
        if self.refunds_unavailable > 0:
            self.refunds_unavailable -= 1
            raise ProviderUnavailable("fake provider unavailable for refunds")
        assert any(b.reference == charge_reference for b in self.charges()), "refund of an unknown charge"
        booked = self._final(idempotency_key)
        if booked is None:
            booked = Booked(idempotency_key, "refund", "succeeded", "rf_" + charge_reference)
            self.books.append(booked)
        assert booked.reference is not None
        return RefundResult(booked.reference)

    async def _after(self) -> None:
        hook, self.after_booking = self.after_booking, None
        if hook is not None:
            await hook()


class Sleeper:
    """Records the backoff delays instead of waiting; ``during`` runs inside the next wait."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.during: Hook | None = None

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        hook, self.during = self.during, None
        if hook is not None:
            await hook()


class Clock:
    """A clock that advances one second per reading."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@dataclass
class World:
    """A service built from fakes: its store, provider, clock and backoff sleeper."""

    store: FakeStore = field(default_factory=FakeStore)
    provider: FakeProvider = field(default_factory=FakeProvider)
    clock: Clock = field(default_factory=Clock)
    sleeper: Sleeper = field(default_factory=Sleeper)
    retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(max_attempts=4, first_delay=0.2, max_delay=1.0)
    )

    @property
    def handlers(self) -> PaymentHandlers:
        return PaymentHandlers(
            lambda: FakeUnitOfWork(self.store),
            self.provider,
            retry=self.retry,
            clock=self.clock,
            sleep=self.sleeper,
        )


def incoming(
    payload: models.OrderCreated | models.OrderCancelled, event_id: UUID | None = None
) -> IncomingEvent:
    event_type: EventType = "order.created" if isinstance(payload, models.OrderCreated) else "order.cancelled"
    return IncomingEvent(
        event_id=event_id or uuid4(),
        event_type=event_type,
        payload=payload,
        correlation_id=str(payload.order_id),
        occurred_at=datetime.now(UTC),
        producer="orders",
        traceparent=TRACEPARENT,
        delivery_count=1,
    )


def charge(order_id: UUID, token: str = "tok_success", user_id: UUID = ADA) -> ChargeOrder:
    return ChargeOrder(order_id, user_id, "ada@example.com", Money(2500, "EUR"), token)


def cancellation(order_id: UUID, user_id: UUID = ADA) -> CancelOrderPayment:
    return CancelOrderPayment(order_id, user_id, "ada@example.com", Money(2500, "EUR"))


def order_created_event(
    order_id: UUID, token: str = "tok_success", event_id: UUID | None = None
) -> IncomingEvent:
    payload = models.OrderCreated(
        order_id=order_id,
        user_id=ADA,
        customer_email="ada@example.com",
        items=[
            models.OrderLine(
                sku="MUG-001",
                name="Mug",
                quantity=2,
                unit_price=models.Money(amount_minor=1250, currency="EUR"),
                line_total=models.Money(amount_minor=2500, currency="EUR"),
            )
        ],
        total=models.Money(amount_minor=2500, currency="EUR"),
        payment_token=token,
        created_at=datetime(2026, 11, 29, 10, 0, tzinfo=UTC),
    )
    return incoming(payload, event_id)


def order_cancelled_event(
    order_id: UUID, previous: str = "PENDING", event_id: UUID | None = None
) -> IncomingEvent:
    payload = models.OrderCancelled(
        order_id=order_id,
        user_id=ADA,
        customer_email="ada@example.com",
        reason="customer_request",
        previous_status="PAID" if previous == "PAID" else "PENDING",
        total=models.Money(amount_minor=2500, currency="EUR"),
        cancelled_at=datetime(2026, 11, 29, 10, 5, tzinfo=UTC),
    )
    return incoming(payload, event_id)

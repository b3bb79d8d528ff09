"""Use cases of the Payment Service: charge an order once, refund it when cancelled, answer queries.

A charge cannot share a transaction with the provider call, so it is a short saga of its own: record the
payment PENDING; per attempt, count it under the row lock and commit, call the provider (the payment id is
its idempotency key), record the outcome with its outbox event; refund a charge that meets a cancelled
order. The steps, the crash cases and the inbox rule: ``docs/decisions/0009-payments-never-charge-twice.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from ecommerce_runtime.backoff import Backoff
from ecommerce_runtime.callers import Caller
from ecommerce_runtime.clock import Clock, utc_now
from ecommerce_runtime.inbox import EventRef
from payments.domain import Money, NextStep, Payment, PaymentNotFound
from payments.ports import (
    ChargeResult,
    DuplicatePayment,
    PaymentProvider,
    ProviderUnavailable,
    UnitOfWork,
    UnitOfWorkFactory,
)

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]
Change = Callable[[Payment, datetime], None]
"""A provider's answer, to record on the payment under its row lock."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently the provider is asked before a payment fails as provider_unavailable."""

    max_attempts: int = 4
    first_delay: float = 0.2
    max_delay: float = 5.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1 = the first), by the runtime's ``Backoff``."""
        return Backoff(self.first_delay, self.max_delay).delay(attempt)


@dataclass(frozen=True, slots=True)
class ChargeOrder:
    """An order to charge (from ``order.created``)."""

    order_id: UUID
    user_id: UUID
    customer_email: str
    amount: Money
    payment_token: str


@dataclass(frozen=True, slots=True)
class CancelOrderPayment:
    """An order that was cancelled (from ``order.cancelled``)."""

    order_id: UUID
    user_id: UUID
    customer_email: str
    amount: Money


class _PerOrder:
    """One lock per order id, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[UUID, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, order_id: UUID) -> AsyncIterator[None]:
        lock, users = self._locks.get(order_id, (asyncio.Lock(), 0))
        self._locks[order_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[order_id]
            if users == 1:
                del self._locks[order_id]
            else:
                self._locks[order_id] = (lock, users - 1)


class PaymentHandlers:
    """The use cases, wired by ``bootstrap`` to a unit of work, a provider, a retry policy and a clock."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        provider: PaymentProvider,
        *,
        retry: RetryPolicy | None = None,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._uow = uow
        self._provider = provider
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._sleep = sleep
        self.on_commit: Callable[[], None] = lambda: None
        """Called after each commit (wakes the outbox relay)."""
        # Duplicate deliveries of one order in this process take turns, so the second finds the payment at
        # rest instead of asking the provider again (harmless, thanks to the key, but it counts an attempt).
        # Cancellations do not wait: they must be able to stop a charge between its attempts.
        self._charging = _PerOrder()

    async def order_created(self, event: EventRef, command: ChargeOrder) -> None:
        """Charges the order once and records payment.succeeded / payment.failed; idempotent."""
        async with self._charging.hold(command.order_id):
            try:
                started = await self._record_pending(event, command)
            except DuplicatePayment:
                # Its cancellation or another replica recorded the payment meanwhile: carry on with that one.
                started = await self._record_pending(event, command)
            if started is not None:
                await self._settle(command.order_id, event, may_charge=True, started=started)

    async def _record_pending(self, event: EventRef, command: ChargeOrder) -> tuple[NextStep, Payment] | None:
        """Records the payment (if new) and takes its first step, in one transaction; None if ``event``
        was handled before."""
        async with self._uow() as uow:
            if await uow.handled_before(event):
                return None
            payment = await uow.payments.for_order(command.order_id, lock=True)
            if payment is None:
                payment = Payment.open(
                    payment_id=uuid4(),
                    order_id=command.order_id,
                    user_id=command.user_id,
                    customer_email=command.customer_email,
                    amount=command.amount,
                    payment_token=command.payment_token,
                    now=self._clock(),
                )
                await uow.payments.add(payment)
                log.info("payment recorded", extra={"order_id": str(payment.order_id)})
            step = await self._next_step(uow, payment, event, may_charge=True)
            await uow.commit()
        self.on_commit()
        return step, payment

    async def order_cancelled(self, event: EventRef, command: CancelOrderPayment) -> None:
        """Cancels the payment if nothing was charged, else refunds the charge; idempotent.

        Arriving before ``order.created``, it leaves a CANCELLED tombstone so the order is never charged.
        """
        try:
            fresh = await self._record_cancellation(event, command)
        except DuplicatePayment:
            fresh = await self._record_cancellation(event, command)
        if fresh:
            # A charge in flight is settled by its own delivery; this one only refunds.
            await self._settle(command.order_id, event, may_charge=False)

    async def _record_cancellation(self, event: EventRef, command: CancelOrderPayment) -> bool:
        async with self._uow() as uow:
            if await uow.handled_before(event):
                return False
            payment = await uow.payments.for_order(command.order_id, lock=True)
            now = self._clock()
            if payment is None:
                payment = Payment.tombstone(
                    payment_id=uuid4(),
                    order_id=command.order_id,
                    user_id=command.user_id,
                    customer_email=command.customer_email,
                    amount=command.amount,
                    now=now,
                )
                await uow.payments.add(payment)
            else:
                payment.cancel_order(now)
                await uow.payments.save(payment)
            await uow.commit()
        log.info("order cancellation recorded", extra={"order_id": str(command.order_id)})
        return True

    async def settle_unsettled(self, untouched_for: timedelta, limit: int = 100) -> int:
        """Resumes payments left unsettled (their message dead-lettered, say); returns how many it tried."""
        async with self._uow() as uow:
            order_ids = await uow.payments.unsettled(
                untouched_since=self._clock() - untouched_for, limit=limit
            )
        for order_id in order_ids:
            try:
                async with self._charging.hold(order_id):
                    await self._settle(order_id, None, may_charge=True)
            except ProviderUnavailable as error:
                log.warning("payment still unsettled: %s", error, extra={"order_id": str(order_id)})
        return len(order_ids)

    async def _settle(
        self,
        order_id: UUID,
        event: EventRef | None,
        *,
        may_charge: bool,
        started: tuple[NextStep, Payment] | None = None,
    ) -> None:
        """Drives the payment to rest, one committed step at a time; ``event`` is recorded when it rests.

        Each transaction records what the provider answered and takes the next step (count an attempt,
        or come to rest and record ``event``), so a charge that succeeds at once costs two transactions:
        the one that started it (``started``, from ``_record_pending``) and the one that records it.
        """
        step, payment = started or await self._step(order_id, event, may_charge, None)
        while step is not NextStep.NOTHING:
            answer = await (self._charge(payment) if step is NextStep.CHARGE else self._refund(payment))
            step, payment = await self._step(order_id, event, may_charge, answer)

    async def _step(
        self, order_id: UUID, event: EventRef | None, may_charge: bool, answer: Change | None
    ) -> tuple[NextStep, Payment]:
        async with self._uow() as uow:
            payment = await self._locked(uow, order_id)
            if answer is not None:
                answer(payment, self._clock())
                await uow.payments.save(payment)
            step = await self._next_step(uow, payment, event, may_charge=may_charge)
            await uow.commit()
        self.on_commit()
        return step, payment

    async def _next_step(
        self, uow: UnitOfWork, payment: Payment, event: EventRef | None, *, may_charge: bool
    ) -> NextStep:
        """The next step, recorded in ``uow``: an attempt counted, or at rest with ``event`` in the inbox."""
        step = payment.next_step()
        if step is NextStep.CHARGE:
            # begin_attempt may bring it to rest instead (CANCELLED, or FAILED when attempts ran out)
            if not (may_charge and payment.begin_attempt(self._retry.max_attempts, self._clock())):
                step = NextStep.NOTHING
            await uow.payments.save(payment)
        if step is NextStep.NOTHING and event is not None:
            await uow.first_delivery(event)
        return step

    async def _charge(self, payment: Payment) -> Change | None:
        """Asks the provider; returns the answer to record (None: recorded already, unavailable)."""
        if payment.payment_token is None:
            raise RuntimeError(f"payment {payment.id} is PENDING without a token")  # only tombstones lack one
        extra = {"order_id": str(payment.order_id), "attempt": payment.attempts}
        try:
            result = await self._provider.charge(str(payment.id), payment.amount, payment.payment_token)
        except ProviderUnavailable as error:
            log.warning("charge attempt failed transiently: %s", error, extra=extra)
            # Recorded before the backoff, so a cancellation meanwhile sees no charge in flight.
            await self._update(payment.order_id, lambda p, now: p.record_unavailable(now))
            if payment.attempts < self._retry.max_attempts:  # no wait before giving up
                await self._sleep(self._retry.delay(payment.attempts))
            return None
        log.info("charge attempt answered", extra=extra | {"outcome": _outcome(result)})
        if result.reference is not None:
            reference = result.reference
            return lambda p, now: p.record_charge(reference, now)
        if result.decline_reason is not None:
            reason = result.decline_reason
            return lambda p, now: p.record_decline(reason, now)
        raise RuntimeError(f"the provider answered neither a charge nor a decline for payment {payment.id}")

    async def _refund(self, payment: Payment) -> Change:
        """Refunds the charge, retrying transient failures; raises ``ProviderUnavailable`` when they last."""
        if payment.provider_reference is None:  # never: record_charge sets it before a refund is owed
            raise RuntimeError(f"payment {payment.id} owes a refund without a charge")
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await self._provider.refund(
                    f"refund-{payment.id}", payment.provider_reference, payment.amount
                )
                break
            except ProviderUnavailable:
                if attempt >= self._retry.max_attempts:
                    raise
                await self._sleep(self._retry.delay(attempt))
        log.info("charge refunded", extra={"order_id": str(payment.order_id)})
        return lambda p, now: p.record_refund(result.reference, now)

    async def _update(self, order_id: UUID, change: Change) -> None:
        async with self._uow() as uow:
            payment = await self._locked(uow, order_id)
            change(payment, self._clock())
            await uow.payments.save(payment)
            await uow.commit()
        self.on_commit()

    @staticmethod
    async def _locked(uow: UnitOfWork, order_id: UUID) -> Payment:
        payment = await uow.payments.for_order(order_id, lock=True)
        if payment is None:  # recorded by an earlier step, and payments are never deleted
            raise PaymentNotFound(order_id)
        return payment

    async def get_payment(self, caller: Caller, order_id: UUID) -> Payment:
        """The payment of one of the caller's orders (any order for an admin)."""
        async with self._uow() as uow:
            payment = await uow.payments.for_order(order_id)
        if payment is None or not caller.can_see(payment.user_id):
            raise PaymentNotFound(order_id)
        return payment


def _outcome(result: ChargeResult) -> str:
    return "charged" if result.succeeded else f"declined: {result.decline_reason}"

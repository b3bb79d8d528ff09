"""The default payment provider: a deterministic simulator driven by the order's payment token.

=========================  ===================================================================
token                      answer to ``charge``
=========================  ===================================================================
``tok_success``            charged
``tok_declined``           declined, ``card_declined``
``tok_insufficient_funds`` declined, ``insufficient_funds``
``tok_transient``          unavailable (transient) twice for a key, then charged
``tok_always_fail``        always unavailable
anything else              declined, ``card_declined``
=========================  ===================================================================

Refunds of a charge it made always succeed. Like a real provider it is idempotent by key: the first final
answer (charged, declined, refunded) is kept and returned for every later call with that key, so a key never
charges twice. Its books are the ``provider_ledger`` table of the payments database -- the simulated
provider's own books, one row per call it answered, kept there so that tests and end-to-end runs can count
real charges. Each call first waits a random 0..``latency_ms`` milliseconds, like a network round trip.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import RowMapping, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from payments.adapters.tables import provider_ledger
from payments.domain import FailureReason, Money
from payments.ports import ChargeResult, ProviderUnavailable, RefundResult

TRANSIENT_FAILURES: Final = 2
"""How many times ``tok_transient`` is unavailable for one key before it charges."""

Verdict = Literal["charge", "unavailable"] | FailureReason


def verdict(token: str, unavailable_so_far: int) -> Verdict:
    """What the simulator does with a charge for ``token`` after ``unavailable_so_far`` transient failures."""
    match token:
        case "tok_success":
            return "charge"
        case "tok_insufficient_funds":
            return FailureReason.INSUFFICIENT_FUNDS
        case "tok_transient":
            return "unavailable" if unavailable_so_far < TRANSIENT_FAILURES else "charge"
        case "tok_always_fail":
            return "unavailable"
        case _:
            return FailureReason.CARD_DECLINED


def _reference(prefix: str, idempotency_key: str) -> str:
    return f"{prefix}_{hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]}"


def _charge_result(entry: Mapping[str, Any] | RowMapping) -> ChargeResult:
    if entry["outcome"] == "succeeded":
        return ChargeResult(reference=entry["reference"])
    return ChargeResult(decline_reason=FailureReason(entry["decline_reason"]))


class SimulatedProvider:
    """``PaymentProvider`` simulated over the ``provider_ledger`` table (see the module docstring)."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime], *, latency_ms: int = 0) -> None:
        self._engine = engine
        self._clock = clock
        self._latency_ms = latency_ms

    async def charge(self, idempotency_key: str, amount: Money, token: str) -> ChargeResult:
        await self._network()
        try:
            return await self._charge(idempotency_key, amount, token)
        except IntegrityError:  # a concurrent call with the same key answered first: give its answer
            return await self._charge(idempotency_key, amount, token)

    async def _charge(self, key: str, amount: Money, token: str) -> ChargeResult:
        async with self._engine.begin() as conn:
            answered = await self._final_answer(conn, key, "charge")
            if answered is not None:
                return _charge_result(answered)
            unavailable = await conn.execute(
                select(func.count())
                .select_from(provider_ledger)
                .where(provider_ledger.c.idempotency_key == key, provider_ledger.c.outcome == "unavailable")
            )
            what = verdict(token, unavailable.scalar_one())
            entry: dict[str, Any] = {
                "idempotency_key": key,
                "operation": "charge",
                "outcome": "succeeded" if what == "charge" else what if what == "unavailable" else "declined",
                "reference": _reference("sim_ch", key) if what == "charge" else None,
                "decline_reason": what.value if isinstance(what, FailureReason) else None,
                "token": token,
                "amount_minor": amount.amount_minor,
                "currency": amount.currency,
                "created_at": self._clock(),
            }
            await conn.execute(provider_ledger.insert().values(**entry))
        if what == "unavailable":  # raised after the commit: the failed call is in the books too
            raise ProviderUnavailable(f"simulated provider unavailable for {token}")
        return _charge_result(entry)

    async def refund(self, idempotency_key: str, charge_reference: str, amount: Money) -> RefundResult:
        await self._network()
        try:
            return await self._refund(idempotency_key, charge_reference, amount)
        except IntegrityError:
            return await self._refund(idempotency_key, charge_reference, amount)

    async def _refund(self, key: str, charge_reference: str, amount: Money) -> RefundResult:
        async with self._engine.begin() as conn:
            answered = await self._final_answer(conn, key, "refund")
            if answered is not None:
                return RefundResult(answered["reference"])
            charge = await conn.execute(
                select(provider_ledger.c.amount_minor).where(
                    provider_ledger.c.reference == charge_reference,
                    provider_ledger.c.operation == "charge",
                    provider_ledger.c.outcome == "succeeded",
                )
            )
            charged = charge.scalar_one_or_none()
            if charged is None or charged < amount.amount_minor:
                raise ValueError(f"cannot refund {amount} of charge {charge_reference!r}: no such charge")
            reference = _reference("sim_rf", key)
            await conn.execute(
                provider_ledger.insert().values(
                    idempotency_key=key,
                    operation="refund",
                    outcome="succeeded",
                    reference=reference,
                    charge_reference=charge_reference,
                    amount_minor=amount.amount_minor,
                    currency=amount.currency,
                    created_at=self._clock(),
                )
            )
        return RefundResult(reference)

    @staticmethod
    async def _final_answer(conn: AsyncConnection, key: str, operation: str) -> RowMapping | None:
        row = (
            (
                await conn.execute(
                    select(provider_ledger).where(
                        provider_ledger.c.idempotency_key == key, provider_ledger.c.outcome != "unavailable"
                    )
                )
            )
            .mappings()
            .first()
        )
        if row is not None and row["operation"] != operation:
            raise ValueError(f"idempotency key {key!r} was used for a {row['operation']}, not a {operation}")
        return row

    async def _network(self) -> None:
        if self._latency_ms > 0:
            await asyncio.sleep(random.uniform(0, self._latency_ms) / 1000)

"""Persistence and the simulated provider on SQLite and PostgreSQL: migrations, the provider's books (one
final answer per key, even under concurrency), and the use cases' races on real transactions and row locks."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from payments_fakes import cancellation, charge, order_cancelled_event, order_created_event
from sqlalchemy import Connection, Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ecommerce_runtime.clock import utc_now
from ecommerce_runtime.messages import parse_payload
from payments.adapters import tables
from payments.adapters.provider_simulator import SimulatedProvider
from payments.adapters.repository import SqlUnitOfWork
from payments.domain import FailureReason, Money, PaymentStatus
from payments.handlers import PaymentHandlers, RetryPolicy
from payments.ports import ChargeResult, PaymentProvider, ProviderUnavailable, RefundResult

EUR25 = Money(2500, "EUR")
FAST = RetryPolicy(max_attempts=4, first_delay=0.001, max_delay=0.005)


def handlers_for(engine: AsyncEngine, provider: PaymentProvider | None = None) -> PaymentHandlers:
    return PaymentHandlers(
        lambda: SqlUnitOfWork(engine), provider or SimulatedProvider(engine, utc_now), retry=FAST
    )


async def ledger(engine: AsyncEngine, key: str) -> list[tuple[str, str]]:
    """(operation, outcome) of every call the simulated provider booked under ``key``, in order."""
    t = tables.provider_ledger
    async with engine.connect() as conn:
        query = select(t.c.operation, t.c.outcome).where(t.c.idempotency_key == key).order_by(t.c.seq)
        return [(operation, outcome) for operation, outcome in (await conn.execute(query)).all()]


async def payment_row(engine: AsyncEngine, order_id: UUID) -> dict[str, object]:
    async with engine.connect() as conn:
        query = select(tables.payments).where(tables.payments.c.order_id == order_id)
        return dict((await conn.execute(query)).mappings().one())


async def outbox_types(engine: AsyncEngine, order_id: UUID) -> list[str]:
    t = tables.outbox
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(t.c.event_type, t.c.body)
            .where(t.c.correlation_id == str(order_id))
            .order_by(t.c.occurred_at, t.c.seq)
        )
        events = [(event_type, parse_payload(event_type, body)) for event_type, body in rows.all()]
    assert all(getattr(payload, "order_id", None) == order_id for _, payload in events)
    return [event_type for event_type, _ in events]


async def count(engine: AsyncEngine, table: Table) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


async def test_migrations_produce_exactly_the_tables_the_code_uses(engine: AsyncEngine) -> None:
    def diff(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), tables.metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_the_simulator_keeps_one_final_answer_per_key_even_when_called_at_once(
    engine: AsyncEngine,
) -> None:
    provider = SimulatedProvider(engine, utc_now)
    results = await asyncio.gather(*(provider.charge("key-1", EUR25, "tok_success") for _ in range(8)))
    assert len({result.reference for result in results}) == 1
    assert all(result.succeeded for result in results)
    assert await ledger(engine, "key-1") == [("charge", "succeeded")]

    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            await provider.charge("transient", EUR25, "tok_transient")
    first = await provider.charge("transient", EUR25, "tok_transient")
    assert first.succeeded
    assert await provider.charge("transient", EUR25, "tok_transient") == first
    assert await ledger(engine, "transient") == [
        ("charge", "unavailable"),
        ("charge", "unavailable"),
        ("charge", "succeeded"),
    ]

    declined = ChargeResult(decline_reason=FailureReason.INSUFFICIENT_FUNDS)
    assert await provider.charge("poor", EUR25, "tok_insufficient_funds") == declined
    assert await provider.charge("poor", EUR25, "tok_insufficient_funds") == declined
    assert await ledger(engine, "poor") == [("charge", "declined")]


async def test_refunds_are_idempotent_and_only_give_back_real_charges(engine: AsyncEngine) -> None:
    provider = SimulatedProvider(engine, utc_now)
    reference = (await provider.charge("paid", EUR25, "tok_success")).reference
    assert reference is not None

    refunds = [await provider.refund("refund-paid", reference, EUR25) for _ in range(3)]

    assert refunds == [refunds[0]] * 3
    assert refunds[0] == RefundResult(refunds[0].reference)
    assert await ledger(engine, "refund-paid") == [("refund", "succeeded")]
    with pytest.raises(ValueError, match="no such charge"):
        await provider.refund("refund-other", "sim_ch_unknown", EUR25)
    with pytest.raises(ValueError, match="no such charge"):
        await provider.refund("refund-more", reference, Money(2501, "EUR"))
    assert await ledger(engine, "refund-other") == []


async def test_concurrent_deliveries_of_one_order_charge_once(engine: AsyncEngine) -> None:
    handlers, order_id = handlers_for(engine), uuid4()
    event = order_created_event(order_id)

    await asyncio.gather(*(handlers.order_created(event, charge(order_id)) for _ in range(5)))

    row = await payment_row(engine, order_id)
    assert (row["status"], row["attempts"], row["charge_in_flight"]) == ("SUCCEEDED", 1, False)
    assert await ledger(engine, str(row["id"])) == [("charge", "succeeded")]
    assert await outbox_types(engine, order_id) == ["payment.succeeded"]
    assert (await count(engine, tables.payments), await count(engine, tables.inbox)) == (1, 1)


class CancelledWhileCharging:
    """The simulator, but the order's cancellation is handled while the charge is on its way back."""

    def __init__(self, engine: AsyncEngine, order_id: UUID) -> None:
        self.engine = engine
        self.order_id = order_id
        self.inner = SimulatedProvider(engine, utc_now)
        self.handlers = handlers_for(engine, self)

    async def charge(self, idempotency_key: str, amount: Money, token: str) -> ChargeResult:
        result = await self.inner.charge(idempotency_key, amount, token)
        async with SqlUnitOfWork(self.engine) as uow:
            payment = await uow.payments.for_order(self.order_id)
        assert payment is not None
        assert payment.charge_in_flight
        await self.handlers.order_cancelled(order_cancelled_event(self.order_id), cancellation(self.order_id))
        return result

    async def refund(self, idempotency_key: str, charge_reference: str, amount: Money) -> RefundResult:
        return await self.inner.refund(idempotency_key, charge_reference, amount)


async def test_a_cancellation_during_the_charge_is_refunded_at_once(engine: AsyncEngine) -> None:
    order_id = uuid4()
    provider = CancelledWhileCharging(engine, order_id)

    await provider.handlers.order_created(order_created_event(order_id), charge(order_id))

    row = await payment_row(engine, order_id)
    assert row["status"] == PaymentStatus.REFUNDED.value
    assert await ledger(engine, str(row["id"])) == [("charge", "succeeded")]
    assert await ledger(engine, f"refund-{row['id']}") == [("refund", "succeeded")]
    assert await outbox_types(engine, order_id) == ["payment.refunded"]
    assert await count(engine, tables.inbox) == 2


async def test_creation_and_cancellation_racing_never_leave_a_charge_standing(engine: AsyncEngine) -> None:
    handlers = handlers_for(engine)
    orders = [uuid4() for _ in range(6)]

    await asyncio.gather(
        *(handlers.order_created(order_created_event(o), charge(o)) for o in orders),
        *(handlers.order_cancelled(order_cancelled_event(o), cancellation(o)) for o in orders),
    )

    for order_id in orders:
        row = await payment_row(engine, order_id)
        charges = await ledger(engine, str(row["id"]))
        refunds = await ledger(engine, f"refund-{row['id']}")
        if row["status"] == "CANCELLED":
            assert (charges, refunds) == ([], [])
            assert await outbox_types(engine, order_id) == []
        else:
            assert row["status"] == "REFUNDED"
            assert (charges, refunds) == ([("charge", "succeeded")], [("refund", "succeeded")])
            assert (await outbox_types(engine, order_id))[-1] == "payment.refunded"


async def test_recovery_finds_only_payments_that_still_need_the_provider(engine: AsyncEngine) -> None:
    handlers = handlers_for(engine)
    done, tombstone = uuid4(), uuid4()
    await handlers.order_created(order_created_event(done), charge(done))
    await handlers.order_cancelled(order_cancelled_event(tombstone), cancellation(tombstone))

    class Crashing(SimulatedProvider):
        async def charge(self, idempotency_key: str, amount: Money, token: str) -> ChargeResult:
            await super().charge(idempotency_key, amount, token)
            raise RuntimeError("process died")

    stuck = uuid4()
    with pytest.raises(RuntimeError):
        await handlers_for(engine, Crashing(engine, utc_now)).order_created(
            order_created_event(stuck), charge(stuck)
        )

    assert await handlers.settle_unsettled(timedelta(hours=1)) == 0  # too recent: a handler may be on it
    assert await handlers.settle_unsettled(timedelta(0)) == 1

    row = await payment_row(engine, stuck)
    assert (row["status"], row["attempts"]) == ("SUCCEEDED", 2)
    assert await ledger(engine, str(row["id"])) == [("charge", "succeeded")]
    assert await handlers.settle_unsettled(timedelta(0)) == 0

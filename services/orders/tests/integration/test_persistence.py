"""The Order Service's persistence on SQLite and PostgreSQL: migrations, what a use case writes (orders,
lines, stock, idempotency keys, outbox rows) and that a refused request writes none of it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ecommerce.events import models
from ecommerce_runtime.callers import Caller
from ecommerce_runtime.db import create_engine
from ecommerce_runtime.messages import IncomingEvent, parse_payload
from ecommerce_runtime.migrations import upgrade_to_head
from orders.adapters import tables
from orders.adapters.repository import SqlUnitOfWork
from orders.bootstrap import MIGRATIONS
from orders.domain import (
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidOrder,
    LineRequest,
    OrderStatus,
    UnknownProduct,
)
from orders.handlers import OrderHandlers, PlaceOrder

ADA, BOB = Caller(uuid4()), Caller(uuid4())


def command(*lines: tuple[str, int], caller: Caller = ADA, key: str = "key-0000001") -> PlaceOrder:
    return PlaceOrder(caller, key, "ada@example.com", "tok_success", [LineRequest(s, q) for s, q in lines])


async def counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        result = {}
        for table in (
            tables.orders,
            tables.order_lines,
            tables.idempotency_keys,
            tables.outbox,
            tables.inbox,
        ):
            result[table.name] = (await conn.execute(select(func.count()).select_from(table))).scalar_one()
        stock = await conn.execute(select(tables.products.c.sku, tables.products.c.stock_available))
        result |= {f"stock:{sku}": qty for sku, qty in stock.all()}
        return result


async def outbox_events(engine: AsyncEngine) -> list[tuple[str, object]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(tables.outbox.c.event_type, tables.outbox.c.body).order_by(
                tables.outbox.c.occurred_at, tables.outbox.c.seq
            )
        )
        return [(event_type, parse_payload(event_type, body)) for event_type, body in rows.all()]


async def test_migrations_produce_exactly_the_tables_the_code_uses(engine: AsyncEngine) -> None:
    def diff(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), tables.metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_placing_an_order_writes_order_lines_stock_key_and_one_valid_outbox_event(
    engine: AsyncEngine, handlers: OrderHandlers
) -> None:
    before = await counts(engine)
    placed = await handlers.place_order(command(("MUG-001", 2), ("TEE-042", 1)))

    after = await counts(engine)
    assert after == before | {
        "orders": 1,
        "order_lines": 2,
        "idempotency_keys": 1,
        "outbox": 1,
        "stock:MUG-001": 498,
        "stock:TEE-042": 299,
    }
    ((event_type, payload),) = await outbox_events(engine)
    assert event_type == "order.created"
    assert isinstance(payload, models.OrderCreated)
    assert payload.order_id == placed.order.id
    assert payload.total == models.Money(amount_minor=2 * 1250 + 2400, currency="EUR")
    assert [(i.sku, i.quantity) for i in payload.items] == [("MUG-001", 2), ("TEE-042", 1)]

    stored = await handlers.get_order(ADA, placed.order.id)
    assert stored.total == placed.order.total
    assert stored.created_at.tzinfo is not None


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        ((), InvalidOrder),
        ((("MUG-001", 0),), InvalidOrder),
        ((("MUG-001", -1),), InvalidOrder),
        ((("MUG-001", 101),), InvalidOrder),
        ((("MUG-001", 1), ("NOPE-404", 1)), UnknownProduct),
        ((("MUG-001", 5), ("LTD-001", 11)), InsufficientStock),
    ],
)
async def test_a_refused_order_leaves_every_table_as_it_was(
    engine: AsyncEngine, handlers: OrderHandlers, lines: tuple[tuple[str, int], ...], error: type[Exception]
) -> None:
    before = await counts(engine)
    with pytest.raises(error):
        await handlers.place_order(command(*lines))
    assert await counts(engine) == before


async def test_idempotent_replay_and_conflicting_reuse(engine: AsyncEngine, handlers: OrderHandlers) -> None:
    first = await handlers.place_order(command(("MUG-001", 1)))
    replay = await handlers.place_order(command(("MUG-001", 1)))
    assert (replay.order.id, replay.replayed) == (first.order.id, True)
    before = await counts(engine)

    with pytest.raises(IdempotencyKeyReused):
        await handlers.place_order(command(("MUG-001", 2)))
    assert await counts(engine) == before


async def test_concurrent_requests_with_one_key_create_one_order(
    engine: AsyncEngine, handlers: OrderHandlers
) -> None:
    results = await asyncio.gather(*(handlers.place_order(command(("MUG-001", 1))) for _ in range(8)))
    assert len({r.order.id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    after = await counts(engine)
    assert (after["orders"], after["outbox"], after["stock:MUG-001"]) == (1, 1, 499)


async def test_cancellation_releases_stock_and_records_the_event(
    engine: AsyncEngine, handlers: OrderHandlers
) -> None:
    placed = await handlers.place_order(command(("LTD-001", 3)))
    await handlers.cancel_order(ADA, placed.order.id)

    after = await counts(engine)
    assert after["stock:LTD-001"] == 10
    event_type, payload = (await outbox_events(engine))[-1]
    assert event_type == "order.cancelled"
    assert isinstance(payload, models.OrderCancelled)
    assert (payload.reason, payload.previous_status) == ("customer_request", "PENDING")


def _payment_succeeded(order_id: UUID) -> IncomingEvent:
    payload = models.PaymentSucceeded(
        payment_id=uuid4(),
        order_id=order_id,
        user_id=ADA.user_id,
        customer_email="ada@example.com",
        amount=models.Money(amount_minor=1250, currency="EUR"),
        provider_reference="sim_1",
        attempts=1,
        succeeded_at=datetime.now(UTC),
    )
    return IncomingEvent(
        event_id=uuid4(),
        event_type="payment.succeeded",
        payload=payload,
        correlation_id=str(order_id),
        occurred_at=datetime.now(UTC),
        producer="payments",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        delivery_count=1,
    )


async def test_a_duplicate_payment_event_makes_one_transition(
    engine: AsyncEngine, handlers: OrderHandlers
) -> None:
    placed = await handlers.place_order(command(("MUG-001", 1)))
    event = _payment_succeeded(placed.order.id)
    await asyncio.gather(*(handlers.payment_succeeded(event, placed.order.id, uuid4()) for _ in range(3)))
    await handlers.payment_succeeded(event, placed.order.id, uuid4())

    assert (await handlers.get_order(ADA, placed.order.id)).status is OrderStatus.PAID
    assert [t for t, _ in await outbox_events(engine)] == ["order.created", "order.paid"]
    assert (await counts(engine))["inbox"] == 1


async def test_listing_pages_through_orders_created_in_the_same_instant(engine: AsyncEngine) -> None:
    instant = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    handlers = OrderHandlers(lambda: SqlUnitOfWork(engine), lambda: instant)
    ids = {
        (await handlers.place_order(command(("MUG-001", 1), key=f"key-{i:07}"))).order.id for i in range(7)
    }
    await handlers.place_order(command(("MUG-001", 1), caller=BOB))

    seen: list[UUID] = []
    token = ""
    while True:
        page = await handlers.list_orders(ADA, status=None, size=3, token=token)
        seen += [o.id for o in page.items]
        if not (token := page.next_page_token):
            break
    assert len(seen) == 7
    assert set(seen) == ids


async def test_fifty_concurrent_orders_for_ten_units_sell_exactly_ten(
    engine: AsyncEngine, handlers: OrderHandlers
) -> None:
    buyers = [Caller(uuid4()) for _ in range(50)]
    results = await asyncio.gather(
        *(handlers.place_order(command(("LTD-001", 1), caller=buyer)) for buyer in buyers),
        return_exceptions=True,
    )

    placed = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(placed) == 10
    assert all(isinstance(r, InsufficientStock) for r in refused), refused
    after = await counts(engine)
    assert (after["stock:LTD-001"], after["orders"], after["outbox"]) == (0, 10, 10)


async def test_replicas_migrating_at_once_take_turns(database_url: str) -> None:
    engines = [create_engine(database_url) for _ in range(4)]
    try:
        results = await asyncio.gather(
            *(upgrade_to_head(e, MIGRATIONS) for e in engines), return_exceptions=True
        )
        assert results == [None] * 4
    finally:
        for engine in engines:
            await engine.dispose()

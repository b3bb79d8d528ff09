"""The Order Service's repositories over SQLAlchemy Core, and its unit of work (the runtime's)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import RowMapping, and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ecommerce_runtime import unit_of_work
from ecommerce_runtime.pagination import Cursor
from orders.adapters import tables
from orders.adapters.events import to_message
from orders.domain import CancellationReason, Money, Order, OrderEvent, OrderLine, OrderStatus, Product
from orders.ports import DuplicateKey, IdempotencyRecord


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite drops the zone; we write UTC


def _product(row: RowMapping) -> Product:
    return Product(
        sku=row["sku"],
        name=row["name"],
        description=row["description"],
        unit_price=Money(row["unit_price_minor"], row["currency"]),
        stock_available=row["stock_available"],
    )


class SqlCatalog:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, sku: str) -> Product | None:
        row = (
            await self._conn.execute(select(tables.products).where(tables.products.c.sku == sku))
        ).mappings()
        found = row.first()
        return _product(found) if found else None

    async def get_many(self, skus: list[str]) -> dict[str, Product]:
        rows = await self._conn.execute(select(tables.products).where(tables.products.c.sku.in_(skus)))
        return {row["sku"]: _product(row) for row in rows.mappings()}

    async def by_sku(self, *, after_sku: str | None, limit: int) -> list[Product]:
        query = select(tables.products).order_by(tables.products.c.sku).limit(limit)
        if after_sku is not None:
            query = query.where(tables.products.c.sku > after_sku)
        return [_product(row) for row in (await self._conn.execute(query)).mappings()]

    async def reserve(self, sku: str, quantity: int) -> bool:
        p = tables.products
        # One conditional UPDATE: the check and the decrement are atomic, so no interleaving oversells.
        result = await self._conn.execute(
            update(p)
            .where(p.c.sku == sku, p.c.stock_available >= quantity)
            .values(stock_available=p.c.stock_available - quantity)
        )
        return result.rowcount == 1

    async def release(self, sku: str, quantity: int) -> None:
        p = tables.products
        await self._conn.execute(
            update(p).where(p.c.sku == sku).values(stock_available=p.c.stock_available + quantity)
        )


class SqlOrders:
    def __init__(self, conn: AsyncConnection, track: Callable[[Order], None]) -> None:
        self._conn = conn
        self._track = track

    async def add(self, order: Order) -> None:
        await self._conn.execute(tables.orders.insert().values(**self._order_row(order), id=order.id))
        await self._conn.execute(
            tables.order_lines.insert(),
            [
                {
                    "order_id": order.id,
                    "line_no": n,
                    "sku": line.sku,
                    "name": line.name,
                    "quantity": line.quantity,
                    "unit_price_minor": line.unit_price.amount_minor,
                    "currency": line.unit_price.currency,
                }
                for n, line in enumerate(order.lines)
            ],
        )
        self._track(order)

    async def save(self, order: Order) -> None:
        await self._conn.execute(
            update(tables.orders).where(tables.orders.c.id == order.id).values(**self._order_row(order))
        )
        self._track(order)

    @staticmethod
    def _order_row(order: Order) -> dict[str, object]:
        return {
            "user_id": order.user_id,
            "customer_email": order.customer_email,
            "payment_token": order.payment_token,
            "status": order.status.value,
            "cancellation_reason": order.cancellation_reason.value if order.cancellation_reason else None,
            "created_at": order.created_at,
            "updated_at": order.updated_at,
        }

    async def get(self, order_id: UUID, *, lock: bool = False) -> Order | None:
        query = select(tables.orders).where(tables.orders.c.id == order_id)
        if lock:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).mappings().first()
        if row is None:
            return None
        return (await self._load([row]))[0]

    async def newest_first(
        self, *, user_id: UUID | None, status: OrderStatus | None, after: Cursor | None, limit: int
    ) -> list[Order]:
        o = tables.orders
        query = select(o).order_by(o.c.created_at.desc(), o.c.id.desc()).limit(limit)
        if user_id is not None:
            query = query.where(o.c.user_id == user_id)
        if status is not None:
            query = query.where(o.c.status == status.value)
        if after is not None:
            query = query.where(
                or_(
                    o.c.created_at < after.created_at,
                    and_(o.c.created_at == after.created_at, o.c.id < after.id),
                )
            )
        rows = (await self._conn.execute(query)).mappings().all()
        return await self._load(rows)

    async def _load(self, rows: Sequence[RowMapping]) -> list[Order]:
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        line_rows = await self._conn.execute(
            select(tables.order_lines)
            .where(tables.order_lines.c.order_id.in_(ids))
            .order_by(tables.order_lines.c.order_id, tables.order_lines.c.line_no)
        )
        lines: dict[UUID, list[OrderLine]] = {order_id: [] for order_id in ids}
        for line in line_rows.mappings():
            lines[line["order_id"]].append(
                OrderLine(
                    line["sku"],
                    line["name"],
                    line["quantity"],
                    Money(line["unit_price_minor"], line["currency"]),
                )
            )
        return [
            Order(
                id=row["id"],
                user_id=row["user_id"],
                customer_email=row["customer_email"],
                payment_token=row["payment_token"],
                lines=lines[row["id"]],
                status=OrderStatus(row["status"]),
                created_at=_utc(row["created_at"]),
                updated_at=_utc(row["updated_at"]),
                cancellation_reason=(
                    CancellationReason(row["cancellation_reason"]) if row["cancellation_reason"] else None
                ),
            )
            for row in rows
        ]


class SqlIdempotencyKeys:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def find(self, user_id: UUID, key: str) -> IdempotencyRecord | None:
        k = tables.idempotency_keys
        row = (
            (await self._conn.execute(select(k).where(k.c.user_id == user_id, k.c.key == key)))
            .mappings()
            .first()
        )
        return IdempotencyRecord(row["request_hash"], row["order_id"]) if row else None

    async def remember(self, user_id: UUID, key: str, record: IdempotencyRecord, now: datetime) -> None:
        insert = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        statement = (
            insert(tables.idempotency_keys)
            .values(
                user_id=user_id,
                key=key,
                request_hash=record.request_hash,
                order_id=record.order_id,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["user_id", "key"])
        )
        # A concurrent request with the same key holds the row until it commits or rolls back; then this
        # insert does nothing (taken) or goes through (given back).
        if (await self._conn.execute(statement)).rowcount != 1:
            raise DuplicateKey(f"idempotency key {key!r} of user {user_id}")

    async def forget_older_than(self, cutoff: datetime) -> int:
        k = tables.idempotency_keys
        result = await self._conn.execute(delete(k).where(k.c.created_at < cutoff))
        return result.rowcount


class SqlUnitOfWork(unit_of_work.SqlUnitOfWork[OrderEvent]):
    """``UnitOfWork`` of the Order Service: the runtime's, with its repositories."""

    orders: SqlOrders
    catalog: SqlCatalog
    idempotency_keys: SqlIdempotencyKeys

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine, inbox=tables.inbox, outbox=unit_of_work.Outbox(tables.outbox, to_message))

    def open_repositories(self, conn: AsyncConnection) -> None:
        self.orders = SqlOrders(conn, self.track)
        self.catalog = SqlCatalog(conn)
        self.idempotency_keys = SqlIdempotencyKeys(conn)

    async def commit(self) -> None:
        try:
            await super().commit()
        except IntegrityError as error:
            raise DuplicateKey(str(error.orig)) from error

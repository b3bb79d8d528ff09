"""In-memory fakes of the Order Service's ports, with real transaction semantics: a unit of work sees a
copy of the store and writes it back only on commit, so a failed use case leaves nothing behind."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Self
from uuid import UUID

from ecommerce_runtime.inbox import EventRef
from ecommerce_runtime.pagination import Cursor
from orders.domain import Money, Order, OrderEvent, OrderStatus, Product
from orders.ports import DuplicateKey, IdempotencyRecord


@dataclass
class FakeStore:
    products: dict[str, Product] = field(default_factory=dict)
    orders: dict[UUID, Order] = field(default_factory=dict)
    keys: dict[tuple[UUID, str], tuple[IdempotencyRecord, datetime]] = field(default_factory=dict)
    inbox: set[UUID] = field(default_factory=set)
    outbox: list[OrderEvent] = field(default_factory=list)
    commits: int = 0

    def snapshot(self) -> object:
        """Everything stored, as comparable values (orders compare by identity otherwise)."""
        orders = {
            order_id: (o.status, o.cancellation_reason, tuple(o.lines), o.updated_at)
            for order_id, o in self.orders.items()
        }
        outbox = [(type(e).__name__, e.order.id) for e in self.outbox]
        return (dict(self.products), orders, dict(self.keys), set(self.inbox), outbox, self.commits)


def store_with(*products: tuple[str, int, int]) -> FakeStore:
    """A store whose catalog has (sku, price in cents, stock) products, priced in EUR."""
    store = FakeStore()
    for sku, price, stock in products:
        store.products[sku] = Product(sku, f"Product {sku}", "", Money(price, "EUR"), stock)
    return store


class FakeCatalog:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def get(self, sku: str) -> Product | None:
        return self.store.products.get(sku)

    async def get_many(self, skus: list[str]) -> dict[str, Product]:
        return {sku: self.store.products[sku] for sku in skus if sku in self.store.products}

    async def by_sku(self, *, after_sku: str | None, limit: int) -> list[Product]:
        skus = sorted(s for s in self.store.products if after_sku is None or s > after_sku)
        return [self.store.products[s] for s in skus[:limit]]

    async def reserve(self, sku: str, quantity: int) -> bool:
        product = self.store.products[sku]
        if product.stock_available < quantity:
            return False
        self.store.products[sku] = dataclasses.replace(
            product, stock_available=product.stock_available - quantity
        )
        return True

    async def release(self, sku: str, quantity: int) -> None:
        product = self.store.products[sku]
        self.store.products[sku] = dataclasses.replace(
            product, stock_available=product.stock_available + quantity
        )


class FakeOrders:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.touched: list[Order] = []

    async def add(self, order: Order) -> None:
        self.store.orders[order.id] = order
        self.touched.append(order)

    async def get(self, order_id: UUID, *, lock: bool = False) -> Order | None:
        return self.store.orders.get(order_id)

    async def save(self, order: Order) -> None:
        self.store.orders[order.id] = order
        self.touched.append(order)

    async def newest_first(
        self, *, user_id: UUID | None, status: OrderStatus | None, after: Cursor | None, limit: int
    ) -> list[Order]:
        orders = sorted(self.store.orders.values(), key=lambda o: (o.created_at, o.id), reverse=True)
        orders = [o for o in orders if user_id is None or o.user_id == user_id]
        orders = [o for o in orders if status is None or o.status is status]
        if after is not None:
            orders = [o for o in orders if (o.created_at, o.id) < (after.created_at, after.id)]
        return orders[:limit]


class FakeKeys:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def find(self, user_id: UUID, key: str) -> IdempotencyRecord | None:
        found = self.store.keys.get((user_id, key))
        return found[0] if found else None

    async def remember(self, user_id: UUID, key: str, record: IdempotencyRecord, now: datetime) -> None:
        if (user_id, key) in self.store.keys:
            raise DuplicateKey(key)
        self.store.keys[(user_id, key)] = (record, now)

    async def forget_older_than(self, cutoff: datetime) -> int:
        old = [k for k, (_, at) in self.store.keys.items() if at < cutoff]
        for k in old:
            del self.store.keys[k]
        return len(old)


class FakeUnitOfWork:
    def __init__(self, store: FakeStore) -> None:
        self._committed_store = store

    async def __aenter__(self) -> Self:
        self._working = copy.deepcopy(self._committed_store)
        self.orders = FakeOrders(self._working)
        self.catalog = FakeCatalog(self._working)
        self.idempotency_keys = FakeKeys(self._working)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def commit(self) -> None:
        for order in self.orders.touched:
            self._working.outbox.extend(order.events)
            order.events.clear()
        self._working.commits += 1
        vars(self._committed_store).update(vars(self._working))
        self._working = copy.deepcopy(self._committed_store)

    async def first_delivery(self, event: EventRef) -> bool:
        if event.event_id in self._working.inbox:
            return False
        self._working.inbox.add(event.event_id)
        return True


class Clock:
    """A clock that advances one second per reading, so orders have distinct, ordered timestamps."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

"""The ports the use cases need: repositories behind one unit of work. Adapters implement them with
SQLAlchemy; unit tests with in-memory fakes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from ecommerce_runtime import unit_of_work
from ecommerce_runtime.pagination import Cursor
from orders.domain import Order, OrderStatus, Product


class DuplicateKey(Exception):
    """A commit hit a uniqueness rule (here: the same idempotency key written twice concurrently)."""


class OrderRepository(Protocol):
    async def add(self, order: Order) -> None: ...

    async def get(self, order_id: UUID, *, lock: bool = False) -> Order | None:
        """The order; with ``lock``, locked for update until the unit of work ends."""
        ...

    async def save(self, order: Order) -> None: ...

    async def newest_first(
        self, *, user_id: UUID | None, status: OrderStatus | None, after: Cursor | None, limit: int
    ) -> list[Order]:
        """Newest first; all users' orders when ``user_id`` is None."""
        ...


class Catalog(Protocol):
    async def get(self, sku: str) -> Product | None: ...

    async def get_many(self, skus: list[str]) -> dict[str, Product]: ...

    async def by_sku(self, *, after_sku: str | None, limit: int) -> list[Product]: ...

    async def reserve(self, sku: str, quantity: int) -> bool:
        """Takes ``quantity`` units from the stock atomically; False (nothing taken) if not enough."""
        ...

    async def release(self, sku: str, quantity: int) -> None: ...


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    request_hash: str
    order_id: UUID


class IdempotencyKeys(Protocol):
    async def find(self, user_id: UUID, key: str) -> IdempotencyRecord | None: ...

    async def remember(self, user_id: UUID, key: str, record: IdempotencyRecord, now: datetime) -> None:
        """Claims the key in the unit of work; raises ``DuplicateKey`` if a committed request holds it."""
        ...

    async def forget_older_than(self, cutoff: datetime) -> int: ...


class UnitOfWork(unit_of_work.UnitOfWork, Protocol):
    """One transaction over the orders, the catalog and the idempotency keys (``unit_of_work.UnitOfWork``)."""

    @property
    def orders(self) -> OrderRepository: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def idempotency_keys(self) -> IdempotencyKeys: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...

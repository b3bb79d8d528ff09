"""The unit of work every service uses: one connection, one transaction, outbox and inbox in it.

``SqlUnitOfWork`` owns what is the same everywhere: it opens the connection and the transaction, writes
the events of every aggregate its repositories touched to the outbox at ``commit`` (so they commit with
the state change), records handled events in the inbox, and rolls back whatever was not committed. A
service subclasses it and adds only its repositories (``open_repositories``); they call ``track`` for each
aggregate they add or save. ``UnitOfWork`` is the matching port for the use cases (and their fakes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, Self, TypeVar

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from ecommerce_runtime import inbox, outbox
from ecommerce_runtime.inbox import EventRef
from ecommerce_runtime.messages import OutgoingMessage
from ecommerce_runtime.tracing import current_traceparent

EventT = TypeVar("EventT")


class UnitOfWork(Protocol):
    """One transaction. Leaving the ``async with`` block without ``commit()`` rolls everything back."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    async def commit(self) -> None:
        """Writes the events of every aggregate added or saved to the outbox, then commits."""
        ...

    async def first_delivery(self, event: EventRef) -> bool:
        """Records ``event`` in the inbox; False if it was recorded before."""
        ...


class HasEvents(Protocol[EventT]):
    """An aggregate that collects the domain events its changes raised."""

    @property
    def events(self) -> list[EventT]: ...


@dataclass(frozen=True, slots=True)
class Outbox(Generic[EventT]):
    """Where a service's events go, and how a domain event becomes a message (its adapter)."""

    table: Table
    to_message: Callable[[EventT, str], OutgoingMessage]
    """``(event, traceparent) -> OutgoingMessage``."""


class SqlUnitOfWork(Generic[EventT]):
    """``UnitOfWork`` over SQLAlchemy Core; subclasses add repositories in ``open_repositories``."""

    def __init__(
        self, engine: AsyncEngine, *, inbox: Table | None = None, outbox: Outbox[EventT] | None = None
    ) -> None:
        self._engine = engine
        self._inbox = inbox
        self._outbox = outbox
        self._conn: AsyncConnection | None = None
        self._tx: AsyncTransaction | None = None
        self._touched: dict[int, HasEvents[EventT]] = {}

    def open_repositories(self, conn: AsyncConnection) -> None:
        """Creates the service's repositories on ``conn`` (called on entering the block)."""

    def track(self, aggregate: HasEvents[EventT]) -> None:
        """Marks ``aggregate`` as changed: its events go to the outbox on commit (once, however often)."""
        self._touched.setdefault(id(aggregate), aggregate)

    async def __aenter__(self) -> Self:
        self._conn = await self._engine.connect()
        self._tx = await self._conn.begin()
        self._touched = {}
        self.open_repositories(self._conn)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        conn, tx = self._open()
        try:
            if tx.is_active:
                await tx.rollback()
        finally:
            await conn.close()

    @property
    def connection(self) -> AsyncConnection:
        return self._open()[0]

    def _open(self) -> tuple[AsyncConnection, AsyncTransaction]:
        if self._conn is None or self._tx is None:
            raise RuntimeError("use the unit of work in an `async with` block")
        return self._conn, self._tx

    async def commit(self) -> None:
        conn, tx = self._open()
        touched = list(self._touched.values())
        if self._outbox is not None:
            traceparent = current_traceparent()
            events: list[EventT] = [event for aggregate in touched for event in aggregate.events]
            for seq, event in enumerate(events):
                await outbox.enqueue(
                    conn, self._outbox.table, self._outbox.to_message(event, traceparent), seq
                )
        await tx.commit()
        for aggregate in touched:
            aggregate.events.clear()
        self._touched = {}

    async def first_delivery(self, event: EventRef) -> bool:
        return await inbox.first_delivery(self.connection, self._inbox_table(), event)

    async def handled_before(self, event: EventRef) -> bool:
        return await inbox.handled_before(self.connection, self._inbox_table(), event)

    def _inbox_table(self) -> Table:
        if self._inbox is None:
            raise RuntimeError(f"{type(self).__name__} has no inbox table")
        return self._inbox

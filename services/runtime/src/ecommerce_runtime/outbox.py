"""Transactional outbox: events are stored with the state change that caused them, then relayed.

``enqueue`` inserts an event row through the caller's connection, so the event is committed if and only if
the state change is. ``OutboxRelay`` publishes unpublished rows in the order they were written, with
publisher confirms, and marks a row published only after the broker confirmed it. While the broker is
down it retries with capped exponential backoff; nothing is lost, because the rows stay in the table.

Several relays (replicas) may run against one database: on PostgreSQL each claims its batch with
``FOR UPDATE SKIP LOCKED``, so a row is published by one relay at a time; on SQLite the write lock taken
by ``BEGIN IMMEDIATE`` serializes them. Delivery is at least once (a crash between the confirm and the
commit publishes a row again); consumers deduplicate by event id through the inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol
from uuid import UUID

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    select,
    text,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ecommerce_runtime.backoff import Backoff
from ecommerce_runtime.lifecycle import Wakeup
from ecommerce_runtime.messages import OutgoingMessage

log = logging.getLogger(__name__)


def outbox_table(metadata: MetaData) -> Table:
    """The ``outbox`` table, added to a service's own metadata (and so to its migrations)."""
    return Table(
        "outbox",
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("seq", Integer, nullable=False, autoincrement=False),
        Column("event_type", String(64), nullable=False),
        Column("routing_key", String(64), nullable=False),
        Column("body", LargeBinary, nullable=False),
        Column("correlation_id", String(64), nullable=False),
        Column("producer", String(32), nullable=False),
        Column("traceparent", String(55), nullable=False),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text, nullable=True),
        Index(
            "ix_outbox_unpublished",
            "occurred_at",
            "seq",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )


class Publisher(Protocol):
    """What the relay needs from the bus (``ecommerce_runtime.bus.Publisher``)."""

    async def publish(self, message: OutgoingMessage) -> None: ...


async def enqueue(conn: AsyncConnection, table: Table, message: OutgoingMessage, seq: int = 0) -> None:
    """Adds ``message`` to the outbox in the connection's transaction.

    ``seq`` orders events written in the same transaction with the same timestamp.
    """
    await conn.execute(
        table.insert().values(
            id=message.event_id,
            seq=seq,
            event_type=message.event_type,
            routing_key=message.routing_key,
            body=message.body,
            correlation_id=message.correlation_id,
            producer=message.producer,
            traceparent=message.traceparent,
            occurred_at=message.occurred_at,
            attempts=0,
        )
    )


def _as_message(row: RowMapping) -> OutgoingMessage:
    occurred_at: datetime = row["occurred_at"]
    if occurred_at.tzinfo is None:  # SQLite returns naive datetimes; they were written in UTC
        occurred_at = occurred_at.replace(tzinfo=UTC)
    return OutgoingMessage(
        event_id=row["id"],
        event_type=row["event_type"],
        routing_key=row["routing_key"],
        body=row["body"],
        correlation_id=row["correlation_id"],
        occurred_at=occurred_at,
        producer=row["producer"],
        traceparent=row["traceparent"],
    )


class OutboxRelay:
    """Publishes the outbox; run one per process (several processes may share a database)."""

    def __init__(
        self,
        engine: AsyncEngine,
        table: Table,
        publisher: Publisher,
        *,
        batch_size: int = 100,
        poll_interval: float = 0.5,
        max_backoff: float = 30.0,
    ) -> None:
        self._engine = engine
        self._table = table
        self._publisher = publisher
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._backoff = Backoff(first=poll_interval, cap=max(poll_interval, max_backoff))
        self._wakeup = Wakeup()

    def notify(self) -> None:
        """Wakes the relay now (call after committing a transaction that wrote events)."""
        self._wakeup.notify()

    async def publish_pending(self) -> int:
        """Publishes one batch of unpublished rows; returns how many were confirmed.

        Raises the publisher's error when none of the batch could be published.
        """
        async with self._engine.begin() as conn:
            rows = await self._claim(conn)
            if not rows:
                return 0
            messages = [_as_message(row) for row in rows]
            results = await asyncio.gather(
                *(self._publisher.publish(m) for m in messages), return_exceptions=True
            )
            confirmed: list[UUID] = []
            for message, result in zip(messages, results, strict=True):
                if isinstance(result, BaseException):
                    await self._record_failure(conn, message.event_id, result)
                else:
                    confirmed.append(message.event_id)
            if confirmed:
                now = datetime.now(UTC)
                await conn.execute(
                    update(self._table).where(self._table.c.id.in_(confirmed)).values(published_at=now)
                )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures and not confirmed:
            raise failures[0]
        return len(confirmed)

    async def _claim(self, conn: AsyncConnection) -> Sequence[RowMapping]:
        t = self._table
        query = (
            select(t)
            .where(t.c.published_at.is_(None))
            .order_by(t.c.occurred_at, t.c.seq, t.c.id)
            .limit(self._batch_size)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite holds its write lock instead
        )
        return (await conn.execute(query)).mappings().all()

    async def _record_failure(self, conn: AsyncConnection, event_id: UUID, error: BaseException) -> None:
        t = self._table
        await conn.execute(
            update(t)
            .where(t.c.id == event_id)
            .values(attempts=t.c.attempts + 1, last_error=repr(error)[:2000])
        )

    async def drain(self) -> int:
        """Publishes until the outbox is empty or a publish fails; returns how many were published."""
        total = 0
        while published := await self.publish_pending():
            total += published
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Relays until ``stop`` is set, then flushes what is left once (best effort)."""
        failures = 0
        while not stop.is_set():
            # Cleared before the pass, so a notify() that arrives while it runs triggers the next one at once.
            self._wakeup.arm()
            try:
                published = await self.publish_pending()
                failures = 0
            except Exception as error:  # broker or database down: back off and keep the rows
                failures += 1
                delay = self._backoff.delay(failures)
                log.warning("outbox relay: publish failed (%r); retrying in %.1fs", error, delay)
                # Only a stop cuts the backoff short: commits keep notifying while the broker is down.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                continue
            if published < self._batch_size:
                await self._wakeup.sleep(stop, self._poll_interval)
        try:
            flushed = await self.drain()
            log.info("outbox relay stopped; flushed %d event(s)", flushed)
        except Exception as error:
            log.warning(
                "outbox relay stopped with events left in the outbox (%r); they go out on restart", error
            )

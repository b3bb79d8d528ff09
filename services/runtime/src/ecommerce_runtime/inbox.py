"""Idempotent consumption: a consumer records each event id in the same transaction as its effect.

``first_delivery`` inserts the event id and says whether this is the first time it is seen; a
redelivered or duplicated event finds its id already there and the handler skips the effect. Because the
insert and the effect commit together, a crash in between leaves neither, and the redelivery does both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol
from uuid import UUID

from sqlalchemy import Column, DateTime, MetaData, String, Table, Uuid, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


class EventRef(Protocol):
    """What a use case needs of the event it handles: the id the inbox deduplicates by, and its type.

    The bus hands over its ``IncomingEvent``, which has both; use cases never see the transport.
    """

    @property
    def event_id(self) -> UUID: ...

    @property
    def event_type(self) -> str: ...


def inbox_table(metadata: MetaData) -> Table:
    """The ``inbox`` table, added to a service's own metadata (and so to its migrations)."""
    return Table(
        "inbox",
        metadata,
        Column("event_id", Uuid, primary_key=True),
        Column("event_type", String(64), nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False),
    )


async def first_delivery(conn: AsyncConnection, table: Table, event: EventRef) -> bool:
    """Records ``event`` as handled in the connection's transaction; False if it already was."""
    dialect = conn.dialect.name
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    statement = insert.values(
        event_id=event.event_id, event_type=event.event_type, received_at=datetime.now(UTC)
    ).on_conflict_do_nothing(index_elements=["event_id"])
    result = await conn.execute(statement)
    return bool(result.rowcount == 1)


async def handled_before(conn: AsyncConnection, table: Table, event: EventRef) -> bool:
    """Whether ``event`` is in the inbox already (reads only)."""
    query = select(table.c.event_id).where(table.c.event_id == event.event_id)
    return (await conn.execute(query)).first() is not None

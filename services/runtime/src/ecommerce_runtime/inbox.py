"""Idempotent consumption: a consumer records each event id in the same transaction as its effect.

``first_delivery`` inserts the event id and says whether this is the first time it is seen; a
redelivered or duplicated event finds its id already there and the handler skips the effect. Because the
insert and the effect commit together, a crash in between leaves neither, and the redelivery does both.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, MetaData, String, Table, Uuid
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ecommerce_runtime.messages import IncomingEvent


def inbox_table(metadata: MetaData) -> Table:
    """The ``inbox`` table, added to a service's own metadata (and so to its migrations)."""
    return Table(
        "inbox",
        metadata,
        Column("event_id", Uuid, primary_key=True),
        Column("event_type", String(64), nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False),
    )


async def first_delivery(conn: AsyncConnection, table: Table, event: IncomingEvent) -> bool:
    """Records ``event`` as handled in the connection's transaction; False if it already was."""
    dialect = conn.dialect.name
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    statement = insert.values(
        event_id=event.event_id, event_type=event.event_type, received_at=datetime.now(UTC)
    ).on_conflict_do_nothing(index_elements=["event_id"])
    result = await conn.execute(statement)
    return bool(result.rowcount == 1)

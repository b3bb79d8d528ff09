"""Alembic migrations, one history per service, applied at start and by ``make migrate``.

A service's ``migrations/env.py`` is two lines: import its metadata and call ``run_migrations(metadata)``.
A new revision is a file in ``migrations/versions/`` written like the last one (``0002_<what>.py`` with
``revision = "0002"`` and ``down_revision = "0001"``); there is no ``alembic revision`` template.
``upgrade_to_head`` runs the service's history on the service's own async engine, sharing its
connection with Alembic (Alembic itself is synchronous), so the same code serves SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATION_LOCK_KEY = 0x65636F6D  # any constant: each service migrates its own database


def _config(script_location: Path, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["connection"] = connection
    return config


async def upgrade_to_head(engine: AsyncEngine, script_location: Path) -> None:
    """Brings the database of ``engine`` to the newest revision under ``script_location``."""

    def _upgrade(connection: Connection) -> None:
        command.upgrade(_config(script_location, connection), "head")

    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Replicas (or init containers) starting together take turns; the later ones find head reached.
            # SQLite needs nothing: BEGIN IMMEDIATE already serializes writers.
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        await conn.run_sync(_upgrade)


def run_migrations(target_metadata: MetaData) -> None:
    """The body of every service's ``env.py``; needs the connection ``upgrade_to_head`` shares."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through ecommerce_runtime.migrations.upgrade_to_head")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()

"""Database metrics: PostgreSQL's transaction counters, and the services' own tables read after a step.

Transactions per order come from ``pg_stat_database`` (xact_commit + xact_rollback) of the run's
databases. Since PostgreSQL 15 a backend flushes those counters when it goes idle, at most once a second,
and an idle backend with counts still pending flushes them within 10 s (``PGSTAT_IDLE_INTERVAL``): a
reading is complete only that long after the work. The bench therefore waits ``--pg-settle-seconds``
before the closing reading of a step.

The bench reads the services' tables (order status and times, notifications, outbox rows) on a
connection of its own that it closes and whose backend it waits to see exit, so that its reads are
flushed (and reaped into the postmaster's CPU time) before the next step's opening reading.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import asyncpg
from sqlalchemy.engine import make_url

from ecommerce_bench.pipeline import OrderTimes
from ecommerce_bench.processes import process_exists
from ecommerce_runtime.testing.postgres import DEFAULT_ADMIN_URL


def admin_url() -> str:
    """The PostgreSQL server the run's databases are made on (the tests' ``PG_TEST_URL``)."""
    return os.environ.get("PG_TEST_URL", DEFAULT_ADMIN_URL)


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresCounters:
    """Transactions of the run's databases so far, read over one connection to the admin database."""

    def __init__(self, connection: asyncpg.Connection, databases: dict[str, str]) -> None:
        self._connection = connection
        self._services = {database: service for service, database in databases.items()}

    @classmethod
    async def connect(cls, service_urls: dict[str, str]) -> PostgresCounters:
        databases = {service: make_url(url).database or "" for service, url in service_urls.items()}
        return cls(await asyncpg.connect(admin_url(), timeout=10), databases)

    async def transactions(self) -> dict[str, int]:
        """Service -> committed + rolled back transactions of its database."""
        rows = await self._connection.fetch(
            "SELECT datname, xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = ANY($1)",
            list(self._services),
        )
        return {self._services[row["datname"]]: int(row["n"]) for row in rows}

    async def close(self) -> None:
        await self._connection.close()


@dataclass(frozen=True, slots=True)
class StepTables:
    """What the services' tables say about a step."""

    orders: dict[str, OrderTimes]
    published: dict[str, int]
    """Outbox rows written during the step, per service that has an outbox."""


ORDERS = "SELECT id, status, created_at, updated_at FROM orders WHERE created_at >= ?"
PAID_NOTICES = (
    "SELECT order_id, created_at, sent_at FROM notifications"
    " WHERE template = 'order_paid' AND created_at >= ?"
)
OUTBOX = "SELECT count(*) FROM outbox WHERE occurred_at >= ? AND occurred_at < ?"


def _moment(value: Any) -> datetime:
    """A timestamp as asyncpg (aware) or SQLite (naive UTC text, SQLAlchemy's format) returns it."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _as_utc(value: Any) -> datetime | None:
    return None if value is None else _moment(value)


def _uuid(value: Any) -> str:
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


class _Session(Protocol):
    """The reads of one service database: ``?`` placeholders, timestamps as each engine wants them."""

    async def fetch(self, sql: str, *params: datetime) -> list[Sequence[Any]]: ...

    async def has_table(self, name: str) -> bool: ...


class _PostgresSession:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def fetch(self, sql: str, *params: datetime) -> list[Sequence[Any]]:
        parts = sql.split("?")
        numbered = "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]
        return [tuple(row) for row in await self._connection.fetch(numbered, *params)]

    async def has_table(self, name: str) -> bool:
        return bool(await self._connection.fetchval("SELECT to_regclass($1) IS NOT NULL", name))


class _SqliteSession:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    async def fetch(self, sql: str, *params: datetime) -> list[Sequence[Any]]:
        texts = [p.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") for p in params]
        return await asyncio.to_thread(lambda: self._connection.execute(sql, texts).fetchall())

    async def has_table(self, name: str) -> bool:
        rows = await asyncio.to_thread(
            lambda: self._connection.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
            ).fetchall()
        )
        return bool(rows[0][0])


class ServiceTables:
    """Reads the services' databases (SQLAlchemy URLs, PostgreSQL or SQLite) after each step."""

    def __init__(self, service_urls: dict[str, str]) -> None:
        self._urls = service_urls

    @asynccontextmanager
    async def _session(self, service: str) -> AsyncIterator[_Session]:
        url = make_url(self._urls[service])
        if url.get_backend_name() == "sqlite":
            connection = sqlite3.connect(Path(url.database or ""), timeout=30, check_same_thread=False)
            try:
                yield _SqliteSession(connection)
            finally:
                connection.close()
            return
        pg = await asyncpg.connect(asyncpg_dsn(self._urls[service]), timeout=10)
        try:
            backend = int(await pg.fetchval("SELECT pg_backend_pid()"))
            yield _PostgresSession(pg)
        finally:
            await pg.close()
        for _ in range(200):  # the backend flushes its statistics on exit; wait until it is reaped
            if not process_exists(backend):
                break
            await asyncio.sleep(0.025)

    async def after_step(self, since: datetime, start: datetime, end: datetime) -> StepTables:
        """Orders created since ``since`` with their payment and email times; outbox rows written in
        [``start``, ``end``) per service."""
        orders: list[Sequence[Any]] = []
        notices: list[Sequence[Any]] = []
        published: dict[str, int] = {}
        for service in self._urls:
            async with self._session(service) as session:
                if service == "orders":
                    orders = await session.fetch(ORDERS, since)
                if service == "notifications":
                    notices = await session.fetch(PAID_NOTICES, since)
                if await session.has_table("outbox"):
                    published[service] = int((await session.fetch(OUTBOX, start, end))[0][0])
        paid_notices = {
            _uuid(order_id): (_as_utc(created), _as_utc(sent)) for order_id, created, sent in notices
        }
        times = {}
        for id_, status, created, updated in orders:
            order_id = _uuid(id_)
            notified, sent = paid_notices.get(order_id, (None, None))
            times[order_id] = OrderTimes(
                order_id=order_id,
                status=str(status),
                created_at=_moment(created),
                paid_at=_as_utc(updated) if status == "PAID" else None,
                notified_at=notified,
                email_at=sent,
            )
        return StepTables(times, published)

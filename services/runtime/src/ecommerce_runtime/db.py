"""The async SQLAlchemy engine of a service: SQLite under ``var/`` by default, PostgreSQL by URL.

SQLite is the embedded default so one machine runs everything. It allows one writer at a time; every
transaction starts with ``BEGIN IMMEDIATE`` so that two writers queue up on the lock instead of failing
when a read transaction tries to upgrade (the classic SQLITE_BUSY deadlock), and WAL lets readers go on.
PostgreSQL is used when the service's database URL is set; ``postgres://`` and ``postgresql://`` URLs are
mapped to the asyncpg driver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_S = 30

UNREACHABLE = (OperationalError, InterfaceError, OSError, TimeoutError)
"""What a database that cannot be reached raises (refused, timed out, dropped): worth trying again later."""


def database_url(configured: str | None, service: str, var_dir: Path) -> str:
    """The URL to use: the configured one, else a SQLite file ``<var_dir>/<service>.db``."""
    if configured:
        url = make_url(configured)
        if url.drivername in {"postgres", "postgresql", "postgresql+psycopg2"}:
            url = url.set(drivername="postgresql+asyncpg")
        elif url.drivername == "sqlite":
            url = url.set(drivername="sqlite+aiosqlite")
        return url.render_as_string(hide_password=False)
    return f"sqlite+aiosqlite:///{(var_dir / f'{service}.db').as_posix()}"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine for ``url`` (see ``database_url``), configured for safe concurrent writers."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, **kwargs)
    _serialize_sqlite_writers(engine)
    return engine


def _serialize_sqlite_writers(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's begin below control transactions
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

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

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_S = 30

UNREACHABLE = (OperationalError, InterfaceError, OSError, TimeoutError)
"""What a database that cannot be reached raises (refused, timed out, dropped); ``database_unreachable``
tells these from the statement errors some of them also carry."""

# SQLSTATE classes that say the server, not the statement, is the problem: 08 connection exception (08003:
# asyncpg's "connection was closed in the middle of operation"), 53 insufficient resources (too many
# connections, disk full, out of memory), 57P operator intervention (shutdown, crash, "cannot connect now").
# Class 57's other code, 57014 query_canceled, is left out: a statement timeout is no outage. 23 (integrity),
# 42 (syntax, undefined table, privileges), 22 (data) stay INTERNAL: a retry would fail the same way.
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P")
# 40001 serialization_failure, 40P01 deadlock_detected: a concurrent transaction won; the same request
# succeeds when tried again.
_ABORTED_SQLSTATES = ("40001", "40P01")
_SQLITE_ERROR = 1  # the primary result code of a statement SQLite refuses (SQLITE_BUSY 5, SQLITE_IOERR 10...)


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


def create_engine(url: str, *, pool_size: int = 5, max_overflow: int = 10, **kwargs: Any) -> AsyncEngine:
    """An engine for ``url`` (see ``database_url``), configured for safe concurrent writers, holding at
    most ``pool_size`` + ``max_overflow`` connections."""
    parsed = make_url(url)
    in_memory = parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")
    if not in_memory:  # an in-memory SQLite database is one shared connection (StaticPool): no size to set
        kwargs.update(pool_size=pool_size, max_overflow=max_overflow)
    if parsed.get_backend_name() != "sqlite":
        # No pre-ping: it costs a transaction per checkout. A connection that died (a restart, a failover)
        # fails its statement with a disconnect error, which invalidates the pool, and that unit of work is
        # retried like any other outage (the consumer redelivers; gRPC answers UNAVAILABLE).
        return create_async_engine(url, **kwargs)
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


def _sqlstate(error: exc.DBAPIError) -> str:
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return code if isinstance(code, str) else ""


def database_unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be used right now (try again later), not that the
    statement is wrong.

    - ``db.UNREACHABLE``: connection refused or timed out (OSError, TimeoutError), the driver's
      OperationalError and InterfaceError (SQLite: locked, I/O error; asyncpg: "connection is closed"),
      except SQLite's plain SQLITE_ERROR, its OperationalError for "no such table" and syntax errors;
    - SQLAlchemy's pool ``TimeoutError`` (every connection busy: overload) and ``DisconnectionError``;
    - any ``DBAPIError`` whose connection SQLAlchemy found gone (``connection_invalidated``: the dialect's
      ``is_disconnect``), which asyncpg reports as a generic ``DBAPIError``, or whose SQLSTATE is a
      server-side class (``_UNAVAILABLE_SQLSTATES``), such as "too many connections" at connect time.

    IntegrityError, ProgrammingError, DataError and the rest are bugs or bad data: not unreachable.
    """
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated or _sqlstate(error).startswith(_UNAVAILABLE_SQLSTATES):
            return True
        if getattr(error.orig, "sqlite_errorcode", 0) & 0xFF == _SQLITE_ERROR:
            return False
    return isinstance(error, (*UNREACHABLE, exc.TimeoutError, exc.DisconnectionError))


def transaction_aborted(error: BaseException) -> bool:
    """Whether a concurrent transaction won (serialization failure, deadlock): the same work succeeds when
    tried again."""
    return isinstance(error, exc.DBAPIError) and _sqlstate(error) in _ABORTED_SQLSTATES

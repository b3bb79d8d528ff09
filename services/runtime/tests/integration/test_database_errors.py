"""What the real drivers raise, classified by ``database_unreachable``: a PostgreSQL that refuses or drops
connections is unreachable (asyncpg reports a connection lost mid-statement as a generic DBAPIError); a
statement that is wrong is not, on PostgreSQL or SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ecommerce_runtime.db import create_engine, database_unreachable
from ecommerce_runtime.testing.postgres import temporary_postgres_database
from ecommerce_runtime.testing.rabbitmq import BrokerProxy


async def run(engine: AsyncEngine, *statements: str, proxy_to_cut: BrokerProxy | None = None) -> None:
    """``statements`` in one transaction; the proxy (if any) is cut before the last one."""
    async with engine.begin() as conn:
        for number, statement in enumerate(statements, 1):
            if proxy_to_cut is not None and number == len(statements):
                await proxy_to_cut.cut()
            await conn.execute(text(statement))


async def raised(engine: AsyncEngine, *statements: str, proxy_to_cut: BrokerProxy | None = None) -> Exception:
    with pytest.raises(Exception) as caught:  # noqa: PT011 -- classifying whatever comes is the point
        await run(engine, *statements, proxy_to_cut=proxy_to_cut)
    assert isinstance(caught.value, Exception)
    return caught.value


@pytest_asyncio.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with temporary_postgres_database() as url:
        yield url


async def test_a_refused_connection_is_unreachable() -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nothing")
    try:
        assert database_unreachable(await raised(engine, "SELECT 1"))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("pre_ping", [True, False])
async def test_a_connection_that_drops_is_unreachable(postgres_url: str, pre_ping: bool) -> None:
    proxy = BrokerProxy(postgres_url)  # a plain TCP proxy, whatever its name says
    engine = create_async_engine(await proxy.start(), pool_pre_ping=pre_ping)
    try:
        async with engine.connect() as conn:  # a pooled connection, then the server "goes away"
            await conn.execute(text("SELECT 1"))
        await proxy.cut()
        assert database_unreachable(await raised(engine, "SELECT 1"))
        await proxy.restore()
        cut_mid_transaction = await raised(engine, "SELECT 1", "SELECT 2", proxy_to_cut=proxy)
        assert isinstance(cut_mid_transaction, DBAPIError)
        assert database_unreachable(cut_mid_transaction)
    finally:
        await proxy.cut()
        await engine.dispose()


async def test_wrong_statements_are_not_unreachable_on_postgresql(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id int PRIMARY KEY)"))
        for statements in (
            ["INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (1)"],  # unique violation
            ["SELEKT 1"],  # syntax error
            ["SELECT * FROM missing"],  # undefined table
            ["SELECT 'x'::int"],  # invalid input
            ["SET LOCAL statement_timeout = 1", "SELECT pg_sleep(1)"],  # query canceled: no outage
        ):
            error = await raised(engine, *statements)
            assert not database_unreachable(error), repr(error)
    finally:
        await engine.dispose()


async def test_wrong_statements_are_not_unreachable_on_sqlite(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'check.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id int PRIMARY KEY)"))
        for statements in (
            ["INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (1)"],  # IntegrityError
            ["SELEKT 1"],  # OperationalError (SQLITE_ERROR)
            ["SELECT * FROM missing"],  # OperationalError (SQLITE_ERROR)
        ):
            error = await raised(engine, *statements)
            assert not database_unreachable(error), repr(error)
    finally:
        await engine.dispose()


async def test_a_locked_sqlite_database_is_unreachable(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'check.db'}"
    holder = create_engine(url)  # BEGIN IMMEDIATE: holds the write lock
    waiter = create_async_engine(url, connect_args={"timeout": 0.05})
    try:
        async with holder.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id int PRIMARY KEY)"))
        async with holder.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            error = await raised(waiter, "INSERT INTO t VALUES (2)")
        assert "locked" in str(error)
        assert database_unreachable(error)
    finally:
        await waiter.dispose()
        await holder.dispose()

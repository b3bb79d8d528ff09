"""Fixtures of the Payment Service's integration tests: a migrated database on SQLite and on PostgreSQL, and a
RabbitMQ vhost. Nothing is faked: they run against the real servers (``ecommerce_runtime.testing``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from ecommerce_runtime.db import create_engine
from ecommerce_runtime.migrations import upgrade_to_head
from ecommerce_runtime.testing.postgres import temporary_postgres_database
from ecommerce_runtime.testing.rabbitmq import temporary_vhost
from payments.bootstrap import MIGRATIONS


@pytest_asyncio.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'payments.db'}"
    else:
        async with temporary_postgres_database() as url:
            yield url


@pytest_asyncio.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated database."""
    engine = create_engine(database_url)
    await upgrade_to_head(engine, MIGRATIONS)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vhost_url() -> AsyncIterator[str]:
    async with temporary_vhost() as url:
        yield url

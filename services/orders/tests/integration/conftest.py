"""Fixtures of the Order Service's integration tests: a migrated database on SQLite and on PostgreSQL,
and a RabbitMQ vhost. Nothing is faked: they run against the real servers (``ecommerce_runtime.testing``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from ecommerce_runtime.db import create_engine
from ecommerce_runtime.migrations import upgrade_to_head
from ecommerce_runtime.testing.postgres import temporary_postgres_database
from ecommerce_runtime.testing.rabbitmq import temporary_vhost
from orders.adapters.catalog_seed import load_catalog, seed_catalog
from orders.adapters.repository import SqlUnitOfWork
from orders.bootstrap import MIGRATIONS
from orders.handlers import OrderHandlers

TEST_CATALOG = [
    {
        "sku": "MUG-001",
        "name": "Mug",
        "description": "",
        "unit_price_minor": 1250,
        "currency": "EUR",
        "stock": 500,
    },
    {
        "sku": "TEE-042",
        "name": "Tee",
        "description": "",
        "unit_price_minor": 2400,
        "currency": "EUR",
        "stock": 300,
    },
    {
        "sku": "LTD-001",
        "name": "Print",
        "description": "",
        "unit_price_minor": 15000,
        "currency": "EUR",
        "stock": 10,
    },
]


@pytest.fixture
def catalog_file(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(TEST_CATALOG))
    return path


@pytest_asyncio.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
    else:
        async with temporary_postgres_database() as url:
            yield url


@pytest_asyncio.fixture
async def engine(database_url: str, catalog_file: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated database with the test catalog."""
    engine = create_engine(database_url)
    await upgrade_to_head(engine, MIGRATIONS)
    await seed_catalog(engine, load_catalog(catalog_file))
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def handlers(engine: AsyncEngine) -> OrderHandlers:
    return OrderHandlers(lambda: SqlUnitOfWork(engine))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vhost_url() -> AsyncIterator[str]:
    async with temporary_vhost() as url:
        yield url

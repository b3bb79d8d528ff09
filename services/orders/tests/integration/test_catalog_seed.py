"""The catalog seed when replicas start together: every seed succeeds and the catalog is seeded once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ecommerce_runtime.db import create_engine
from ecommerce_runtime.migrations import upgrade_to_head
from orders.adapters import tables
from orders.adapters.catalog_seed import load_catalog, seed_catalog
from orders.bootstrap import MIGRATIONS

REPLICAS = 4


@pytest_asyncio.fixture
async def replicas(database_url: str) -> AsyncIterator[list[AsyncEngine]]:
    """One engine per replica on the same migrated, empty database (SQLite and PostgreSQL)."""
    engines = [create_engine(database_url) for _ in range(REPLICAS)]
    await upgrade_to_head(engines[0], MIGRATIONS)
    for engine in engines:  # connected beforehand, so that the seeds race (they did fail so, unlocked)
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    try:
        yield engines
    finally:
        await asyncio.gather(*(engine.dispose() for engine in engines))


async def test_replicas_seeding_an_empty_database_at_once_all_succeed_and_seed_it_once(
    replicas: list[AsyncEngine], catalog_file: Path
) -> None:
    products = load_catalog(catalog_file)
    added = await asyncio.gather(*(seed_catalog(engine, products) for engine in replicas))
    assert sorted(added) == [0] * (REPLICAS - 1) + [len(products)]
    async with replicas[0].connect() as conn:
        rows = (await conn.execute(select(tables.products.c.sku, tables.products.c.stock_available))).all()
    assert sorted(rows) == sorted((p.sku, p.stock) for p in products)


async def test_a_later_seed_adds_only_new_products_and_leaves_the_others_as_they_are(
    replicas: list[AsyncEngine], catalog_file: Path
) -> None:
    products = load_catalog(catalog_file)
    assert await seed_catalog(replicas[0], products[:1]) == 1
    async with replicas[0].begin() as conn:
        await conn.execute(tables.products.update().values(stock_available=0))
    assert await seed_catalog(replicas[1], products) == len(products) - 1
    stock = tables.products.c.stock_available
    async with replicas[0].connect() as conn:
        rows = dict((await conn.execute(select(tables.products.c.sku, stock))).all())
        count = (await conn.execute(select(func.count()).select_from(tables.products))).scalar_one()
    assert count == len(products)
    assert rows[products[0].sku] == 0  # the seed never resets what the shop changed

"""Seeds the catalog from a JSON file on first start; products already present are left as they are."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from ecommerce.rest import constraints as api
from orders.adapters import tables

SEED_LOCK_KEY = 0x63617461  # any constant other than the migrations' (ecommerce_runtime.migrations)


class SeedProduct(BaseModel):
    """A product as the catalog file lists it: held to the limits of ``Product`` in the API."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: str = Field(pattern=api.PRODUCT_SKU_PATTERN)
    name: str = Field(min_length=api.PRODUCT_NAME_MIN_LENGTH, max_length=api.PRODUCT_NAME_MAX_LENGTH)
    description: str = Field(max_length=api.PRODUCT_DESCRIPTION_MAX_LENGTH)
    unit_price_minor: int = Field(ge=api.MONEY_AMOUNT_MINOR_MINIMUM, le=api.MONEY_AMOUNT_MINOR_MAXIMUM)
    currency: str = Field(pattern=api.MONEY_CURRENCY_PATTERN)
    stock: int = Field(ge=api.PRODUCT_STOCK_AVAILABLE_MINIMUM, le=api.PRODUCT_STOCK_AVAILABLE_MAXIMUM)


def load_catalog(path: Path) -> list[SeedProduct]:
    """The products in ``path``; raises ``pydantic.ValidationError`` naming the bad entry."""
    return TypeAdapter(list[SeedProduct]).validate_json(path.read_bytes())


async def seed_catalog(engine: AsyncEngine, products: list[SeedProduct]) -> int:
    """Inserts the products whose SKU is not in the database yet; returns how many were added.

    Replicas may seed an empty database at the same time: on PostgreSQL they take turns on an advisory
    lock held to the end of the transaction (SQLite's BEGIN IMMEDIATE already serializes writers), and the
    insert skips SKUs that are there, so the later ones add nothing and fail nothing.
    """
    if not products:
        return 0
    rows = [
        {
            "sku": p.sku,
            "name": p.name,
            "description": p.description,
            "unit_price_minor": p.unit_price_minor,
            "currency": p.currency,
            "stock_available": p.stock,
        }
        for p in products
    ]
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEED_LOCK_KEY})
            statement: postgresql.Insert | sqlite.Insert = postgresql.insert(tables.products)
        else:
            statement = sqlite.insert(tables.products)
        added = await conn.execute(
            statement.values(rows)
            .on_conflict_do_nothing(index_elements=[tables.products.c.sku])
            .returning(tables.products.c.sku)
        )
        return len(added.all())


DEFAULT_CATALOG = Path(__file__).resolve().parents[1] / "catalog.json"

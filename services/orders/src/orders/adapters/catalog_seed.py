"""Seeds the catalog from a JSON file on first start; products already present are left as they are."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from orders.adapters import tables
from orders.domain import SKU


class SeedProduct(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: str = Field(pattern=SKU.pattern)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(max_length=2000)
    unit_price_minor: int = Field(ge=0, le=100_000_000_000)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    stock: int = Field(ge=0, le=1_000_000)


def load_catalog(path: Path) -> list[SeedProduct]:
    """The products in ``path``; raises ``pydantic.ValidationError`` naming the bad entry."""
    return TypeAdapter(list[SeedProduct]).validate_json(path.read_bytes())


async def seed_catalog(engine: AsyncEngine, products: list[SeedProduct]) -> int:
    """Inserts the products whose SKU is not in the database yet; returns how many were added."""
    async with engine.begin() as conn:
        existing = set((await conn.execute(select(tables.products.c.sku))).scalars())
        new = [p for p in products if p.sku not in existing]
        if new:
            await conn.execute(
                tables.products.insert(),
                [
                    {
                        "sku": p.sku,
                        "name": p.name,
                        "description": p.description,
                        "unit_price_minor": p.unit_price_minor,
                        "currency": p.currency,
                        "stock_available": p.stock,
                    }
                    for p in new
                ],
            )
    return len(new)


DEFAULT_CATALOG = Path(__file__).resolve().parents[1] / "catalog.json"

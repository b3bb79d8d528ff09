"""Who orders what: the bench's customers (registered and logged in through the SDK) and the catalog.

A stack the bench starts gets its own catalog (``BENCH-*`` products with the most stock the API allows),
so a long run never sells out; against an external stack the bench orders what is in stock there.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from ecommerce_sdk import AsyncClient

BENCH_SKU_PREFIX = "BENCH-"
MAX_STOCK = 1_000_000  # Product.stock_available's maximum in specs/openapi.yaml
PAYMENT_TOKEN = "tok_success"  # the payment simulator charges it at once (services/payments)


@dataclass
class Customer:
    """One account; ``token`` is replaced in place when it is renewed."""

    email: str
    password: str
    token: str
    expires_at: float
    """Event-loop time at which the token expires."""


def bench_catalog(products: int = 20) -> list[dict[str, object]]:
    """The catalog of a started stack (``ORDERS_CATALOG_FILE``): several products, so that concurrent
    orders do not all queue for one product's stock row."""
    return [
        {
            "sku": f"{BENCH_SKU_PREFIX}{n:03d}",
            "name": f"Benchmark product {n}",
            "description": "Ordered by the benchmark.",
            "unit_price_minor": 1000 + n,
            "currency": "EUR",
            "stock": MAX_STOCK,
        }
        for n in range(1, products + 1)
    ]


async def _log_in(client: AsyncClient, customer: Customer) -> None:
    token = await client.auth.login(email=customer.email, password=customer.password)
    customer.token = token.access_token
    customer.expires_at = asyncio.get_running_loop().time() + token.expires_in


async def sign_up(base_url: str, count: int, tag: str) -> list[Customer]:
    """``count`` new customer accounts, each logged in."""
    customers = []
    async with AsyncClient(base_url=base_url) as client:
        for n in range(count):
            customer = Customer(f"bench-{tag}-{n}@example.com", secrets.token_urlsafe(18), "", 0.0)
            await client.auth.register(email=customer.email, password=customer.password)
            await _log_in(client, customer)
            customers.append(customer)
    return customers


async def renew_tokens(base_url: str, customers: list[Customer], valid_for: float) -> None:
    """Logs in again every customer whose token would expire within ``valid_for`` seconds."""
    now = asyncio.get_running_loop().time()
    stale = [c for c in customers if c.expires_at - now < valid_for]
    if stale:
        async with AsyncClient(base_url=base_url) as client:
            for customer in stale:
                await _log_in(client, customer)


async def orderable_skus(base_url: str) -> list[str]:
    """The bench's products if the catalog has them, else the ten products with the most stock."""
    async with AsyncClient(base_url=base_url) as client:
        products = [p async for p in client.products.list(page_size=100) if p.stock_available > 0]
    bench = [p.sku for p in products if p.sku.startswith(BENCH_SKU_PREFIX)]
    if bench:
        return bench
    if not products:
        raise RuntimeError(f"no product of {base_url}/products is in stock: nothing to order")
    return [p.sku for p in sorted(products, key=lambda p: -p.stock_available)[:10]]

"""Helpers of the gateway's integration tests: a signed-up customer, problem checks, what was written."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
from gateway_backends import Backends
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.adapters.tables import users
from gateway.bootstrap import Gateway
from orders.adapters import tables as orders_tables

PASSWORD = "correct horse battery staple"
ORDER = {"items": [{"sku": "MUG-001", "quantity": 2}], "payment_token": "tok_success"}


@dataclass(frozen=True)
class Customer:
    id: UUID
    email: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


SignUp = Callable[..., Awaitable[Customer]]


def problem(response: httpx.Response, status: int, detail: str = "") -> dict[str, Any]:
    """The problem body of ``response``, checked: status, media type, request id, detail."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    assert detail in body["detail"], body["detail"]
    return body


async def count_rows(engine: AsyncEngine, *tables: Any) -> tuple[int, ...]:
    async with engine.connect() as conn:
        return tuple([(await conn.execute(select(func.count()).select_from(t))).scalar_one() for t in tables])


async def written(gateway: Gateway, backends: Backends) -> tuple[int, ...]:
    """Everything a request could have written: users, orders and their lines, keys, outbox, stock."""
    assert gateway.engine is not None
    (user_count,) = await count_rows(gateway.engine, users)
    order_counts = await count_rows(
        backends.orders.engine,
        orders_tables.orders,
        orders_tables.order_lines,
        orders_tables.idempotency_keys,
        orders_tables.outbox,
    )
    async with backends.orders.engine.connect() as conn:
        stock = (await conn.execute(select(func.sum(orders_tables.products.c.stock_available)))).scalar_one()
    return (user_count, *order_counts, stock)

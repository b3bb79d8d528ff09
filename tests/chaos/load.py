"""The customers of a chaos run: orders placed through the SDK, open loop, and every answer they saw.

Each order is due at ``i / rate`` seconds and is sent then, answered or not the ones before it (a stalled
stack shows as a pile of waiting customers, not as a slower load). A customer is patient the way the SDK
is: 503/502/504, timeouts and refused connections are retried with the same idempotency key, waiting
``Retry-After`` or backing off, up to ``MAX_RETRIES`` times. Some orders are paid with a card that is
declined or that the provider fails on twice, and some are cancelled right after they were placed, so
declines, compensations and refunds are under fault too.

Every attempt -- not only the last of each call -- is counted by its status (or ``timeout``,
``connection``) by a transport under the SDK's: the client-visible errors of the report.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from ecommerce_sdk import APIConnectionError, APIStatusError, APITimeoutError, AsyncClient

MAX_RETRIES = 30
"""Enough to ride out the longest outage (Retry-After 2 s, backoff capped at 8 s)."""
TIMEOUT = httpx.Timeout(20.0, connect=5.0)
TOKENS = {"tok_success": 0.8, "tok_declined": 0.1, "tok_transient": 0.1}
"""Payment tokens and their share: charged; declined; provider unavailable twice, then charged."""
CANCEL_SHARE = 0.1
"""Orders cancelled by their customer right after they were placed (refunded if charged meanwhile)."""
SKUS = [f"BENCH-{n:03d}" for n in range(1, 21)]
"""The fleet's catalog (``ecommerce_bench.workload.bench_catalog``)."""


@dataclass
class Customer:
    email: str
    user_id: str
    client: AsyncClient


@dataclass
class PlacedOrder:
    """One order a customer tried to place, and what became of it as the customer saw it."""

    key: str
    """Its idempotency key."""
    customer: Customer
    token: str
    sent_at: float
    order_id: str | None = None
    accepted_at: float | None = None
    """Wall-clock time of the 201."""
    outcome: str = "pending"
    """``201``, or the status / ``timeout`` / ``connection`` the customer gave up on."""
    cancel: str | None = None
    """The answer to the customer's cancellation, if they cancelled."""


@dataclass
class Attempts(httpx.AsyncBaseTransport):
    """The transport under every customer's SDK client: counts each attempt by operation and answer."""

    inner: httpx.AsyncBaseTransport = field(
        default_factory=lambda: httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=None))
    )
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        operation = "cancel" if request.url.path.endswith("/cancel") else request.method.lower()
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.TimeoutException:
            self.counts[operation, "timeout"] += 1
            raise
        except httpx.TransportError:
            self.counts[operation, "connection"] += 1
            raise
        self.counts[operation, str(response.status_code)] += 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def sign_up(base_url: str, http: httpx.AsyncClient, count: int) -> list[Customer]:
    """``count`` new customers, each with a logged-in SDK client on ``http``."""
    tag = secrets.token_hex(4)
    customers = []
    for n in range(count):
        email, password = f"chaos-{tag}-{n}@example.com", secrets.token_urlsafe(18)
        client = AsyncClient(base_url=base_url, http_client=http, max_retries=MAX_RETRIES, timeout=TIMEOUT)
        user = await client.auth.register(email=email, password=password)
        await client.auth.login(email=email, password=password)
        customers.append(Customer(email, str(user.id), client))
    return customers


def _failure(error: Exception) -> str:
    if isinstance(error, APIStatusError):
        return str(error.status_code)
    return "timeout" if isinstance(error, APITimeoutError) else "connection"


async def place(order: PlacedOrder) -> None:
    """Place ``order`` (and cancel it, for ``CANCEL_SHARE`` of them); fills in what the customer saw."""
    client = order.customer.client
    try:
        placed = await client.orders.create(
            items=[{"sku": random.choice(SKUS), "quantity": 1}],
            payment_token=order.token,
            idempotency_key=order.key,
        )
    except (APIStatusError, APIConnectionError) as error:
        order.outcome = _failure(error)
        return
    order.order_id, order.accepted_at, order.outcome = str(placed.id), time.time(), "201"
    if random.random() < CANCEL_SHARE:
        try:
            await client.orders.cancel(placed.id)
            order.cancel = "200"
        except (APIStatusError, APIConnectionError) as error:
            order.cancel = _failure(error)


def _token() -> str:
    return random.choices(list(TOKENS), list(TOKENS.values()))[0]


async def open_loop(customers: Sequence[Customer], rate: float, seconds: float) -> list[PlacedOrder]:
    """``rate * seconds`` orders at evenly spaced due times, customers in turn; returns once every
    customer has had their answer."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    orders: list[PlacedOrder] = []
    tasks = []
    for i in range(round(rate * seconds)):
        if (delay := start + i / rate - loop.time()) > 0:
            await asyncio.sleep(delay)
        order = PlacedOrder(str(uuid.uuid4()), customers[i % len(customers)], _token(), time.time())
        orders.append(order)
        tasks.append(asyncio.create_task(place(order)))
    await asyncio.gather(*tasks)
    return orders

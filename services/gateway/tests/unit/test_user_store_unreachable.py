"""The gateway's user store when its database refuses connections: registering, logging in and every
authenticated request answer 503 with Retry-After, a warning is logged without a traceback, and no call
reaches a service."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest
import pytest_asyncio
from gateway_backends import closed_port_address
from gateway_fakes import NOW, SECRET, FakeHasher, FakeOrders, fake_backends, settings

from ecommerce_runtime.clock import utc_now
from ecommerce_runtime.db import create_engine
from gateway.adapters.jwt_tokens import JwtTokens
from gateway.adapters.users import SqlUsers
from gateway.bootstrap import bootstrap
from gateway.domain import Role, User

PASSWORD = "correct horse battery staple"
ORDER = {"items": [{"sku": "MUG-001", "quantity": 2}], "payment_token": "tok_success"}
RETRY_AFTER = 7


@pytest.fixture
def orders() -> FakeOrders:
    return FakeOrders()


@pytest_asyncio.fixture
async def client(orders: FakeOrders) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway whose user store is a PostgreSQL nothing listens for."""
    engine = create_engine(f"postgresql+asyncpg://gateway@{closed_port_address()}/gateway")
    gateway = bootstrap(
        settings(retry_after_seconds=RETRY_AFTER),
        users=SqlUsers(engine, retry_after_seconds=RETRY_AFTER),
        password_hasher=FakeHasher(),
        backends=fake_backends(orders),
    )
    await gateway.start()
    transport = httpx.ASGITransport(app=gateway.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test/v1") as client:
        yield client
    await gateway.stop()
    await engine.dispose()


def valid_token() -> str:
    """A token the gateway signed for a user it has: only the store can say whether the user still is."""
    tokens = JwtTokens(
        SECRET.encode(),
        issuer="ecommerce-gateway",
        audience="ecommerce-api",
        ttl_seconds=900,
        leeway_seconds=5,
        clock=utc_now,
    )
    user = User(uuid4(), "ada@example.com", Role.CUSTOMER, "sha256:x", NOW)
    return tokens.issue(user).access_token


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == str(RETRY_AFTER)
    body = response.json()
    assert body["status"] == 503
    assert body["detail"] == f"The gateway's user store is unavailable; retry in {RETRY_AFTER} s."
    assert body["request_id"] == response.headers["x-request-id"]


async def test_register_login_and_authenticated_requests_answer_503_with_retry_after(
    client: httpx.AsyncClient, orders: FakeOrders, caplog: pytest.LogCaptureFixture
) -> None:
    credentials = {"email": "ada@example.com", "password": PASSWORD}
    assert_unavailable(await client.post("/auth/register", json=credentials))
    assert_unavailable(await client.post("/auth/token", json=credentials))
    auth = {"Authorization": f"Bearer {valid_token()}"}
    assert_unavailable(
        await client.post("/orders", json=ORDER, headers={**auth, "Idempotency-Key": "k-0001"})
    )
    assert_unavailable(await client.get("/orders", headers=auth))
    assert orders.calls == []  # nothing was placed: the request stopped at the bearer check
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    store = [r for r in caplog.records if r.name == "gateway.adapters.users"]
    assert len(store) == 4
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in store)

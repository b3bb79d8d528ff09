"""The gateway's own database going away under a running gateway (PostgreSQL behind a TCP proxy that the
test cuts): registering, logging in and placing an order answer 503 with Retry-After and write nothing;
once the database is back, so is the gateway. And the user store itself, whichever way the connection
dies."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from gateway_backends import Backends
from gateway_http import ORDER, PASSWORD, SignUp, problem, written
from sqlalchemy.ext.asyncio import create_async_engine

from ecommerce_runtime.migrations import upgrade_to_head
from ecommerce_runtime.testing.postgres import temporary_postgres_database
from ecommerce_runtime.testing.rabbitmq import BrokerProxy
from gateway.adapters.problems import ApiProblem
from gateway.adapters.users import SqlUsers
from gateway.bootstrap import MIGRATIONS, Gateway


@pytest_asyncio.fixture
async def store_proxy() -> AsyncIterator[tuple[BrokerProxy, str]]:
    """A PostgreSQL database for the users and a proxy in front of it (``BrokerProxy`` is plain TCP)."""
    async with temporary_postgres_database() as url:
        proxy = BrokerProxy(url)
        proxied = await proxy.start()
        try:
            yield proxy, proxied
        finally:
            await proxy.cut()


@pytest.fixture
def users_database_url(store_proxy: tuple[BrokerProxy, str]) -> str:
    return store_proxy[1]


def unavailable(response: httpx.Response) -> None:
    problem(response, 503, "user store is unavailable")
    assert response.headers["retry-after"] == "2"  # the gateway's retry_after_seconds


async def test_while_the_user_store_is_down_requests_answer_503_and_write_nothing(
    client: httpx.AsyncClient,
    gateway: Gateway,
    backends: Backends,
    sign_up: SignUp,
    store_proxy: tuple[BrokerProxy, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy, _ = store_proxy
    ada = await sign_up()
    before = await written(gateway, backends)
    await proxy.cut()
    caplog.clear()

    unavailable(await client.post("/auth/register", json={"email": "bob@example.com", "password": PASSWORD}))
    unavailable(await client.post("/auth/token", json={"email": ada.email, "password": PASSWORD}))
    for _ in range(2):  # the first finds the pooled connection dead, the second cannot connect
        placed = await client.post(
            "/orders", json=ORDER, headers={**ada.auth, "Idempotency-Key": "outage-01"}
        )
        unavailable(placed)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert all(r.exc_info is None for r in caplog.records if r.name.startswith("gateway"))

    await proxy.restore()
    assert await written(gateway, backends) == before  # no user, no order, no stock taken
    again = await client.post("/orders", json=ORDER, headers={**ada.auth, "Idempotency-Key": "outage-01"})
    assert again.status_code == 201, again.text
    created = await client.post("/auth/register", json={"email": "bob@example.com", "password": PASSWORD})
    assert created.status_code == 201, created.text


@pytest.mark.parametrize("pre_ping", [True, False])
async def test_the_user_store_turns_a_dead_connection_into_a_503(
    store_proxy: tuple[BrokerProxy, str], pre_ping: bool
) -> None:
    """With or without a ping before each use: the pooled connection is dead (asyncpg: a generic
    DBAPIError without the ping), then new ones are refused (OSError)."""
    proxy, url = store_proxy
    engine = create_async_engine(url, pool_pre_ping=pre_ping)
    store = SqlUsers(engine, retry_after_seconds=9)
    try:
        await upgrade_to_head(engine, MIGRATIONS)
        assert await store.by_email("nobody@example.com") is None
        await proxy.cut()
        for _ in range(2):
            with pytest.raises(ApiProblem) as raised:
                await store.by_email("nobody@example.com")
            assert (raised.value.status, raised.value.headers) == (503, {"Retry-After": "9"})
        await proxy.restore()
        assert await store.by_email("nobody@example.com") is None
    finally:
        await engine.dispose()

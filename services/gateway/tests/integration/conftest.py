"""Fixtures of the gateway's integration tests: the real Order Service (SQLite) with fake Payment and
Notification Services behind it, the gateway on its own SQLite (or PostgreSQL) user store, and an HTTP
client that drives the gateway's ASGI app in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import pytest_asyncio
from gateway_backends import Backends, orders_sqlite_url, running_backends
from gateway_fakes import cheap_hasher, settings
from gateway_http import PASSWORD, Customer, SignUp

from ecommerce_runtime.testing.rabbitmq import temporary_vhost
from gateway.bootstrap import Gateway, bootstrap


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vhost_url() -> AsyncIterator[str]:
    async with temporary_vhost() as url:
        yield url


@pytest.fixture
def users_database_url(tmp_path: Path) -> str:
    """Where the gateway keeps its users (modules may override it with PostgreSQL)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"


@pytest_asyncio.fixture
async def backends(tmp_path: Path, vhost_url: str) -> AsyncIterator[Backends]:
    async with running_backends(orders_sqlite_url(tmp_path), vhost_url) as running:
        yield running


@pytest.fixture
def gateway_settings(backends: Backends, users_database_url: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "database_url": users_database_url,
        "var_dir": tmp_path,
        "orders_addr": backends.orders_addr,
        "payments_addr": backends.payments_addr,
        "notifications_addr": backends.notifications_addr,
        "grpc_deadline_seconds": 5.0,
    }


@pytest_asyncio.fixture
async def gateway(gateway_settings: dict[str, Any]) -> AsyncIterator[Gateway]:
    gateway = bootstrap(settings(**gateway_settings), password_hasher=cheap_hasher())
    await gateway.start()
    yield gateway
    await gateway.stop()


@pytest_asyncio.fixture
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=gateway.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test/v1") as client:
        yield client


@pytest.fixture
def sign_up(client: httpx.AsyncClient) -> SignUp:
    """Registers a new customer and logs them in."""

    async def sign_up(email: str | None = None) -> Customer:
        email = email or f"{uuid4().hex[:12]}@example.com"
        created = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert created.status_code == 201, created.text
        token = await client.post("/auth/token", json={"email": email, "password": PASSWORD})
        assert token.status_code == 200, token.text
        return Customer(UUID(created.json()["id"]), email, token.json()["access_token"])

    return sign_up

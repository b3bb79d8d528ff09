"""When a service behind the gateway is down or slow: a quick 503 with Retry-After, a 504 after the
deadline, and a readiness probe that says which dependency is missing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
from gateway_backends import Backends, FakeNotificationService, closed_port_address, notification_server
from gateway_fakes import cheap_hasher, settings
from gateway_http import ORDER, SignUp, problem

from gateway.bootstrap import bootstrap

HANG_GUARD_S = 20  # turns a hang into a failure; not a speed assertion


@pytest_asyncio.fixture
async def degraded(gateway_settings: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    """A second gateway on the same user store whose orders and notifications addresses lead nowhere."""
    down = {
        **gateway_settings,
        "orders_addr": closed_port_address(),
        "notifications_addr": closed_port_address(),
        "grpc_deadline_seconds": 0.5,
    }
    gateway = bootstrap(settings(**down), password_hasher=cheap_hasher())
    await gateway.start()
    transport = httpx.ASGITransport(app=gateway.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test/v1") as client:
        yield client
    await gateway.stop()


async def test_a_service_that_is_down_is_a_quick_503_with_retry_after(
    sign_up: SignUp, degraded: httpx.AsyncClient
) -> None:
    ada = await sign_up()  # through the healthy gateway; the token is valid on both (same secret and users)
    async with asyncio.timeout(HANG_GUARD_S):
        for method, path, body in (
            ("GET", "/orders", None),  # a read: retried, then given up
            ("POST", "/orders", ORDER),  # a write: not retried
            ("GET", "/products", None),
            ("GET", "/notifications", None),
        ):
            response = await degraded.request(
                method, path, json=body, headers={**ada.auth, "Idempotency-Key": "down-key-01"}
            )
            body_ = problem(response, 503, "service is unavailable")
            assert response.headers["retry-after"] == "2"
            assert "127.0.0.1" not in body_["detail"]  # no internal addresses in the answer


async def test_readiness_reports_each_dependency(
    client: httpx.AsyncClient, degraded: httpx.AsyncClient
) -> None:
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"orders": "SERVING", "payments": "SERVING", "notifications": "SERVING"},
    }
    async with asyncio.timeout(HANG_GUARD_S):
        not_ready = await degraded.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.headers["content-type"] == "application/json"
    assert not_ready.headers["retry-after"] == "2"
    assert not_ready.json() == {
        "status": "not_ready",
        "checks": {"orders": "NOT_SERVING", "payments": "SERVING", "notifications": "NOT_SERVING"},
    }
    assert (await degraded.get("/healthz")).status_code == 200  # alive even when dependencies are not


async def test_a_service_that_does_not_answer_in_time_is_a_504(
    gateway_settings: dict[str, Any], backends: Backends, sign_up: SignUp
) -> None:
    ada = await sign_up()
    backends.payments.delay = 2.0
    gateway = bootstrap(
        settings(**{**gateway_settings, "grpc_deadline_seconds": 0.3}), password_hasher=cheap_hasher()
    )
    await gateway.start()
    try:
        transport = httpx.ASGITransport(app=gateway.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test/v1") as client:
            async with asyncio.timeout(HANG_GUARD_S):
                response = await client.get(f"/orders/{ada.id}/payment", headers=ada.auth)
        problem(response, 504, "did not answer in time")
    finally:
        backends.payments.delay = 0.0
        await gateway.stop()


async def test_the_gateway_recovers_when_the_service_comes_back(
    gateway_settings: dict[str, Any], sign_up: SignUp
) -> None:
    ada = await sign_up()
    address = closed_port_address()
    gateway = bootstrap(
        settings(**{**gateway_settings, "notifications_addr": address}), password_hasher=cheap_hasher()
    )
    await gateway.start()
    server = notification_server(FakeNotificationService(), address)
    try:
        transport = httpx.ASGITransport(app=gateway.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test/v1") as client:
            problem(await client.get("/notifications", headers=ada.auth), 503)
            await server.start()
            async with asyncio.timeout(HANG_GUARD_S):  # the channel reconnects within its (short) backoff
                for _ in range(HANG_GUARD_S * 5):
                    response = await client.get("/notifications", headers=ada.auth)
                    if response.status_code != 503:
                        break
                    await asyncio.sleep(0.2)
            assert response.status_code == 200
            assert response.json() == {"items": []}
    finally:
        await server.stop(0)
        await gateway.stop()

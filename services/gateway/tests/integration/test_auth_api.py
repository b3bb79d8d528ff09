"""Accounts and tokens through the gateway, on SQLite and on PostgreSQL: registration, login, the
configured admin, and every kind of bad token refused with 401 before any service is called."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import jwt
import pytest
import pytest_asyncio
from gateway_backends import Backends
from gateway_fakes import SECRET
from gateway_http import ORDER, PASSWORD, SignUp, count_rows, problem, written
from sqlalchemy import delete, select

from ecommerce_runtime.testing.postgres import temporary_postgres_database
from gateway.adapters.tables import users
from gateway.bootstrap import Gateway


@pytest_asyncio.fixture(params=["sqlite", "postgres"])
async def users_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    else:
        async with temporary_postgres_database() as url:
            yield url


@pytest.fixture
def gateway_settings(gateway_settings: dict[str, Any]) -> dict[str, Any]:
    return {**gateway_settings, "admin_email": "root@example.com", "admin_password": "admin password 123"}


async def test_register_and_log_in(client: httpx.AsyncClient, gateway: Gateway) -> None:
    assert gateway.engine is not None
    created = await client.post("/auth/register", json={"email": "Ada@Example.com", "password": PASSWORD})
    assert created.status_code == 201
    assert created.json()["email"] == "ada@example.com"
    async with gateway.engine.connect() as conn:
        stored = (await conn.execute(select(users.c.email, users.c.password_hash, users.c.role))).all()
    assert [(email, role) for email, _, role in stored] == [
        ("root@example.com", "admin"),
        ("ada@example.com", "customer"),
    ]
    assert all(hash_.startswith("$argon2id$") and PASSWORD not in hash_ for _, hash_, _ in stored)

    problem(await client.post("/auth/register", json={"email": "ADA@example.com", "password": PASSWORD}), 409)
    assert await count_rows(gateway.engine, users) == (2,)

    token = await client.post("/auth/token", json={"email": "ada@example.com", "password": PASSWORD})
    claims = jwt.decode(token.json()["access_token"], SECRET, algorithms=["HS256"], audience="ecommerce-api")
    assert claims["sub"] == created.json()["id"]
    assert claims["role"] == "customer"
    assert claims["iss"] == "ecommerce-gateway"
    assert claims["exp"] - claims["iat"] == 900
    for email, password in (("ada@example.com", "wrong password"), ("nobody@example.com", PASSWORD)):
        refused = await client.post("/auth/token", json={"email": email, "password": password})
        assert problem(refused, 401)["detail"] == "Invalid email or password."


async def test_the_configured_admin_sees_every_order(client: httpx.AsyncClient, sign_up: SignUp) -> None:
    ada = await sign_up()
    created = await client.post("/orders", json=ORDER, headers={**ada.auth, "Idempotency-Key": "ada-key-001"})
    token = await client.post(
        "/auth/token", json={"email": "root@example.com", "password": "admin password 123"}
    )
    admin = {"Authorization": f"Bearer {token.json()['access_token']}"}
    seen = await client.get(f"/orders/{created.json()['id']}", headers=admin)
    assert seen.status_code == 200
    assert seen.json()["id"] == created.json()["id"]


def _claims(user_id: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": "ecommerce-gateway",
        "aud": "ecommerce-api",
        "sub": user_id,
        "role": "customer",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid4().hex,
        **changes,
    }
    return {k: v for k, v in claims.items() if v is not None}


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    return f"{header}.{payload}.{signature[:-4]}{'AAAA' if not signature.endswith('AAAA') else 'BBBB'}"


BAD_TOKENS: dict[str, tuple[Callable[[str], str], str]] = {
    "alg-none": (lambda uid: jwt.encode(_claims(uid), "", algorithm="none"), "algorithm is not accepted"),
    "expired": (
        lambda uid: jwt.encode(_claims(uid, exp=int(time.time()) - 60, iat=int(time.time()) - 700), SECRET),
        "expired",
    ),
    "not-yet-valid": (
        lambda uid: jwt.encode(_claims(uid, nbf=int(time.time()) + 600), SECRET),
        "not valid yet",
    ),
    "wrong-audience": (lambda uid: jwt.encode(_claims(uid, aud="other-api"), SECRET), "audience"),
    "wrong-issuer": (lambda uid: jwt.encode(_claims(uid, iss="evil"), SECRET), "issuer"),
    "tampered-signature": (lambda uid: _tampered(jwt.encode(_claims(uid), SECRET)), "signature"),
    "other-key": (lambda uid: jwt.encode(_claims(uid), "x" * 64), "signature"),
    "unknown-user": (lambda uid: jwt.encode(_claims(str(uuid4())), SECRET), "user does not exist"),
}


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
async def test_bad_tokens_are_401_invalid_token_and_reach_no_service(
    client: httpx.AsyncClient, sign_up: SignUp, gateway: Gateway, backends: Backends, kind: str
) -> None:
    ada = await sign_up()
    make, reason = BAD_TOKENS[kind]
    headers = {"Authorization": f"Bearer {make(str(ada.id))}", "Idempotency-Key": "bad-token-01"}
    before = await written(gateway, backends)
    for method, path in (("POST", "/orders"), ("GET", "/orders"), ("GET", f"/orders/{uuid4()}/payment")):
        response = await client.request(
            method, path, json=ORDER if method == "POST" else None, headers=headers
        )
        problem(response, 401, reason)
        assert response.headers["www-authenticate"] == 'Bearer realm="ecommerce", error="invalid_token"'
    assert await written(gateway, backends) == before


async def test_the_token_of_a_deleted_user_stops_working(
    client: httpx.AsyncClient, sign_up: SignUp, gateway: Gateway
) -> None:
    ada = await sign_up()
    assert (await client.get("/orders", headers=ada.auth)).status_code == 200
    assert gateway.engine is not None
    async with gateway.engine.begin() as conn:
        await conn.execute(delete(users).where(users.c.id == ada.id))
    response = await client.get("/orders", headers=ada.auth)
    problem(response, 401, "user does not exist")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]

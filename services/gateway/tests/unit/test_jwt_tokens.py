"""Access tokens: what is issued, and every way a token is refused (each with its own reason)."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any
from uuid import uuid4

import jwt
import pytest
from gateway_fakes import NOW, SECRET

from gateway.adapters.jwt_tokens import JwtTokens
from gateway.domain import InvalidToken, Role, User

USER = User(uuid4(), "ada@example.com", Role.CUSTOMER, "hash", NOW)


def codec(clock_offset: timedelta = timedelta(0)) -> JwtTokens:
    return JwtTokens(
        SECRET.encode(),
        issuer="ecommerce-gateway",
        audience="ecommerce-api",
        ttl_seconds=900,
        leeway_seconds=5,
        clock=lambda: NOW + clock_offset,
    )


def claims(**changes: Any) -> dict[str, Any]:
    now = int(NOW.timestamp())
    values: dict[str, Any] = {
        "iss": "ecommerce-gateway",
        "aud": "ecommerce-api",
        "sub": str(USER.id),
        "role": "customer",
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "jti": "j1",
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def fresh(**changes: Any) -> dict[str, Any]:
    """Claims valid now (the test's wall clock: PyJWT checks times against the real clock)."""
    now = int(time.time())
    return claims(**{"iat": now, "nbf": now, "exp": now + 900, **changes})


def test_issued_tokens_carry_every_claim() -> None:
    issued = codec().issue(USER)
    header = jwt.get_unverified_header(issued.access_token)
    payload = jwt.decode(issued.access_token, options={"verify_signature": False})
    assert header["alg"] == "HS256"
    assert set(payload) == {"iss", "aud", "exp", "iat", "nbf", "sub", "role", "jti"}
    assert payload["sub"] == str(USER.id)
    assert payload["exp"] - payload["iat"] == issued.expires_in == 900
    assert codec().issue(USER).access_token != issued.access_token  # a new jti every time


def test_a_fresh_token_verifies() -> None:
    token = jwt.encode(fresh(), SECRET, algorithm="HS256")
    verified = codec().verify(token)
    assert (verified.user_id, verified.role, verified.token_id) == (USER.id, Role.CUSTOMER, "j1")


NOW_S = int(NOW.timestamp())


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        pytest.param(jwt.encode(fresh(), "", algorithm="none"), "algorithm is not accepted", id="alg-none"),
        pytest.param(
            jwt.encode(fresh(), SECRET, algorithm="HS512"),
            "algorithm is not accepted",
            id="other-alg",
        ),
        pytest.param(
            jwt.encode(claims(iat=NOW_S - 7200, nbf=NOW_S - 7200, exp=NOW_S - 3600), SECRET),
            "expired",
            id="expired",
        ),
        pytest.param(
            jwt.encode(fresh(nbf=4102444800), SECRET),
            "not valid yet",
            id="not-yet-valid",
        ),
        pytest.param(jwt.encode(fresh(aud="another-api"), SECRET), "audience", id="wrong-aud"),
        pytest.param(jwt.encode(fresh(iss="someone-else"), SECRET), "issuer", id="wrong-iss"),
        pytest.param(jwt.encode(fresh(), "another-secret-" + "x" * 40), "signature", id="bad-signature"),
        pytest.param(jwt.encode(fresh(jti=None), SECRET), "lacks a required claim", id="no-jti"),
        pytest.param(jwt.encode(fresh(exp=None), SECRET), "lacks a required claim", id="no-exp"),
        pytest.param(jwt.encode(fresh(sub="42"), SECRET), "subject or role", id="sub-not-uuid"),
        pytest.param(jwt.encode(fresh(role="root"), SECRET), "subject or role", id="unknown-role"),
        pytest.param("not.a.jwt", "malformed", id="garbage"),
        pytest.param("x" * 5000, "too long", id="too-long"),
    ],
)
def test_tokens_that_are_refused(token: str, reason: str) -> None:
    with pytest.raises(InvalidToken, match=reason):
        codec().verify(token)


def test_a_tampered_payload_breaks_the_signature() -> None:
    header, _payload, signature = jwt.encode(fresh(), SECRET, algorithm="HS256").split(".")
    forged_payload = jwt.utils.base64url_encode(
        json.dumps(fresh(role="admin"), separators=(",", ":")).encode()
    ).decode()
    with pytest.raises(InvalidToken, match="signature"):
        codec().verify(f"{header}.{forged_payload}.{signature}")


def test_secrets_shorter_than_32_bytes_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        JwtTokens(b"short", issuer="i", audience="a", ttl_seconds=60, leeway_seconds=0, clock=lambda: NOW)

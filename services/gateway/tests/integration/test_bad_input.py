"""Bad input against the real stack: every case is a 4xx problem with a useful detail, never a 5xx, and
nothing is written — neither a user in the gateway's store nor anything in the Order Service's database."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from gateway_backends import Backends
from gateway_http import ORDER, SignUp, problem, written

from gateway.bootstrap import Gateway

UUID_ = "3f2b8c1e-7a4d-4e5f-9b6a-1c2d3e4f5a6b"
LINE = {"sku": "MUG-001", "quantity": 1}


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    status: int
    detail: str
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    token: str = "valid"  # valid | none | garbage


def order(**changes: Any) -> dict[str, Any]:
    return {**ORDER, **changes}


def new_order(status: int, detail: str, body: Any = None, **kwargs: Any) -> Case:
    return Case("POST", "/orders", status, detail, body=body, **kwargs)


CASES = {
    # bodies of POST /orders
    "malformed-json": new_order(400, "not valid JSON", raw=b'{"items": [{"sku": "MUG-001", "quantity": 1}'),
    "not-utf8": new_order(400, "not valid utf-8", raw=b'{"items": [], "payment_token": "tok_\xe9"}'),
    "not-an-object": new_order(400, "is not of type 'object'", body=[ORDER]),
    "null-body": new_order(400, "must not be empty", raw=b"null"),
    "empty-body": new_order(400, "RequestBody is required", raw=b""),
    "quantity-as-string": new_order(
        400, "'2' is not of type 'integer'", body=order(items=[{"sku": "MUG-001", "quantity": "2"}])
    ),
    "items-as-object": new_order(400, "is not of type 'array'", body=order(items=LINE)),
    "missing-payment-token": new_order(400, "'payment_token' is a required property", body={"items": [LINE]}),
    "client-sets-status": new_order(400, "'status' was unexpected", body=order(status="PAID")),
    "client-sets-total": new_order(
        400, "'total' was unexpected", body=order(total={"amount_minor": 1, "currency": "EUR"})
    ),
    "client-sets-owner": new_order(400, "'user_id' was unexpected", body=order(user_id=UUID_)),
    "client-sets-price": new_order(
        400,
        "'unit_price' was unexpected",
        body=order(items=[{**LINE, "unit_price": {"amount_minor": 1, "currency": "EUR"}}]),
    ),
    "token-too-long": new_order(400, "is too long", body=order(payment_token="t" * 65)),
    "sku-too-long": new_order(400, "is too long", body=order(items=[{"sku": "A" * 33, "quantity": 1}])),
    "too-many-items": new_order(
        400, "is too long", body=order(items=[{"sku": f"SKU-{i:03}", "quantity": 1} for i in range(51)])
    ),
    "no-items": new_order(400, "should be non-empty", body=order(items=[])),
    "zero-quantity": new_order(
        400, "0 is less than the minimum of 1", body=order(items=[{"sku": "MUG-001", "quantity": 0}])
    ),
    "negative-quantity": new_order(
        400, "-3 is less than the minimum of 1", body=order(items=[{"sku": "MUG-001", "quantity": -3}])
    ),
    "huge-quantity": new_order(
        400, "101 is greater than the maximum of 100", body=order(items=[{"sku": "MUG-001", "quantity": 101}])
    ),
    "body-over-the-limit": new_order(
        413, "larger than the 65536 bytes", raw=json.dumps(order(payment_token="t" * 70000)).encode()
    ),
    "form-encoded": new_order(
        415, "Invalid Content-type", raw=b"items=1", headers={"content-type": "text/plain"}
    ),
    "no-idempotency-key": new_order(
        400, "Missing header parameter 'Idempotency-Key'", body=ORDER, headers={"Idempotency-Key": ""}
    ),
    "bad-idempotency-key": new_order(
        400, "'Idempotency-Key'", body=ORDER, headers={"Idempotency-Key": "no spaces allowed"}
    ),
    # paths and queries
    "order-id-not-a-uuid": Case("GET", "/orders/42", 400, "path parameter 'order_id'"),
    "cancel-id-not-a-uuid": Case("POST", "/orders/not-a-uuid/cancel", 400, "path parameter 'order_id'"),
    "payment-id-not-a-uuid": Case("GET", f"/orders/{UUID_[:-1]}x/payment", 400, "path parameter 'order_id'"),
    "unknown-query-parameter": Case("GET", "/orders?owner=someone", 400, "Extra query parameter(s) owner"),
    "page-size-zero": Case("GET", "/orders?page_size=0", 400, "less than the minimum of 1"),
    "page-size-too-big": Case("GET", "/notifications?page_size=500", 400, "greater than the maximum of 100"),
    "unknown-status": Case("GET", "/orders?status=LOST", 400, "'LOST' is not one of"),
    # tokens
    "no-token": new_order(401, "No authorization token provided", body=ORDER, token="none"),
    "garbage-token": new_order(401, "malformed", body=ORDER, token="garbage"),
    # registration
    "register-unknown-field": Case(
        "POST",
        "/auth/register",
        400,
        "'role' was unexpected",
        body={"email": "eve@example.com", "password": "correct horse battery", "role": "admin"},
        token="none",
    ),
    "register-short-password": Case(
        "POST", "/auth/register", 400, "is too short", body={"email": "eve@example.com", "password": "short"}
    ),
    "register-bad-email": Case(
        "POST",
        "/auth/register",
        400,
        "email",
        body={"email": "eve@@example.com", "password": "correct horse battery"},
        token="none",
    ),
    "register-not-utf8": Case(
        "POST", "/auth/register", 400, "not valid utf-8", raw=b'{"email": "\xff@example.com"}', token="none"
    ),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_bad_input_is_a_4xx_problem_and_writes_nothing(
    client: httpx.AsyncClient, sign_up: SignUp, gateway: Gateway, backends: Backends, name: str
) -> None:
    case = CASES[name]
    ada = await sign_up()
    headers = {"content-type": "application/json"}
    if case.method == "POST" and case.path == "/orders":
        headers["Idempotency-Key"] = "bad-input-0001"
    headers.update({"valid": ada.auth, "none": {}, "garbage": {"Authorization": "Bearer a.b.c"}}[case.token])
    headers.update(case.headers)
    headers = {k: v for k, v in headers.items() if v}
    content = (
        case.raw
        if case.raw is not None
        else (json.dumps(case.body).encode() if case.body is not None else None)
    )

    before = await written(gateway, backends)
    response = await client.request(case.method, case.path, content=content, headers=headers)
    problem(response, case.status, case.detail)
    assert await written(gateway, backends) == before

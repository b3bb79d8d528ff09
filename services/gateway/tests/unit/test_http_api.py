"""The HTTP face of the gateway with fake ports: every error is a problem with a request id, and
bad input is a 4xx with a useful detail, never a 5xx."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from gateway_fakes import FakeHasher, FakeOrders, FakeReadiness, FakeUsers, fake_backends, settings

from gateway.adapters.problems import ApiProblem
from gateway.bootstrap import Gateway, bootstrap

ORDER = {"items": [{"sku": "MUG-001", "quantity": 2}], "payment_token": "tok_success"}
PASSWORD = "correct horse battery staple"


@pytest.fixture
def orders() -> FakeOrders:
    return FakeOrders()


@pytest.fixture
def readiness() -> FakeReadiness:
    return FakeReadiness()


@pytest.fixture
def users() -> FakeUsers:
    return FakeUsers()


@pytest_asyncio.fixture
async def gateway(orders: FakeOrders, readiness: FakeReadiness, users: FakeUsers) -> AsyncIterator[Gateway]:
    gateway = bootstrap(
        settings(max_body_bytes=4096),
        users=users,
        password_hasher=FakeHasher(),
        backends=fake_backends(orders, readiness),
    )
    await gateway.start()
    yield gateway
    await gateway.stop()


@pytest_asyncio.fixture
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=gateway.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test/v1") as client:
        yield client


@pytest_asyncio.fixture
async def auth(client: httpx.AsyncClient) -> dict[str, str]:
    await client.post("/auth/register", json={"email": "ada@example.com", "password": PASSWORD})
    token = (await client.post("/auth/token", json={"email": "ada@example.com", "password": PASSWORD})).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def assert_problem(response: httpx.Response, status: int, detail: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"]
    assert detail in body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert len(body["detail"]) <= 4000
    return body


async def test_health_and_a_generated_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.json() == {"status": "ok"}
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_a_valid_request_id_is_echoed_and_an_invalid_one_replaced(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/nope", headers={"X-Request-ID": "client-42:a.b_c"})
    assert echoed.headers["x-request-id"] == "client-42:a.b_c"
    assert assert_problem(echoed, 404)["request_id"] == "client-42:a.b_c"
    replaced = await client.get("/healthz", headers={"X-Request-ID": "not valid!" + "x" * 200})
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])


async def test_the_spec_and_swagger_ui_are_served(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["info"]["title"] == "E-commerce API"
    assert "/orders/{order_id}/cancel" in spec["paths"]
    ui = await client.get("/ui/")
    assert ui.status_code == 200
    assert "swagger" in ui.text.lower()


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/orders", "GET, HEAD, POST"),
        ("DELETE", "/orders/3f2b8c1e-7a4d-4e5f-9b6a-1c2d3e4f5a6b", "GET, HEAD"),
        ("GET", "/orders/3f2b8c1e-7a4d-4e5f-9b6a-1c2d3e4f5a6b/cancel", "POST"),
        ("POST", "/healthz", "GET, HEAD"),
    ],
)
async def test_a_wrong_method_is_405_with_every_allowed_method(
    client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    response = await client.request(method, path)
    assert_problem(response, 405)
    assert response.headers["allow"] == allow


async def test_an_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/no/such/route"), 404)


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("content", "headers", "status", "detail"),
    [
        (b'{"email": "ada@example.com", "password": ', JSON, 400, "not valid JSON"),
        (b'{"email": "ada\xff@example.com", "password": "x"}', JSON, 400, "not valid utf-8"),
        (
            b"{}",
            {"content-type": "application/json;charset=no-such-charset"},
            400,
            "Unknown charset",
        ),
        (b"[" * 1500 + b"]" * 1500, JSON, 400, "nested too deeply"),
        (b"", JSON, 400, "RequestBody is required"),
        (b"null", JSON, 400, "must not be empty"),
        (b'"just a string"', JSON, 400, "is not of type 'object'"),
        (b'{"email": "ada@example.com"}', JSON, 400, "'password' is a required property"),
        (b'{"email": 42, "password": "correct horse battery"}', JSON, 400, "42 is not of type 'string'"),
        (
            b'{"email": "ada@example.com", "password": "correct horse battery", "role": "admin"}',
            JSON,
            400,
            "Additional properties are not allowed ('role' was unexpected)",
        ),
        (b'{"email": "ada@example.com", "password": "short"}', JSON, 400, "is too short"),
        (
            json.dumps({"email": "ada@example.com", "password": "p" * 129}).encode(),
            JSON,
            400,
            "is too long",
        ),
        (b'{"email": "not-an-email@", "password": "correct horse battery"}', JSON, 400, "email"),
        (b"email=ada", {"content-type": "application/x-www-form-urlencoded"}, 415, "Invalid Content-type"),
        (b"hello", {"content-type": "text/plain"}, 415, "Invalid Content-type"),
    ],
)
async def test_bad_registration_bodies_are_4xx_problems_and_register_nobody(
    client: httpx.AsyncClient,
    users: FakeUsers,
    content: bytes,
    headers: dict[str, str],
    status: int,
    detail: str,
) -> None:
    response = await client.post("/auth/register", content=content, headers=headers)
    assert_problem(response, status, detail)
    assert users.rows == {}


async def test_schema_violations_list_every_invalid_field(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = {"items": [{"sku": "bad sku", "quantity": 0}], "payment_token": "TOK", "total": 1}
    response = await client.post("/orders", json=body, headers={**auth, "Idempotency-Key": "key-00000001"})
    problem = assert_problem(response, 400)
    fields = {error["field"] for error in problem["errors"]}
    assert {"items.0.sku", "items.0.quantity", "payment_token", "body"} <= fields


async def test_a_declared_body_over_the_limit_is_413(client: httpx.AsyncClient, users: FakeUsers) -> None:
    body = json.dumps({"email": "ada@example.com", "password": "x" * 5000}).encode()
    response = await client.post("/auth/register", content=body, headers=JSON)
    assert_problem(response, 413, "larger than the 4096 bytes")
    assert users.rows == {}


async def test_a_streamed_body_over_the_limit_is_413(client: httpx.AsyncClient, users: FakeUsers) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "ada@example.com", "password": "'
        for _ in range(10):
            yield b"x" * 500  # 5000 bytes in all
        yield b'"}'

    response = await client.post("/auth/register", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)
    assert users.rows == {}


async def test_a_streamed_body_within_the_limit_is_accepted(
    client: httpx.AsyncClient, users: FakeUsers
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "ada@example.com", '
        yield b'"password": "correct horse battery staple"}'

    response = await client.post("/auth/register", content=chunks(), headers=JSON)
    assert response.status_code == 201, response.text
    assert len(users.rows) == 1


async def test_a_malformed_content_length_is_400(gateway: Gateway) -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/auth/register",
        "raw_path": b"/v1/auth/register",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"12abc")],
        "client": ("127.0.0.1", 1),
        "server": ("gateway.test", 80),
    }
    await gateway.app(scope, receive, send)
    assert sent[0]["status"] == 400
    assert json.loads(sent[1]["body"])["detail"].startswith("The Content-Length header")


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/products?page_size=0", "query parameter 'page_size': 0 is less than the minimum of 1"),
        ("/products?page_size=101", "101 is greater than the maximum of 100"),
        ("/products?page_size=ten", "query parameter 'page_size': 'ten' is not of type 'integer'"),
        ("/products?page_token=not%20base64!", "does not match"),
        ("/products?pagesize=10", "Extra query parameter(s) pagesize not in spec"),
        ("/products/lower-case", "path parameter 'sku'"),
    ],
)
async def test_bad_parameters_are_400_and_never_reach_a_service(
    client: httpx.AsyncClient, orders: FakeOrders, path: str, detail: str
) -> None:
    assert_problem(await client.get(path), 400, detail)
    assert orders.calls == []


@pytest.mark.parametrize(
    ("request_", "detail"),
    [
        (("GET", "/orders/not-a-uuid", None), "path parameter 'order_id'"),
        (("GET", "/orders?status=SHIPPED", None), "'SHIPPED' is not one of"),
        (("GET", "/notifications?order_id=42", None), "query parameter 'order_id'"),
        (("POST", "/orders", {"Idempotency-Key": "short"}), "header parameter 'Idempotency-Key'"),
        (("POST", "/orders", {}), "Missing header parameter 'Idempotency-Key'"),
    ],
)
async def test_bad_parameters_of_secured_operations_are_400(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    orders: FakeOrders,
    request_: tuple[str, str, dict[str, str] | None],
    detail: str,
) -> None:
    method, path, headers = request_
    response = await client.request(method, path, headers={**auth, **(headers or {})}, json=ORDER)
    assert_problem(response, 400, detail)
    assert orders.calls == []


@pytest.mark.parametrize(
    ("authorization", "challenge", "detail"),
    [
        (None, 'Bearer realm="ecommerce"', "No authorization token provided"),
        ("Basic YWRhOnB3", 'Bearer realm="ecommerce"', "No authorization token provided"),
        ("Bearer", 'Bearer realm="ecommerce"', "Invalid authorization header"),
        ("Bearer not.a.jwt", 'Bearer realm="ecommerce", error="invalid_token"', "malformed"),
    ],
)
async def test_requests_without_a_valid_token_are_401_with_a_challenge(
    client: httpx.AsyncClient, orders: FakeOrders, authorization: str | None, challenge: str, detail: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.get("/orders", headers=headers)
    assert_problem(response, 401, detail)
    assert response.headers["www-authenticate"] == challenge
    assert orders.calls == []


async def test_register_login_and_duplicates(client: httpx.AsyncClient) -> None:
    created = await client.post("/auth/register", json={"email": "Ada@Example.com", "password": PASSWORD})
    assert created.status_code == 201
    assert created.json()["email"] == "ada@example.com"
    assert created.json()["role"] == "customer"
    again = await client.post("/auth/register", json={"email": "ada@example.com", "password": PASSWORD})
    assert_problem(again, 409, "already registered")
    wrong = await client.post("/auth/token", json={"email": "ada@example.com", "password": "wrong password"})
    assert_problem(wrong, 401, "Invalid email or password")
    assert wrong.headers["www-authenticate"] == 'Bearer realm="ecommerce"'
    token = await client.post("/auth/token", json={"email": "ada@example.com", "password": PASSWORD})
    assert token.status_code == 200
    assert token.json()["token_type"] == "Bearer"
    assert token.json()["expires_in"] == 900


async def test_create_order_headers_and_replay(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    headers = {**auth, "Idempotency-Key": "key-00000001"}
    first = await client.post("/orders", json=ORDER, headers=headers)
    assert first.status_code == 201
    assert first.headers["location"] == f"/v1/orders/{first.json()['id']}"
    assert first.headers["idempotent-replayed"] == "false"
    again = await client.post("/orders", json=ORDER, headers=headers)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    other = await client.post("/orders", json={**ORDER, "payment_token": "tok_declined"}, headers=headers)
    assert_problem(other, 422)


async def test_readiness(client: httpx.AsyncClient, readiness: FakeReadiness) -> None:
    ready = await client.get("/readyz")
    assert ready.json() == {
        "status": "ready",
        "checks": {"orders": "SERVING", "payments": "SERVING", "notifications": "SERVING"},
    }
    readiness.checks["payments"] = "NOT_SERVING"
    not_ready = await client.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.headers["retry-after"] == "2"
    assert not_ready.json()["status"] == "not_ready"
    assert not_ready.json()["checks"]["payments"] == "NOT_SERVING"


async def test_backend_problems_are_rendered_with_their_headers_and_a_bounded_detail(
    client: httpx.AsyncClient, auth: dict[str, str], orders: FakeOrders
) -> None:
    orders.fail = ApiProblem(503, "down " * 2000, {"Retry-After": "2"})
    response = await client.get("/orders", headers=auth)
    problem = assert_problem(response, 503)
    assert response.headers["retry-after"] == "2"
    assert len(problem["detail"]) == 4000


async def test_an_unexpected_error_is_a_500_problem_without_internals(
    client: httpx.AsyncClient, auth: dict[str, str], orders: FakeOrders
) -> None:
    orders.fail = RuntimeError("database password is hunter2")
    response = await client.get("/orders", headers=auth)
    problem = assert_problem(response, 500, "quote the request id")
    assert "hunter2" not in response.text
    assert problem["instance"] == "/v1/orders"

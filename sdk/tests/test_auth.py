"""Configuration and authentication: base URL and token from arguments or the environment; login keeps the
token; secured operations send it as a bearer token and public ones do not."""

from __future__ import annotations

import httpx
import pytest
from sdk_fakes import BASE_URL, EMAIL, PASSWORD, FakeAPI, FakeClock

from ecommerce_sdk import DEFAULT_BASE_URL, AsyncClient, AuthenticationError, Client


def fresh_client(api: FakeAPI, base_url: str | None = None, api_token: str | None = None) -> Client:
    http = httpx.Client(transport=api.transport)
    return Client(base_url=base_url, api_token=api_token, http_client=http, clock=FakeClock())


def test_login_keeps_the_token_and_sends_it_as_a_bearer(api: FakeAPI) -> None:
    client = fresh_client(api, base_url=BASE_URL)
    user = client.auth.register(email="grace@example.com", password=PASSWORD)
    before_login = client.api_token

    token = client.auth.login(email="grace@example.com", password=PASSWORD)
    orders = list(client.orders.list())

    assert before_login is None
    assert user.email == "grace@example.com"
    assert user.role == "customer"
    assert client.api_token == token.access_token
    assert token.token_type == "Bearer"
    assert orders == []
    assert api.requests[-1].headers["Authorization"] == f"Bearer {token.access_token}"


def test_public_operations_send_no_token(client: Client, api: FakeAPI) -> None:
    client.products.list()
    client.products.get("MUG-001")
    client.health.live()
    client.orders.list()

    public, secured = api.requests[:3], api.requests[3]
    assert all("Authorization" not in r.headers for r in public)
    assert secured.headers["Authorization"].startswith("Bearer fake.")


def test_a_wrong_password_is_an_authentication_error_and_keeps_no_token(api: FakeAPI) -> None:
    api.seed_user(EMAIL, PASSWORD)
    client = fresh_client(api, base_url=BASE_URL)

    with pytest.raises(AuthenticationError) as raised:
        client.auth.login(email=EMAIL, password="wrong-password")

    assert raised.value.detail == "Invalid email or password."
    assert client.api_token is None


def test_secured_operations_without_a_token_are_refused_by_the_api(api: FakeAPI) -> None:
    with pytest.raises(AuthenticationError):
        fresh_client(api, base_url=BASE_URL).orders.list()


def test_base_url_and_token_come_from_the_environment(api: FakeAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    token = api.seed_user(EMAIL, PASSWORD)
    monkeypatch.setenv("ECOMMERCE_BASE_URL", "https://shop.example.test/api/v1/")
    monkeypatch.setenv("ECOMMERCE_API_TOKEN", token)

    client = fresh_client(api)
    client.orders.list()

    assert client.base_url == "https://shop.example.test/api/v1"
    assert str(api.requests[0].url) == "https://shop.example.test/api/v1/orders"
    assert api.requests[0].headers["Authorization"] == f"Bearer {token}"


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOMMERCE_BASE_URL", "https://env.example.test/v1")
    monkeypatch.setenv("ECOMMERCE_API_TOKEN", "env.token.x")

    client = fresh_client(FakeAPI(), base_url="https://arg.example.test/v1", api_token="arg.token.x")

    assert (client.base_url, client.api_token) == ("https://arg.example.test/v1", "arg.token.x")


def test_the_default_base_url_is_the_local_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECOMMERCE_BASE_URL", raising=False)
    monkeypatch.delenv("ECOMMERCE_API_TOKEN", raising=False)

    with fresh_client(FakeAPI()) as client:
        assert client.base_url == DEFAULT_BASE_URL == "http://127.0.0.1:8000/v1"
        assert client.api_token is None
        assert repr(client) == "Client(base_url='http://127.0.0.1:8000/v1', authenticated=False)"


def test_path_parameters_cannot_escape_their_segment(client: Client, api: FakeAPI) -> None:
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the API answers; the URL is the point
        client.products.get("../orders")

    assert api.requests[0].url.raw_path == b"/v1/products/..%2Forders"


def test_requests_say_who_sends_them(client: Client, api: FakeAPI) -> None:
    client.health.live()

    assert api.requests[0].headers["User-Agent"].startswith("ecommerce-sdk/")
    assert api.requests[0].headers["Accept"] == "application/json"


async def test_async_login_keeps_the_token(api: FakeAPI) -> None:
    api.seed_user(EMAIL, PASSWORD)
    http = httpx.AsyncClient(transport=api.transport)
    async with http, AsyncClient(base_url=BASE_URL, http_client=http) as client:
        token = await client.auth.login(email=EMAIL, password=PASSWORD)
        await client.orders.list()

    assert client.api_token == token.access_token
    assert api.requests[-1].headers["Authorization"] == f"Bearer {token.access_token}"


def test_a_client_closes_its_own_http_client_but_not_one_passed_in(api: FakeAPI) -> None:
    own = Client(base_url=BASE_URL)
    own.close()
    assert own._http.is_closed

    http = httpx.Client(transport=api.transport)
    with Client(base_url=BASE_URL, http_client=http) as client:
        client.health.live()
    assert not http.is_closed
    http.close()

"""Every POST carries an Idempotency-Key, the same on each retry; the caller's own key wins."""

from __future__ import annotations

import httpx
import pytest
from sdk_fakes import BASE_URL, FakeAPI, FakeClock, problem

from ecommerce_sdk import AsyncClient, Client, UnprocessableEntityError
from ecommerce_sdk.types import OrderLineInputParam

ITEMS: list[OrderLineInputParam] = [{"sku": "MUG-001", "quantity": 2}]


class Flaky:
    """Fails the first ``failures`` requests (a timeout, then 503s), then lets the fake API answer."""

    def __init__(self, api: FakeAPI, failures: int) -> None:
        self.api = api
        self.failures = failures
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if len(self.seen) == 1 and self.failures:
            raise httpx.ReadTimeout("the first answer was lost")
        if len(self.seen) <= self.failures:
            return problem(503, "Service Unavailable", "try again", "req-503")
        return self.api.handle(request)


def flaky_client(api: FakeAPI, token: str, failures: int) -> tuple[Client, Flaky]:
    flaky = Flaky(api, failures)
    http = httpx.Client(transport=httpx.MockTransport(flaky))
    return Client(base_url=BASE_URL, api_token=token, http_client=http, clock=FakeClock()), flaky


def test_a_generated_key_is_reused_on_every_retry_of_a_post(api: FakeAPI, token: str) -> None:
    client, flaky = flaky_client(api, token, failures=2)

    order = client.orders.create(items=ITEMS, payment_token="tok_success")

    keys = {request.headers["Idempotency-Key"] for request in flaky.seen}
    assert len(flaky.seen) == 3
    assert len(keys) == 1
    assert len(api.orders) == 1
    assert order.id.hex in {o.replace("-", "") for o in api.orders}


def test_the_callers_key_wins_and_is_sent_on_every_retry(api: FakeAPI, token: str) -> None:
    client, flaky = flaky_client(api, token, failures=1)

    client.orders.create(items=ITEMS, payment_token="tok_success", idempotency_key="my-key-0001")

    assert [r.headers["Idempotency-Key"] for r in flaky.seen] == ["my-key-0001", "my-key-0001"]


def test_each_call_gets_its_own_key(client: Client, api: FakeAPI) -> None:
    first = client.orders.create(items=ITEMS, payment_token="tok_success")
    second = client.orders.create(items=ITEMS, payment_token="tok_success")

    keys = [r.headers["Idempotency-Key"] for r in api.requests]
    assert first.id != second.id
    assert len(set(keys)) == 2


def test_the_same_key_replays_the_same_order(client: Client, api: FakeAPI) -> None:
    first = client.orders.create(items=ITEMS, payment_token="tok_success", idempotency_key="replay-0001")
    again = client.orders.create(items=ITEMS, payment_token="tok_success", idempotency_key="replay-0001")

    assert again == first
    assert len(api.orders) == 1
    with pytest.raises(UnprocessableEntityError):
        client.orders.create(items=ITEMS, payment_token="tok_declined", idempotency_key="replay-0001")


def test_every_post_has_a_key_and_gets_do_not(client: Client, api: FakeAPI) -> None:
    order = client.orders.create(items=ITEMS, payment_token="tok_success")
    client.orders.cancel(order.id)
    client.orders.get(order.id)
    client.auth.register(email="grace@example.com", password="correct-horse-battery-staple")

    posts = [r for r in api.requests if r.method == "POST"]
    gets = [r for r in api.requests if r.method == "GET"]
    assert len(posts) == 3
    assert all(len(r.headers["Idempotency-Key"]) >= 8 for r in posts)
    assert all("Idempotency-Key" not in r.headers for r in gets)


async def test_async_retries_reuse_the_key(api: FakeAPI, token: str) -> None:
    flaky = Flaky(api, failures=2)
    http = httpx.AsyncClient(transport=httpx.MockTransport(flaky))
    async with (
        http,
        AsyncClient(base_url=BASE_URL, api_token=token, http_client=http, clock=FakeClock()) as c,
    ):
        await c.orders.create(items=ITEMS, payment_token="tok_success", idempotency_key="async-key-01")

    assert [r.headers["Idempotency-Key"] for r in flaky.seen] == ["async-key-01"] * 3
    assert len(api.orders) == 1

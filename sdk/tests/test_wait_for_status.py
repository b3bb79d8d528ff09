"""``orders.wait_for_status`` polls until a wanted status, on the client's clock (never really waiting)."""

from __future__ import annotations

import httpx
import pytest
from sdk_fakes import BASE_URL, FakeAPI, FakeClock

from ecommerce_sdk import TERMINAL_STATUSES, AsyncClient, Client, NotFoundError, WaitTimeoutError
from ecommerce_sdk.types import OrderLineInputParam

ITEMS: list[OrderLineInputParam] = [{"sku": "MUG-001", "quantity": 1}]
ORDER_ID = "3f2b8c1e-7a4d-4e5f-9b6a-1c2d3e4f5a6b"


class SlowPayments:
    """The fake API, but an order stays PENDING for the first ``pending_reads`` reads."""

    def __init__(self, api: FakeAPI, pending_reads: int) -> None:
        self.api = api
        self.pending_reads = pending_reads

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.startswith("/v1/orders/") and self.pending_reads:
            self.pending_reads -= 1
            stored = self.api.orders[request.url.path.rsplit("/", 1)[-1]]
            return httpx.Response(200, json=stored["order"], headers={"X-Request-ID": "req-pending"})
        return self.api.handle(request)


def slow_client(api: FakeAPI, token: str, clock: FakeClock, pending_reads: int) -> Client:
    http = httpx.Client(transport=httpx.MockTransport(SlowPayments(api, pending_reads)))
    return Client(base_url=BASE_URL, api_token=token, http_client=http, clock=clock)


def test_returns_the_order_once_it_reaches_a_wanted_status(api: FakeAPI, token: str) -> None:
    clock = FakeClock()
    client = slow_client(api, token, clock, pending_reads=3)
    order = client.orders.create(items=ITEMS, payment_token="tok_success")

    paid = client.orders.wait_for_status(order.id, {"PAID", "CANCELLED"}, timeout=30, poll_interval=0.5)

    assert paid.status == "PAID"
    assert paid.id == order.id
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_a_declined_payment_ends_cancelled(client: Client) -> None:
    order = client.orders.create(items=ITEMS, payment_token="tok_declined")

    cancelled = client.orders.wait_for_status(order.id)

    assert cancelled.status == "CANCELLED"
    assert cancelled.cancellation_reason == "payment_declined"


def test_gives_up_after_the_timeout_with_the_last_order_seen(api: FakeAPI, token: str) -> None:
    clock = FakeClock()
    client = slow_client(api, token, clock, pending_reads=100)
    order = client.orders.create(items=ITEMS, payment_token="tok_success")

    with pytest.raises(WaitTimeoutError) as raised:
        client.orders.wait_for_status(order.id, {"PAID"}, timeout=2.0, poll_interval=0.75)

    assert raised.value.last.status == "PENDING"
    assert raised.value.last.request_id == "req-pending"
    assert isinstance(raised.value, TimeoutError)
    assert clock.sleeps == [0.75, 0.75, 0.5]  # the last wait is cut to the deadline
    assert "still PENDING after 2 s" in str(raised.value)


def test_a_zero_timeout_reads_once(api: FakeAPI, token: str) -> None:
    clock = FakeClock()
    client = slow_client(api, token, clock, pending_reads=1)
    order = client.orders.create(items=ITEMS, payment_token="tok_success")

    with pytest.raises(WaitTimeoutError):
        client.orders.wait_for_status(order.id, timeout=0)
    assert clock.sleeps == []


def test_an_unknown_order_raises_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError):
        client.orders.wait_for_status(ORDER_ID)


@pytest.mark.parametrize(
    ("statuses", "timeout", "poll_interval"),
    [(set(), 30.0, 0.5), ({"SHIPPED"}, 30.0, 0.5), ({"PAID"}, -1.0, 0.5), ({"PAID"}, 30.0, 0.0)],
)
def test_bad_arguments_are_refused_before_any_request(
    client: Client, api: FakeAPI, statuses: set[str], timeout: float, poll_interval: float
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - several messages
        client.orders.wait_for_status(ORDER_ID, statuses, timeout=timeout, poll_interval=poll_interval)  # type: ignore[arg-type]
    assert api.requests == []


def test_the_default_statuses_are_the_terminal_ones() -> None:
    assert frozenset({"PAID", "CANCELLED"}) == TERMINAL_STATUSES


async def test_async_wait(api: FakeAPI, token: str) -> None:
    clock = FakeClock()
    http = httpx.AsyncClient(transport=httpx.MockTransport(SlowPayments(api, pending_reads=2)))
    async with http, AsyncClient(base_url=BASE_URL, api_token=token, http_client=http, clock=clock) as client:
        order = await client.orders.create(items=ITEMS, payment_token="tok_success")
        paid = await client.orders.wait_for_status(order.id, {"PAID", "CANCELLED"}, poll_interval=1.0)
        with pytest.raises(WaitTimeoutError):
            await client.orders.wait_for_status(order.id, {"CANCELLED"}, timeout=1.5, poll_interval=1.0)

    assert paid.status == "PAID"
    assert clock.sleeps == [1.0, 1.0, 1.0, 0.5]

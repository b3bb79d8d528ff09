"""Retries: which failures, how often, how long apart (backoff, jitter, Retry-After), with a fake clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
from sdk_fakes import BASE_URL, FakeClock, problem

from ecommerce_sdk import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    Client,
    InternalServerError,
    RateLimitError,
    ServiceUnavailableError,
)

Handler = Callable[[httpx.Request], httpx.Response]


def healthy() -> httpx.Response:
    return httpx.Response(200, json={"status": "ok"}, headers={"X-Request-ID": "req-ok"})


def scripted(*steps: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler that answers (or raises) the given steps in order, and the requests it saw."""
    seen: list[httpx.Request] = []
    remaining: Iterator[httpx.Response | Exception] = iter(steps)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        step = next(remaining)
        if isinstance(step, Exception):
            raise step
        return step

    return handle, seen


def make_client(handler: Handler, clock: FakeClock, max_retries: int = 2) -> Client:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return Client(base_url=BASE_URL, http_client=http, clock=clock, max_retries=max_retries)


def unavailable(**headers: str) -> httpx.Response:
    response = problem(503, "Service Unavailable", "The orders service is unavailable.", "req-503")
    response.headers.update(headers)
    return response


@pytest.mark.parametrize("status", [408, 429, 502, 503, 504])
def test_retryable_statuses_are_retried_then_succeed(status: int) -> None:
    clock = FakeClock()
    handler, seen = scripted(problem(status, "Busy", "try again"), healthy())

    assert make_client(handler, clock).health.live().status == "ok"

    assert len(seen) == 2
    assert clock.sleeps == [0.5]


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422, 500])
def test_other_errors_are_not_retried(status: int) -> None:
    clock = FakeClock()
    handler, seen = scripted(problem(status, "No", "not retryable"))

    with pytest.raises(Exception) as raised:  # noqa: PT011 - the kind is asserted below
        make_client(handler, clock).health.live()

    assert getattr(raised.value, "status_code", None) == status
    assert len(seen) == 1
    assert clock.sleeps == []


def test_backoff_doubles_from_half_a_second_and_gives_up_after_max_retries() -> None:
    clock = FakeClock(jitter=0.0)
    handler, seen = scripted(*[unavailable()] * 6)

    with pytest.raises(ServiceUnavailableError) as raised:
        make_client(handler, clock, max_retries=5).health.live()

    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert len(seen) == 6
    assert raised.value.request_id == "req-503"


def test_backoff_is_capped_at_eight_seconds() -> None:
    clock = FakeClock(jitter=0.0)
    handler, _ = scripted(*[unavailable()] * 8)

    with pytest.raises(ServiceUnavailableError):
        make_client(handler, clock, max_retries=7).health.live()

    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_jitter_shortens_each_wait_by_up_to_a_quarter() -> None:
    clock = FakeClock(jitter=0.999)
    handler, _ = scripted(unavailable(), unavailable(), unavailable())

    with pytest.raises(ServiceUnavailableError):
        make_client(handler, clock).health.live()

    assert clock.sleeps == pytest.approx([0.5 * 0.75025, 1.0 * 0.75025])


def test_default_is_two_retries() -> None:
    clock = FakeClock()
    handler, seen = scripted(unavailable(), unavailable(), unavailable())

    with pytest.raises(ServiceUnavailableError):
        make_client(handler, clock).health.live()

    assert len(seen) == 3


def test_no_retries_when_max_retries_is_zero() -> None:
    clock = FakeClock()
    handler, seen = scripted(unavailable())

    with pytest.raises(ServiceUnavailableError):
        make_client(handler, clock, max_retries=0).health.live()

    assert len(seen) == 1
    assert clock.sleeps == []


def test_retry_after_in_seconds_is_honoured() -> None:
    clock = FakeClock()
    handler, _ = scripted(unavailable(**{"Retry-After": "3"}), healthy())

    make_client(handler, clock).health.live()

    assert clock.sleeps == [3.0]


def test_retry_after_as_an_http_date_is_measured_against_the_response_date() -> None:
    clock = FakeClock()  # the client's own clock is far from the server's: the Date header counts
    server_now = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)
    later = datetime(2026, 11, 29, 10, 0, 7, tzinfo=UTC)
    response = problem(429, "Too Many Requests", "Slow down.", "req-429")
    response.headers["Retry-After"] = format_datetime(later, usegmt=True)
    response.headers["Date"] = format_datetime(server_now, usegmt=True)
    handler, _ = scripted(response, healthy())

    make_client(handler, clock).health.live()

    assert clock.sleeps == [7.0]


def test_retry_after_as_an_http_date_without_a_date_header_uses_the_clock() -> None:
    clock = FakeClock(epoch=datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC).timestamp())
    retry_at = format_datetime(datetime(2026, 11, 29, 10, 0, 4, tzinfo=UTC), usegmt=True)
    handler, _ = scripted(unavailable(**{"Retry-After": retry_at}), healthy())

    make_client(handler, clock).health.live()

    assert clock.sleeps == [4.0]


def test_a_retry_after_in_the_past_retries_at_once() -> None:
    clock = FakeClock()
    handler, _ = scripted(unavailable(**{"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}), healthy())

    make_client(handler, clock).health.live()

    assert clock.sleeps == [0.0]


def test_an_unreadable_retry_after_falls_back_to_the_backoff() -> None:
    clock = FakeClock()
    handler, _ = scripted(unavailable(**{"Retry-After": "soon"}), healthy())

    make_client(handler, clock).health.live()

    assert clock.sleeps == [0.5]


def test_a_retry_after_over_a_minute_is_not_waited_out() -> None:
    clock = FakeClock()
    response = problem(429, "Too Many Requests", "Come back in an hour.", "req-429")
    response.headers["Retry-After"] = "3600"
    handler, seen = scripted(response, healthy())

    with pytest.raises(RateLimitError) as raised:
        make_client(handler, clock).health.live()

    assert len(seen) == 1
    assert clock.sleeps == []
    assert raised.value.response.headers["Retry-After"] == "3600"


def test_connection_errors_are_retried() -> None:
    clock = FakeClock()
    handler, seen = scripted(httpx.ConnectError("refused"), httpx.RemoteProtocolError("reset"), healthy())

    assert make_client(handler, clock).health.live().request_id == "req-ok"

    assert len(seen) == 3
    assert clock.sleeps == [0.5, 1.0]


def test_connection_error_after_the_last_retry_is_an_api_connection_error() -> None:
    clock = FakeClock()
    handler, _ = scripted(*[httpx.ConnectError("refused")] * 3)

    with pytest.raises(APIConnectionError) as raised:
        make_client(handler, clock).health.live()

    assert not isinstance(raised.value, APITimeoutError)
    assert raised.value.request.url == "https://api.example.test/v1/healthz"
    assert isinstance(raised.value.__cause__, httpx.ConnectError)


def test_timeouts_are_retried_then_raise_api_timeout_error() -> None:
    clock = FakeClock()
    handler, seen = scripted(
        httpx.ReadTimeout("slow"), httpx.ConnectTimeout("slow"), httpx.PoolTimeout("slow")
    )

    with pytest.raises(APITimeoutError):
        make_client(handler, clock).health.live()

    assert len(seen) == 3
    assert clock.sleeps == [0.5, 1.0]


def test_the_timeout_reaches_the_transport_per_client_and_per_call() -> None:
    seen: list[dict[str, float | None]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return healthy()

    client = Client(
        base_url="https://api.example.test/v1",
        timeout=12.0,
        http_client=httpx.Client(transport=httpx.MockTransport(handle)),
    )
    client.health.live()
    client.health.live(timeout=httpx.Timeout(3.0, connect=1.0))

    assert seen[0] == {"connect": 12.0, "read": 12.0, "write": 12.0, "pool": 12.0}
    assert seen[1] == {"connect": 1.0, "read": 3.0, "write": 3.0, "pool": 3.0}


def test_a_real_transport_timeout_becomes_api_timeout_error() -> None:
    """Through httpx's own timeout machinery: a server that accepts but never answers."""
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = Client(base_url=f"http://127.0.0.1:{port}/v1", timeout=0.05, max_retries=0)
        with client, pytest.raises(APITimeoutError):
            client.health.live()


def test_500_is_an_internal_server_error_without_retry() -> None:
    clock = FakeClock()
    handler, seen = scripted(problem(500, "Internal Server Error", "boom", "req-500"))

    with pytest.raises(InternalServerError):
        make_client(handler, clock).health.live()

    assert len(seen) == 1


async def test_async_client_retries_with_the_same_schedule() -> None:
    clock = FakeClock()
    handler, seen = scripted(httpx.ConnectError("refused"), unavailable(**{"Retry-After": "2"}), healthy())
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))

    async with (
        http,
        AsyncClient(base_url="https://api.example.test/v1", http_client=http, clock=clock) as client,
    ):
        assert (await client.health.live()).status == "ok"

    assert len(seen) == 3
    assert clock.sleeps == [0.5, 2.0]


async def test_async_timeouts_raise_api_timeout_error() -> None:
    clock = FakeClock()
    handler, _ = scripted(*[httpx.ReadTimeout("slow")] * 3)
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))

    async with (
        http,
        AsyncClient(base_url="https://api.example.test/v1", http_client=http, clock=clock) as client,
    ):
        with pytest.raises(APITimeoutError):
            await client.health.live()
    assert clock.sleeps == [0.5, 1.0]


def test_negative_max_retries_is_refused() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        Client(max_retries=-1)

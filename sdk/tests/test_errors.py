"""Each error status raises its exception, carrying the problem, the status and the request id."""

from __future__ import annotations

import httpx
import pytest
from sdk_fakes import BASE_URL, FakeClock, problem

import ecommerce_sdk
from ecommerce_sdk import (
    APIResponseValidationError,
    APIStatusError,
    AsyncClient,
    AuthenticationError,
    BadGatewayError,
    BadRequestError,
    Client,
    ConflictError,
    EcommerceError,
    GatewayTimeoutError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTooLargeError,
    ServiceUnavailableError,
    UnprocessableEntityError,
    UnsupportedMediaTypeError,
)

ORDER_ID = "3f2b8c1e-7a4d-4e5f-9b6a-1c2d3e4f5a6b"


def answering(response: httpx.Response) -> Client:
    http = httpx.Client(transport=httpx.MockTransport(lambda _: response))
    return Client(base_url=BASE_URL, api_token="t.t.t", http_client=http, max_retries=0, clock=FakeClock())


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, RequestTooLargeError),
        (415, UnsupportedMediaTypeError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, BadGatewayError),
        (503, ServiceUnavailableError),
        (504, GatewayTimeoutError),
        (501, InternalServerError),
        (418, APIStatusError),
    ],
)
def test_each_status_raises_its_exception_with_the_problem(status: int, kind: type[APIStatusError]) -> None:
    client = answering(problem(status, "Some Title", f"what went wrong ({status})", "req-42"))

    with pytest.raises(kind) as raised:
        client.orders.get(ORDER_ID)

    error = raised.value
    assert type(error) is kind
    assert isinstance(error, EcommerceError)
    assert error.status_code == status
    assert error.title == "Some Title"
    assert error.detail == f"what went wrong ({status})"
    assert error.type == "about:blank"
    assert error.request_id == "req-42"
    assert error.problem is not None
    assert error.problem.status == status
    assert str(error) == f"{status} Some Title: what went wrong ({status}) [request id req-42]"


def test_server_errors_share_a_base_class() -> None:
    for kind in (BadGatewayError, ServiceUnavailableError, GatewayTimeoutError):
        assert issubclass(kind, InternalServerError)
    assert issubclass(ecommerce_sdk.APITimeoutError, ecommerce_sdk.APIConnectionError)


def test_field_errors_of_a_validation_problem_are_exposed() -> None:
    errors = [{"field": "items.0.quantity", "message": "0 is less than the minimum of 1"}]
    client = answering(problem(400, "Bad Request", "Request body is not valid.", "req-7", errors=errors))

    with pytest.raises(BadRequestError) as raised:
        client.orders.create(items=[{"sku": "MUG-001", "quantity": 1}], payment_token="tok_success")

    assert [(e.field, e.message) for e in raised.value.errors] == [
        ("items.0.quantity", "0 is less than the minimum of 1")
    ]
    assert "items.0.quantity: 0 is less than the minimum of 1" in str(raised.value)


def test_a_problem_with_unknown_members_is_still_read() -> None:
    client = answering(problem(409, "Conflict", "No stock.", "req-9", balance=3, instance="/v1/orders"))

    with pytest.raises(ConflictError) as raised:
        client.orders.cancel(ORDER_ID)

    assert raised.value.detail == "No stock."


def test_an_error_body_that_is_not_a_problem_still_raises_by_status() -> None:
    page = httpx.Response(502, text="<html>Bad gateway</html>", headers={"X-Request-ID": "edge-1"})
    client = answering(page)

    with pytest.raises(BadGatewayError) as raised:
        client.products.get("MUG-001")

    assert raised.value.problem is None
    assert raised.value.detail is None
    assert raised.value.title == "Bad Gateway"
    assert raised.value.errors == []
    assert raised.value.request_id == "edge-1"


def test_the_request_id_falls_back_to_the_problem_body() -> None:
    response = problem(404, "Not Found", "Order not found.", "req-body")
    del response.headers["X-Request-ID"]

    with pytest.raises(NotFoundError) as raised:
        answering(response).orders.get(ORDER_ID)

    assert raised.value.request_id == "req-body"


def test_a_success_body_the_models_reject_raises_a_validation_error() -> None:
    client = answering(httpx.Response(200, json={"status": "exploded"}, headers={"X-Request-ID": "req-5"}))

    with pytest.raises(APIResponseValidationError) as raised:
        client.health.live()

    assert raised.value.status_code == 200
    assert raised.value.request_id == "req-5"
    assert "Health" in str(raised.value)


def test_the_readiness_probe_returns_its_503_body_instead_of_raising() -> None:
    body = {
        "status": "not_ready",
        "checks": {"orders": "SERVING", "payments": "NOT_SERVING", "notifications": "UNKNOWN"},
    }
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503, json=body, headers={"Retry-After": "5", "X-Request-ID": "req-r"})

    http = httpx.Client(transport=httpx.MockTransport(handle))
    readiness = Client(base_url=BASE_URL, http_client=http, clock=FakeClock()).health.ready()

    assert readiness.status == "not_ready"
    assert readiness.checks.payments == "NOT_SERVING"
    assert readiness.request_id == "req-r"
    assert len(seen) == 1  # a probe's answer, not a failure to retry


async def test_async_errors_are_the_same_exceptions() -> None:
    response = problem(404, "Not Found", "Unknown SKU NOPE-404.", "req-a")
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: response))
    async with http, AsyncClient(base_url=BASE_URL, http_client=http) as client:
        with pytest.raises(NotFoundError) as raised:
            await client.products.get("NOPE-404")
    assert raised.value.detail == "Unknown SKU NOPE-404."
    assert raised.value.request_id == "req-a"

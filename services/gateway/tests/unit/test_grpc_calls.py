"""Calls to the services: the status mapping, the deadline, the metadata, and retries for reads only."""

from __future__ import annotations

from typing import Any, cast
from uuid import uuid4

import grpc
import pytest

from ecommerce.orders.v1 import orders_pb2
from ecommerce_runtime.grpc_server import PERMITTED_PING_INTERVAL_MS, SERVER_OPTIONS
from gateway.adapters.grpc_calls import (
    CHANNEL_OPTIONS,
    KEEPALIVE_TIME_MS,
    CallPolicy,
    ServiceClient,
    channel_target,
)
from gateway.adapters.grpc_status import HTTP_STATUS, backend_problem
from gateway.adapters.problems import ApiProblem
from gateway.adapters.request_context import reset_request_id, set_request_id
from gateway.domain import Principal, Role

POLICY = CallPolicy(deadline_seconds=1.5, read_attempts=3, retry_after_seconds=7, backoff_base_seconds=0.001)
ADA = Principal(uuid4(), Role.CUSTOMER, "ada@example.com")


def rpc_error(code: grpc.StatusCode, details: str = "") -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


REQUEST = orders_pb2.GetOrderRequest(order_id="o-1")
REPLY = orders_pb2.GetOrderResponse(order=orders_pb2.Order(id="o-1"))
Method = grpc.aio.UnaryUnaryMultiCallable[orders_pb2.GetOrderRequest, orders_pb2.GetOrderResponse]


class ScriptedMethod:
    """A unary-unary method that fails with the scripted codes, then answers ``REPLY``."""

    def __init__(self, *failures: grpc.StatusCode) -> None:
        self.failures = list(failures)
        self.reply = REPLY
        self.calls: list[dict[str, Any]] = []

    @property
    def stub(self) -> Method:
        return cast(Method, self)

    async def __call__(self, request: Any, **options: Any) -> Any:
        self.calls.append({"timeout": options["timeout"], "metadata": dict(options["metadata"])})
        if self.failures:
            raise rpc_error(self.failures.pop(0), "details from the service")
        return self.reply


@pytest.mark.parametrize(
    ("code", "rpc", "status"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, "ListOrders", 400),
        (grpc.StatusCode.INVALID_ARGUMENT, "CreateOrder", 422),
        (grpc.StatusCode.NOT_FOUND, "GetOrder", 404),
        (grpc.StatusCode.FAILED_PRECONDITION, "CancelOrder", 409),
        (grpc.StatusCode.ALREADY_EXISTS, "CreateOrder", 422),
        (grpc.StatusCode.UNAVAILABLE, "GetOrder", 503),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "GetOrder", 503),
        (grpc.StatusCode.ABORTED, "CreateOrder", 503),
        (grpc.StatusCode.CANCELLED, "CreateOrder", 503),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "GetOrder", 504),
        (grpc.StatusCode.INTERNAL, "GetOrder", 502),
        (grpc.StatusCode.UNKNOWN, "GetOrder", 502),
        (grpc.StatusCode.PERMISSION_DENIED, "GetOrder", 502),
    ],
)
def test_status_mapping(code: grpc.StatusCode, rpc: str, status: int) -> None:
    problem = backend_problem("orders", rpc, code, "order 1 not found", retry_after=7)
    assert problem.status == status
    if status < 500:
        assert problem.detail == "order 1 not found"  # the services write these messages for the client
    else:
        assert "orders service" in problem.detail
        assert "order 1" not in problem.detail
    assert ("Retry-After" in problem.headers) == (status == 503)


def test_every_mapped_code_is_a_4xx_or_5xx_the_spec_documents() -> None:
    assert set(HTTP_STATUS.values()) <= {400, 404, 409, 422, 503, 504}


FAULTS = [
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
]
RPCS = ["CreateOrder", "GetOrder", "ListOrders", "CancelOrder", "ListProducts", "GetProduct", "GetPayment"]


@pytest.mark.parametrize("code", FAULTS, ids=[c.name for c in FAULTS])
def test_a_fault_is_never_a_500_or_502(code: grpc.StatusCode) -> None:
    for rpc in RPCS:
        problem = backend_problem("orders", rpc, code, "", retry_after=7)
        assert problem.status in {503, 504}
        if problem.status == 503:
            assert problem.headers == {"Retry-After": "7"}


@pytest.mark.parametrize(
    ("address", "target"),
    [
        ("orders:50051", "dns:///orders:50051"),
        ("orders.ecommerce.svc.cluster.local:50051", "dns:///orders.ecommerce.svc.cluster.local:50051"),
        ("localhost:50051", "dns:///localhost:50051"),
        ("127.0.0.1:50051", "127.0.0.1:50051"),
        ("[::1]:50051", "[::1]:50051"),
    ],
)
def test_a_host_name_is_dialled_through_dns_and_an_ip_as_it_is(address: str, target: str) -> None:
    assert channel_target(address) == target


def test_channels_balance_over_every_backend_with_keepalives_the_services_permit() -> None:
    client, server = dict(CHANNEL_OPTIONS), dict(SERVER_OPTIONS)
    assert client["grpc.lb_policy_name"] == "round_robin"
    assert client["grpc.keepalive_time_ms"] == KEEPALIVE_TIME_MS >= PERMITTED_PING_INTERVAL_MS
    assert server["grpc.http2.min_ping_interval_without_data_ms"] == PERMITTED_PING_INTERVAL_MS
    assert client["grpc.keepalive_permit_without_calls"] == server["grpc.keepalive_permit_without_calls"] == 1


async def test_a_read_is_retried_while_the_service_is_unavailable() -> None:
    method = ScriptedMethod(grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE)
    reply = await ServiceClient("orders", POLICY).call(
        method.stub, REQUEST, rpc="GetOrder", caller=ADA, idempotent=True
    )
    assert reply == REPLY
    assert len(method.calls) == 3


async def test_a_read_gives_up_after_its_attempts_with_503_and_retry_after() -> None:
    method = ScriptedMethod(*[grpc.StatusCode.UNAVAILABLE] * 5)
    with pytest.raises(ApiProblem) as raised:
        await ServiceClient("orders", POLICY).call(
            method.stub, REQUEST, rpc="GetOrder", caller=ADA, idempotent=True
        )
    assert (raised.value.status, raised.value.headers["Retry-After"]) == (503, "7")
    assert len(method.calls) == 3


async def test_a_write_is_never_retried() -> None:
    method = ScriptedMethod(grpc.StatusCode.UNAVAILABLE)
    with pytest.raises(ApiProblem) as raised:
        await ServiceClient("orders", POLICY).call(
            method.stub, REQUEST, rpc="CreateOrder", caller=ADA, idempotent=False
        )
    assert raised.value.status == 503
    assert len(method.calls) == 1


async def test_other_errors_of_a_read_are_not_retried() -> None:
    method = ScriptedMethod(grpc.StatusCode.NOT_FOUND)
    with pytest.raises(ApiProblem):
        await ServiceClient("orders", POLICY).call(
            method.stub, REQUEST, rpc="GetOrder", caller=ADA, idempotent=True
        )
    assert len(method.calls) == 1


async def test_every_call_has_the_deadline_and_the_request_metadata() -> None:
    method = ScriptedMethod()
    token = set_request_id("req-123")
    try:
        await ServiceClient("orders", POLICY).call(
            method.stub, REQUEST, rpc="GetOrder", caller=ADA, idempotent=True
        )
    finally:
        reset_request_id(token)
    (call,) = method.calls
    assert call["timeout"] == 1.5
    assert call["metadata"]["x-request-id"] == "req-123"
    assert call["metadata"]["x-caller-id"] == str(ADA.user_id)
    assert call["metadata"]["traceparent"].startswith("00-")


def test_backoff_grows_and_is_capped() -> None:
    policy = CallPolicy(1.0, 5, 1, backoff_base_seconds=0.1, backoff_cap_seconds=0.25)
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.25), (4, 0.25)]:
        assert all(0 <= policy.backoff(attempt) <= ceiling for _ in range(50))

"""How the gateway calls a service: one channel each, a deadline on every call, the request's metadata,
retries with backoff for idempotent reads on UNAVAILABLE only, and errors mapped by ``grpc_status``.

A service that is down fails a call at once (the channel does not wait for it to come up), so the client
gets a 503 quickly; reconnect backoff is kept short so the gateway notices when it is back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from ecommerce_runtime.backoff import Backoff
from ecommerce_runtime.tracing import current_traceparent
from gateway.adapters.grpc_status import backend_problem
from gateway.adapters.request_context import current_request_id
from gateway.domain import Principal

RequestT = TypeVar("RequestT", bound=Message)
ReplyT = TypeVar("ReplyT", bound=Message)

CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.enable_retries", 0),  # retries are decided here, per call, for reads only
]


@dataclass(frozen=True, slots=True)
class CallPolicy:
    deadline_seconds: float
    read_attempts: int
    """Attempts of an idempotent read while the service answers UNAVAILABLE (1 = no retry)."""
    retry_after_seconds: int
    """What a 503 tells the client to wait."""
    backoff_base_seconds: float = 0.05
    backoff_cap_seconds: float = 1.0

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff before retry number ``attempt`` (1, 2, ...)."""
        return Backoff(self.backoff_base_seconds, self.backoff_cap_seconds, jitter=1.0).delay(attempt)


def open_channel(address: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)


def call_metadata(caller: Principal | None) -> tuple[tuple[str, str], ...]:
    """What travels with every call: the request id, the W3C trace context and the caller's id."""
    metadata = [("traceparent", current_traceparent())]
    request_id = current_request_id()
    if request_id is not None:
        metadata.append(("x-request-id", request_id))
    if caller is not None:
        metadata.append(("x-caller-id", str(caller.user_id)))
    return tuple(metadata)


class ServiceClient:
    """Calls to one service (``name`` as clients should read it: "orders") under one policy."""

    def __init__(self, name: str, policy: CallPolicy) -> None:
        self.name = name
        self._policy = policy

    async def call(
        self,
        method: grpc.aio.UnaryUnaryMultiCallable[RequestT, ReplyT],
        request: RequestT,
        *,
        rpc: str,
        caller: Principal | None,
        idempotent: bool,
    ) -> ReplyT:
        """``method(request)`` with a deadline; raises the mapped ``ApiProblem`` when it fails."""
        attempts = self._policy.read_attempts if idempotent else 1
        metadata = call_metadata(caller)
        for attempt in range(1, attempts + 1):
            try:
                return await method(request, timeout=self._policy.deadline_seconds, metadata=metadata)
            except grpc.aio.AioRpcError as error:
                if error.code() is grpc.StatusCode.UNAVAILABLE and attempt < attempts:
                    await asyncio.sleep(self._policy.backoff(attempt))
                    continue
                raise backend_problem(
                    self.name, rpc, error.code(), error.details() or "", self._policy.retry_after_seconds
                ) from None
        raise AssertionError("unreachable: the last attempt returns or raises")

"""How the gateway calls a service: one channel each, a deadline on every call, the request's metadata,
retries with backoff for idempotent reads on UNAVAILABLE only, and errors mapped by ``grpc_status``.

A service that is down fails a call at once (the channel does not wait for it to come up), so the client
gets a 503 quickly; reconnect backoff is kept short so the gateway notices when it is back.

A channel balances calls over every address of its service (``round_robin``; ``pick_first`` would send all
of them to one replica): a host name is dialled as ``dns:///host:port``, which with a headless Kubernetes
Service (or Compose's service name) resolves to every replica. The services close connections after a few
minutes (``ecommerce_runtime.grpc_server``), so the channel resolves again and finds new replicas.
Keepalive pings, at the rate the services permit, find a replica that vanished without closing its
connections before a call does.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from ecommerce_runtime.backoff import Backoff
from ecommerce_runtime.grpc_server import PERMITTED_PING_INTERVAL_MS
from ecommerce_runtime.tracing import current_traceparent
from gateway.adapters.grpc_status import backend_problem
from gateway.adapters.request_context import current_request_id
from gateway.domain import Principal

RequestT = TypeVar("RequestT", bound=Message)
ReplyT = TypeVar("ReplyT", bound=Message)

KEEPALIVE_TIME_MS = 3 * PERMITTED_PING_INTERVAL_MS
CHANNEL_OPTIONS = [
    ("grpc.lb_policy_name", "round_robin"),
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.enable_retries", 0),  # retries are decided here, per call, for reads only
    ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),  # also on idle connections: the next call finds them alive
    ("grpc.http2.max_pings_without_data", 0),  # no cap on pings between calls (the default stops at 2)
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


def channel_target(address: str) -> str:
    """The gRPC target of ``host:port``: ``dns:///host:port`` for a host name (every address it resolves
    to, resolved again when a connection is lost), the address itself for an IP literal."""
    host = address.rpartition(":")[0].strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return f"dns:///{address}"
    return address


def open_channel(address: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(channel_target(address), options=CHANNEL_OPTIONS)


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

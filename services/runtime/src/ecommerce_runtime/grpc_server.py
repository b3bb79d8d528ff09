"""A ``grpc.aio`` server with the standard health service and reflection, stopped gracefully.

Services register their servicers; the health service answers SERVING for each of them once started, and
NOT_SERVING for everything from the moment a shutdown begins, so load balancers stop sending work while
in-flight calls finish within the grace period. The empty name (the whole server, what readiness probes
and the gateway's ``/readyz`` ask) is SERVING only once the service says it is ready: for a service that
consumes events, once its consumer is consuming, so no event published after ``/readyz`` turned green can
miss a queue that did not exist yet. Its own gRPC API serves before that (the outbox keeps what it writes).

Replicas: clients balance over every replica (round_robin over the addresses DNS gives for a headless
Service) but learn of new replicas only when they resolve again, which a lost connection triggers. So a
connection lives at most ``MAX_CONNECTION_AGE_MS`` (plus gRPC's jitter): the server then sends GOAWAY,
in-flight calls get ``MAX_CONNECTION_AGE_GRACE_MS`` to finish, and the client reconnects and re-resolves.
Clients may send keepalive pings, with or without calls in flight, every ``PERMITTED_PING_INTERVAL_MS``
at most often; a client that pings more often is told "too many pings" and cut off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

log = logging.getLogger(__name__)

MAX_CONNECTION_AGE_MS = 5 * 60 * 1000
MAX_CONNECTION_AGE_GRACE_MS = 30 * 1000
"""What calls still running on an aged connection get: far more than the gateway's gRPC deadline (5 s by
default); a call still running after it is cut short, UNAVAILABLE, which the gateway answers 503."""
PERMITTED_PING_INTERVAL_MS = 10 * 1000
"""The gateway pings every 30 s (``gateway.adapters.grpc_calls``): well above this floor."""
SERVER_OPTIONS = [
    ("grpc.max_connection_age_ms", MAX_CONNECTION_AGE_MS),
    ("grpc.max_connection_age_grace_ms", MAX_CONNECTION_AGE_GRACE_MS),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", PERMITTED_PING_INTERVAL_MS),
]


@dataclass(frozen=True, slots=True)
class Registration:
    """One servicer: the generated ``add_*Servicer_to_server`` function, the servicer, its full name."""

    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: object
    service_name: str


class GrpcServer:
    def __init__(self, registrations: Sequence[Registration], bind: str) -> None:
        self._server = grpc.aio.server(options=SERVER_OPTIONS)
        self._health = health.aio.HealthServicer()
        self._names = [r.service_name for r in registrations]
        for registration in registrations:
            registration.add_to_server(registration.servicer, self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            [
                *self._names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            self._server,
        )
        self.port = self._server.add_insecure_port(bind)
        if self.port == 0:
            raise OSError(f"cannot bind the gRPC server to {bind}")

    async def start(self, *, ready: bool = True) -> None:
        await self._server.start()
        for name in self._names:
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        await self.set_ready(ready)
        log.info("gRPC server listening", extra={"port": self.port, "services": self._names})

    async def set_ready(self, ready: bool) -> None:
        """What the whole server (health name ``""``) reports: SERVING only when ``ready``."""
        status = (
            health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        await self._health.set("", status)

    async def stop(self, grace: float) -> None:
        """Reports NOT_SERVING, refuses new calls, and gives in-flight calls ``grace`` seconds."""
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace)
        log.info("gRPC server stopped")

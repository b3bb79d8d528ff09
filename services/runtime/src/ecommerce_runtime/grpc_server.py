"""A ``grpc.aio`` server with the standard health service and reflection, stopped gracefully.

Services register their servicers; the health service answers SERVING for each of them once started, and
NOT_SERVING for everything from the moment a shutdown begins, so load balancers stop sending work while
in-flight calls finish within the grace period. The empty name (the whole server, what readiness probes
and the gateway's ``/readyz`` ask) is SERVING only once the service says it is ready: for a service that
consumes events, once its consumer is consuming, so no event published after ``/readyz`` turned green can
miss a queue that did not exist yet. Its own gRPC API serves before that (the outbox keeps what it writes).
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


@dataclass(frozen=True, slots=True)
class Registration:
    """One servicer: the generated ``add_*Servicer_to_server`` function, the servicer, its full name."""

    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: object
    service_name: str


class GrpcServer:
    def __init__(self, registrations: Sequence[Registration], bind: str) -> None:
        self._server = grpc.aio.server()
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

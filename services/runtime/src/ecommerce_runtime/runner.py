"""The shell every gRPC service runs in: database, gRPC server, broker session, background jobs, stop.

A service's bootstrap says only what is its own (its servicer, its queue's subscriber, whether it has an
outbox, its background jobs); ``ServiceRunner`` does the rest the same way everywhere:

- ``start``: migrations (and the service's own preparation, such as a seed), then the gRPC server, which
  answers at once but reports the whole server NOT_SERVING until the broker session is up;
- the broker session (``bus.run_connected``: retried with backoff while the broker is down): a publisher
  and the outbox relay, a consumer of the service's queue; then readiness;
- ``stop`` (graceful): the gRPC server refuses new calls and finishes in-flight ones, the consumer stops
  and finishes what it holds, the relay flushes, background jobs get the grace period, connections close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from aio_pika.abc import AbstractRobustConnection
from pydantic import Field
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from ecommerce_runtime import bus
from ecommerce_runtime.config import ServiceSettings
from ecommerce_runtime.grpc_server import GrpcServer, Registration
from ecommerce_runtime.migrations import upgrade_to_head
from ecommerce_runtime.outbox import OutboxRelay
from ecommerce_runtime.tracing import set_traceparent

log = logging.getLogger(__name__)

Job = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
"""A background job: runs until the event is set."""
HandlersT = TypeVar("HandlersT")


class GrpcServiceSettings(ServiceSettings):
    """Settings of every gRPC service (prefixed by the subclass: ``ORDERS_DATABASE_URL``, ...)."""

    database_url: str | None = None
    """SQLAlchemy URL; unset means the SQLite file ``$VAR_DIR/<service>.db``."""
    database_pool_size: int = Field(default=5, ge=1, le=100)
    """Connections each process keeps open to its database."""
    database_max_overflow: int = Field(default=10, ge=0, le=100)
    """Connections opened beyond the pool at peaks (closed when returned): a process holds at most
    pool size + overflow, which is what PostgreSQL's ``max_connections`` must cover per replica."""
    grpc_bind: str
    consumer_prefetch: int = Field(default=20, ge=1, le=1000)
    delivery_limit: int = Field(default=5, ge=1, le=100)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0, le=300)


@dataclass(frozen=True, slots=True)
class Messaging:
    """A service's side of the broker: the outbox it relays and the subscriber of its queue (either may
    be absent)."""

    outbox: Table | None = None
    subscriber: bus.Subscriber | None = None


def every(seconds: float, job: Callable[[], Awaitable[object]], *, what: str, at_start: bool) -> Job:
    """A job that runs ``job`` every ``seconds`` (first at once if ``at_start``); a failure is logged and
    the next run comes at the usual time."""

    async def run(stop: asyncio.Event) -> None:
        wait = not at_start
        while True:
            if wait:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), seconds)
            if stop.is_set():
                return
            wait = True
            set_traceparent(None)  # each run is an operation of its own
            try:
                await job()
            except Exception:
                log.exception("%s failed; trying again in %.0fs", what, seconds)

    return run


@dataclass
class ServiceRunner(Generic[HandlersT]):
    """One running service (see the module docstring); ``handlers`` are its use cases."""

    name: str
    settings: GrpcServiceSettings
    engine: AsyncEngine
    handlers: HandlersT
    migrations: Path
    grpc: Sequence[Registration]
    messaging: Messaging
    jobs: Sequence[Job] = ()
    prepare: Callable[[], Awaitable[None]] | None = None
    """The service's own preparation after the migrations (``migrate`` runs it too)."""
    consuming: asyncio.Event = field(default_factory=asyncio.Event)
    """Set while the service's consumer is consuming (the broker is reachable and the queue declared)."""
    grpc_port: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _jobs: list[asyncio.Task[None]] = field(default_factory=list)
    _server: GrpcServer | None = None
    _relay: OutboxRelay | None = None

    def wake_relay(self) -> None:
        """Wakes the outbox relay now (hand this to the use cases as their ``on_commit``)."""
        if self._relay is not None:
            self._relay.notify()

    async def prepare_database(self) -> None:
        await upgrade_to_head(self.engine, self.migrations)
        if self.prepare is not None:
            await self.prepare()
        log.info("database ready")

    async def start(self) -> None:
        await self.prepare_database()
        self._server = GrpcServer(self.grpc, self.settings.grpc_bind)
        self.grpc_port = self._server.port
        await self._server.start(ready=False)  # ready once the broker session is up
        self._tasks.append(asyncio.create_task(self._broker(), name=f"{self.name}-broker"))
        self._jobs.extend(asyncio.create_task(job(self._stop), name=f"{self.name}-job") for job in self.jobs)

    async def _broker(self) -> None:
        await bus.run_connected(self.settings.amqp_url, self._stop, self._session)

    async def _session(self, connection: AbstractRobustConnection) -> None:
        publisher, relay_task, consumer = None, None, None
        if self.messaging.outbox is not None:
            publisher = bus.Publisher(connection)
            await publisher.start()
            self._relay = OutboxRelay(self.engine, self.messaging.outbox, publisher)
            relay_task = asyncio.create_task(self._relay.run(self._stop), name=f"{self.name}-outbox-relay")
        if self.messaging.subscriber is not None:
            consumer = bus.Consumer(
                connection,
                self.name,
                self.messaging.subscriber,
                prefetch=self.settings.consumer_prefetch,
                delivery_limit=self.settings.delivery_limit,
            )
            await consumer.start()
            self.consuming.set()
        if self._server is not None:
            await self._server.set_ready(True)
        await self._stop.wait()
        self.consuming.clear()
        if consumer is not None:
            await consumer.stop(timeout=self.settings.shutdown_grace_seconds)
        if relay_task is not None:
            await relay_task  # flushes what the last use cases wrote
        if publisher is not None:
            await publisher.close()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    async def stop(self) -> None:
        """Graceful: stop taking calls and finish in-flight ones, stop consuming, flush the outbox."""
        grace = self.settings.shutdown_grace_seconds
        if self._server is not None:
            await self._server.stop(grace)
        self._stop.set()
        if self._jobs:
            # A job still busy after the grace period (a provider that hangs) is cut short; its work resumes
            # on the next start.
            _, busy = await asyncio.wait(self._jobs, timeout=grace)
            for task in busy:
                task.cancel()
            await asyncio.gather(*busy, return_exceptions=True)
        for task in self._tasks:
            await task
        await self.engine.dispose()

    async def run(self, stop: asyncio.Event) -> None:
        """Starts, serves until ``stop`` is set, stops."""
        await self.start()
        log.info("%s service ready", self.name.removesuffix("s"), extra={"grpc_port": self.grpc_port})
        await stop.wait()
        await self.stop()

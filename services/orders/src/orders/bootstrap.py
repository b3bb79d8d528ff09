"""Composition root of the Order Service: reads the settings once and wires adapters into the use cases."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aio_pika.abc
from pydantic import Field
from pydantic_settings import SettingsConfigDict
from sqlalchemy.ext.asyncio import AsyncEngine

from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce_runtime import bus
from ecommerce_runtime.config import ServiceSettings
from ecommerce_runtime.db import create_engine, database_url
from ecommerce_runtime.grpc_server import GrpcServer, Registration
from ecommerce_runtime.migrations import upgrade_to_head
from ecommerce_runtime.outbox import OutboxRelay
from orders.adapters import tables
from orders.adapters.catalog_seed import DEFAULT_CATALOG, load_catalog, seed_catalog
from orders.adapters.grpc_server import OrderServicer
from orders.adapters.messaging import payment_events
from orders.adapters.repository import SqlUnitOfWork
from orders.handlers import Clock, OrderHandlers, utc_now

SERVICE = "orders"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
log = logging.getLogger(__name__)


class OrdersSettings(ServiceSettings):
    """The Order Service's settings: ``ORDERS_*`` and the shared ``AMQP_URL``, ``LOG_LEVEL``, ``VAR_DIR``."""

    model_config = SettingsConfigDict(env_prefix="ORDERS_", frozen=True, extra="ignore")

    database_url: str | None = None
    """SQLAlchemy URL; unset means the SQLite file ``$VAR_DIR/orders.db``."""
    grpc_bind: str = "127.0.0.1:50051"
    catalog_file: Path = DEFAULT_CATALOG
    idempotency_retention_hours: int = Field(default=48, ge=24, le=24 * 365)
    consumer_prefetch: int = Field(default=20, ge=1, le=1000)
    delivery_limit: int = Field(default=5, ge=1, le=100)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0, le=300)


@dataclass
class OrderService:
    """The running service: gRPC server, outbox relay and payment-event consumer over one database."""

    settings: OrdersSettings
    engine: AsyncEngine
    handlers: OrderHandlers
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _server: GrpcServer | None = None
    grpc_port: int = 0

    async def prepare_database(self) -> None:
        """Migrations to head, then the catalog seeded (idempotent)."""
        await upgrade_to_head(self.engine, MIGRATIONS)
        added = await seed_catalog(self.engine, load_catalog(self.settings.catalog_file))
        log.info("database ready", extra={"products_added": added})

    async def start(self) -> None:
        await self.prepare_database()
        registration = Registration(
            orders_pb2_grpc.add_OrderServiceServicer_to_server,
            OrderServicer(self.handlers),
            orders_pb2.DESCRIPTOR.services_by_name["OrderService"].full_name,
        )
        self._server = GrpcServer([registration], self.settings.grpc_bind)
        self.grpc_port = self._server.port
        await self._server.start(ready=False)  # ready once the consumer consumes
        self._tasks.append(asyncio.create_task(self._messaging(), name="orders-messaging"))
        self._tasks.append(asyncio.create_task(self._purge_idempotency_keys(), name="orders-key-purge"))

    async def _messaging(self) -> None:
        """Broker side: relay + consumer, (re)connecting with backoff while the broker is unreachable."""
        await bus.run_connected(self.settings.amqp_url, self._stop, self._run_messaging)

    async def _run_messaging(self, connection: aio_pika.abc.AbstractRobustConnection) -> None:
        publisher = bus.Publisher(connection)
        await publisher.start()
        relay = OutboxRelay(self.engine, tables.outbox, publisher)
        self.handlers.on_commit = relay.notify
        consumer = bus.Consumer(
            connection,
            SERVICE,
            payment_events(self.handlers),
            prefetch=self.settings.consumer_prefetch,
            delivery_limit=self.settings.delivery_limit,
        )
        await consumer.start()
        if self._server is not None:
            await self._server.set_ready(True)
        relay_task = asyncio.create_task(relay.run(self._stop), name="orders-outbox-relay")
        await self._stop.wait()
        await consumer.stop(timeout=self.settings.shutdown_grace_seconds)
        await relay_task  # flushes what the last handlers wrote
        await publisher.close()

    async def _purge_idempotency_keys(self) -> None:
        retention = timedelta(hours=self.settings.idempotency_retention_hours)
        while not self._stop.is_set():
            try:
                forgotten = await self.handlers.forget_old_idempotency_keys(retention)
                if forgotten:
                    log.info("forgot %d idempotency key(s) older than %s", forgotten, retention)
            except Exception:
                log.exception("idempotency key purge failed; retrying in an hour")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 3600)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    async def stop(self) -> None:
        """Graceful: stop taking calls and finish in-flight ones, stop consuming, flush the outbox."""
        if self._server is not None:
            await self._server.stop(self.settings.shutdown_grace_seconds)
        self._stop.set()
        for task in self._tasks:
            await task
        await self.engine.dispose()


def bootstrap(settings: OrdersSettings, clock: Clock = utc_now) -> OrderService:
    engine = create_engine(database_url(settings.database_url, SERVICE, settings.var_dir))
    handlers = OrderHandlers(lambda: SqlUnitOfWork(engine), clock)
    return OrderService(settings, engine, handlers)

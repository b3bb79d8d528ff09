"""Composition root of the Payment Service: reads the settings once and wires adapters into the use cases."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aio_pika.abc
from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict
from sqlalchemy.ext.asyncio import AsyncEngine

from ecommerce.payments.v1 import payments_pb2, payments_pb2_grpc
from ecommerce_runtime import bus
from ecommerce_runtime.config import ServiceSettings
from ecommerce_runtime.db import create_engine, database_url
from ecommerce_runtime.grpc_server import GrpcServer, Registration
from ecommerce_runtime.migrations import upgrade_to_head
from ecommerce_runtime.outbox import OutboxRelay
from ecommerce_runtime.tracing import set_traceparent
from payments.adapters import tables
from payments.adapters.grpc_server import PaymentServicer
from payments.adapters.messaging import order_events
from payments.adapters.provider_simulator import SimulatedProvider
from payments.adapters.repository import SqlUnitOfWork
from payments.handlers import Clock, PaymentHandlers, RetryPolicy, utc_now
from payments.ports import PaymentProvider

SERVICE = "payments"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
log = logging.getLogger(__name__)


class PaymentsSettings(ServiceSettings):
    """Settings: ``PAYMENTS_*`` and the shared ``AMQP_URL``, ``LOG_LEVEL``, ``VAR_DIR``.

    A bad value stops the service at start with a message naming the variable (exit status 2).
    """

    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", frozen=True, extra="ignore")

    database_url: str | None = None
    """SQLAlchemy URL; unset means the SQLite file ``$VAR_DIR/payments.db``."""
    grpc_bind: str = "127.0.0.1:50052"
    consumer_prefetch: int = Field(default=20, ge=1, le=1000)
    delivery_limit: int = Field(default=5, ge=1, le=100)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0, le=300)
    max_charge_attempts: int = Field(default=4, ge=1, le=20)
    """Provider calls per charge before the payment fails as ``provider_unavailable``."""
    charge_backoff_initial_ms: int = Field(default=200, ge=0, le=60_000)
    charge_backoff_max_ms: int = Field(default=5_000, ge=0, le=300_000)
    provider_latency_ms: int = Field(default=20, ge=0, le=60_000)
    """The simulated provider answers after a random 0..this many milliseconds."""
    recovery_interval_seconds: float = Field(default=60.0, gt=0, le=86_400)
    recovery_age_seconds: float = Field(default=300.0, ge=0, le=86_400 * 7)
    """A payment still needing the provider, untouched this long, is resumed by the recovery loop."""

    @field_validator("charge_backoff_max_ms")
    @classmethod
    def _max_not_below_initial(cls, value: int, info: ValidationInfo) -> int:
        initial = info.data.get("charge_backoff_initial_ms")
        if isinstance(initial, int) and value < initial:
            raise ValueError(f"must be >= PAYMENTS_CHARGE_BACKOFF_INITIAL_MS ({initial})")
        return value

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_charge_attempts,
            first_delay=self.charge_backoff_initial_ms / 1000,
            max_delay=self.charge_backoff_max_ms / 1000,
        )


ProviderFactory = Callable[[AsyncEngine, PaymentsSettings, Clock], PaymentProvider]


def simulated_provider(engine: AsyncEngine, settings: PaymentsSettings, clock: Clock) -> PaymentProvider:
    """The default provider: the simulator, keeping its books in the service's database."""
    return SimulatedProvider(engine, clock, latency_ms=settings.provider_latency_ms)


@dataclass
class PaymentService:
    """The running service: gRPC server, outbox relay, order-event consumer and recovery over one database."""

    settings: PaymentsSettings
    engine: AsyncEngine
    handlers: PaymentHandlers
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _server: GrpcServer | None = None
    grpc_port: int = 0
    consuming: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the order-event consumer is consuming (the broker is reachable and the queue declared)."""

    async def prepare_database(self) -> None:
        """Migrations to head."""
        await upgrade_to_head(self.engine, MIGRATIONS)
        log.info("database ready")

    async def start(self) -> None:
        await self.prepare_database()
        registration = Registration(
            payments_pb2_grpc.add_PaymentServiceServicer_to_server,
            PaymentServicer(self.handlers),
            payments_pb2.DESCRIPTOR.services_by_name["PaymentService"].full_name,
        )
        self._server = GrpcServer([registration], self.settings.grpc_bind)
        self.grpc_port = self._server.port
        await self._server.start(ready=False)  # ready once the consumer consumes
        self._tasks.append(asyncio.create_task(self._messaging(), name="payments-messaging"))
        self._tasks.append(asyncio.create_task(self._recover(), name="payments-recovery"))

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
            order_events(self.handlers),
            prefetch=self.settings.consumer_prefetch,
            delivery_limit=self.settings.delivery_limit,
        )
        await consumer.start()
        self.consuming.set()
        if self._server is not None:
            await self._server.set_ready(True)
        relay_task = asyncio.create_task(relay.run(self._stop), name="payments-outbox-relay")
        await self._stop.wait()
        self.consuming.clear()
        await consumer.stop(timeout=self.settings.shutdown_grace_seconds)
        await relay_task  # flushes what the last handlers wrote
        await publisher.close()

    async def _recover(self) -> None:
        """Resumes payments whose message is gone (dead-lettered) before they rest: a charge PENDING after a
        crash, a refund owed after the provider stayed unavailable."""
        untouched_for = timedelta(seconds=self.settings.recovery_age_seconds)
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.settings.recovery_interval_seconds)
            if self._stop.is_set():
                return
            set_traceparent(None)
            try:
                resumed = await self.handlers.settle_unsettled(untouched_for)
                if resumed:
                    log.info("recovery resumed %d unsettled payment(s)", resumed)
            except Exception:
                log.exception("payment recovery failed; retrying at the next interval")

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    async def stop(self) -> None:
        """Graceful: stop taking calls and finish in-flight ones, stop consuming, flush the outbox."""
        if self._server is not None:
            await self._server.stop(self.settings.shutdown_grace_seconds)
        self._stop.set()
        messaging, recovery = self._tasks
        # A recovery pass still asking the provider is cut short; what it left unsettled resumes later.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(recovery, self.settings.shutdown_grace_seconds)
        await messaging
        await self.engine.dispose()


def bootstrap(
    settings: PaymentsSettings,
    clock: Clock = utc_now,
    provider: ProviderFactory = simulated_provider,
) -> PaymentService:
    engine = create_engine(database_url(settings.database_url, SERVICE, settings.var_dir))
    handlers = PaymentHandlers(
        lambda: SqlUnitOfWork(engine),
        provider(engine, settings, clock),
        retry=settings.retry_policy,
        clock=clock,
    )
    return PaymentService(settings, engine, handlers)

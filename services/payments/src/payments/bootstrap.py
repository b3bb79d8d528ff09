"""Composition root of the Payment Service: reads the settings once and wires adapters into the use cases."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict
from sqlalchemy.ext.asyncio import AsyncEngine

from ecommerce.payments.v1 import payments_pb2, payments_pb2_grpc
from ecommerce_runtime.clock import Clock, utc_now
from ecommerce_runtime.db import create_engine, database_url
from ecommerce_runtime.grpc_server import Registration
from ecommerce_runtime.runner import GrpcServiceSettings, Messaging, ServiceRunner, every
from payments.adapters import tables
from payments.adapters.grpc_server import PaymentServicer
from payments.adapters.messaging import order_events
from payments.adapters.provider_simulator import SimulatedProvider
from payments.adapters.repository import SqlUnitOfWork
from payments.handlers import PaymentHandlers, RetryPolicy
from payments.ports import PaymentProvider

SERVICE = "payments"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
log = logging.getLogger(__name__)


class PaymentsSettings(GrpcServiceSettings):
    """Settings: ``PAYMENTS_*`` and the shared ``AMQP_URL``, ``LOG_LEVEL``, ``VAR_DIR``.

    A bad value stops the service at start with a message naming the variable (exit status 2).
    """

    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", frozen=True, extra="ignore")

    grpc_bind: str = "127.0.0.1:50052"
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


PaymentService = ServiceRunner[PaymentHandlers]


def bootstrap(
    settings: PaymentsSettings,
    clock: Clock = utc_now,
    provider: ProviderFactory = simulated_provider,
) -> PaymentService:
    engine = create_engine(
        database_url(settings.database_url, SERVICE, settings.var_dir),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    handlers = PaymentHandlers(
        lambda: SqlUnitOfWork(engine),
        provider(engine, settings, clock),
        retry=settings.retry_policy,
        clock=clock,
    )
    untouched_for = timedelta(seconds=settings.recovery_age_seconds)

    async def recover() -> None:
        """Resumes payments whose message is gone (dead-lettered) before they rest: a charge PENDING after
        a crash, a refund owed after the provider stayed unavailable."""
        resumed = await handlers.settle_unsettled(untouched_for)
        if resumed:
            log.info("recovery resumed %d unsettled payment(s)", resumed)

    service = PaymentService(
        SERVICE,
        settings,
        engine,
        handlers,
        MIGRATIONS,
        grpc=[
            Registration(
                payments_pb2_grpc.add_PaymentServiceServicer_to_server,
                PaymentServicer(handlers),
                payments_pb2.DESCRIPTOR.services_by_name["PaymentService"].full_name,
            )
        ],
        messaging=Messaging(outbox=tables.outbox, subscriber=order_events(handlers)),
        jobs=[every(settings.recovery_interval_seconds, recover, what="payment recovery", at_start=False)],
    )
    handlers.on_commit = service.wake_relay
    return service

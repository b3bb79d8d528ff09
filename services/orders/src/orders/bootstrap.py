"""Composition root of the Order Service: reads the settings once and wires adapters into the use cases."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce_runtime.clock import Clock, utc_now
from ecommerce_runtime.db import create_engine, database_url
from ecommerce_runtime.grpc_server import Registration
from ecommerce_runtime.runner import GrpcServiceSettings, Messaging, ServiceRunner, every
from orders.adapters import tables
from orders.adapters.catalog_seed import DEFAULT_CATALOG, load_catalog, seed_catalog
from orders.adapters.grpc_server import OrderServicer
from orders.adapters.messaging import payment_events
from orders.adapters.repository import SqlUnitOfWork
from orders.handlers import OrderHandlers

SERVICE = "orders"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
log = logging.getLogger(__name__)


class OrdersSettings(GrpcServiceSettings):
    """The Order Service's settings: ``ORDERS_*`` and the shared ``AMQP_URL``, ``LOG_LEVEL``, ``VAR_DIR``."""

    model_config = SettingsConfigDict(env_prefix="ORDERS_", frozen=True, extra="ignore")

    grpc_bind: str = "127.0.0.1:50051"
    catalog_file: Path = DEFAULT_CATALOG
    idempotency_retention_hours: int = Field(default=48, ge=24, le=24 * 365)


OrderService = ServiceRunner[OrderHandlers]


def bootstrap(settings: OrdersSettings, clock: Clock = utc_now) -> OrderService:
    engine = create_engine(
        database_url(settings.database_url, SERVICE, settings.var_dir),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    handlers = OrderHandlers(lambda: SqlUnitOfWork(engine), clock)
    retention = timedelta(hours=settings.idempotency_retention_hours)

    async def seed_catalog_once() -> None:
        added = await seed_catalog(engine, load_catalog(settings.catalog_file))
        log.info("catalog seeded", extra={"products_added": added})

    async def purge_idempotency_keys() -> None:
        forgotten = await handlers.forget_old_idempotency_keys(retention)
        if forgotten:
            log.info("forgot %d idempotency key(s) older than %s", forgotten, retention)

    service = OrderService(
        SERVICE,
        settings,
        engine,
        handlers,
        MIGRATIONS,
        grpc=[
            Registration(
                orders_pb2_grpc.add_OrderServiceServicer_to_server,
                OrderServicer(handlers),
                orders_pb2.DESCRIPTOR.services_by_name["OrderService"].full_name,
            )
        ],
        messaging=Messaging(outbox=tables.outbox, subscriber=payment_events(handlers)),
        jobs=[every(3600, purge_idempotency_keys, what="idempotency key purge", at_start=True)],
        prepare=seed_catalog_once,
    )
    handlers.on_commit = service.wake_relay
    return service

"""Composition root of the Notification Service: reads the settings once and wires adapters into the use
cases."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal

import aio_pika.abc
from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict
from sqlalchemy.ext.asyncio import AsyncEngine

from ecommerce.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from ecommerce_runtime import bus
from ecommerce_runtime.config import ServiceSettings
from ecommerce_runtime.db import create_engine, database_url
from ecommerce_runtime.grpc_server import GrpcServer, Registration
from ecommerce_runtime.migrations import upgrade_to_head
from notifications.adapters.email_templates import TEMPLATES_DIR, EmailTemplates
from notifications.adapters.grpc_server import NotificationServicer
from notifications.adapters.messaging import customer_events
from notifications.adapters.repository import SqlUnitOfWork
from notifications.adapters.smtp import SmtpConfig, SmtpMailer, parse_sender
from notifications.domain import RetryPolicy
from notifications.handlers import Clock, DeliverySettings, NotificationHandlers, utc_now
from notifications.mailer import MailerLoop
from notifications.ports import Mailer

SERVICE = "notifications"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
log = logging.getLogger(__name__)


class NotificationsSettings(ServiceSettings):
    """The Notification Service's settings: ``NOTIFICATIONS_*`` and the shared ``AMQP_URL``, ``LOG_LEVEL``,
    ``VAR_DIR``. The SMTP defaults point at the dev sink (``python -m notifications.dev_smtp``)."""

    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", frozen=True, extra="ignore")

    database_url: str | None = None
    """SQLAlchemy URL; unset means the SQLite file ``$VAR_DIR/notifications.db``."""
    grpc_bind: str = "127.0.0.1:50053"
    consumer_prefetch: int = Field(default=20, ge=1, le=1000)
    delivery_limit: int = Field(default=5, ge=1, le=100)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0, le=300)

    smtp_host: str = Field(default="127.0.0.1", min_length=1)
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_password: SecretStr | None = None
    smtp_username: str | None = Field(default=None, min_length=1, validate_default=True)
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_from: str = "E-commerce <no-reply@ecommerce.localhost>"
    smtp_timeout_seconds: float = Field(default=15.0, gt=0, le=300)

    max_send_attempts: int = Field(default=20, ge=1, le=1000)
    """With the default backoff (5 s doubling, capped at 30 min) 20 attempts ride out about 6 hours."""
    retry_first_delay_seconds: float = Field(default=5.0, gt=0, le=3600)
    retry_max_delay_seconds: float = Field(default=1800.0, gt=0, le=86400)
    mailer_batch_size: int = Field(default=20, ge=1, le=500)
    mailer_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    templates_dir: Path = TEMPLATES_DIR

    @field_validator("smtp_username")
    @classmethod
    def _login_needs_both(cls, username: str | None, info: ValidationInfo) -> str | None:
        # Checked on the username (declared after the password) so an error never echoes the password.
        if (username is None) != (info.data.get("smtp_password") is None):
            raise ValueError(
                "set both NOTIFICATIONS_SMTP_USERNAME and NOTIFICATIONS_SMTP_PASSWORD, or neither"
            )
        return username

    @field_validator("smtp_from")
    @classmethod
    def _one_address(cls, value: str) -> str:
        parse_sender(value)
        return value

    @field_validator("retry_max_delay_seconds")
    @classmethod
    def _cap_above_first(cls, value: float, info: ValidationInfo) -> float:
        first = info.data.get("retry_first_delay_seconds")
        if first is not None and value < first:
            raise ValueError(f"must be at least NOTIFICATIONS_RETRY_FIRST_DELAY_SECONDS ({first})")
        return value

    def smtp(self) -> SmtpConfig:
        return SmtpConfig(
            host=self.smtp_host,
            port=self.smtp_port,
            username=self.smtp_username,
            password=self.smtp_password.get_secret_value() if self.smtp_password else None,
            tls=self.smtp_tls,
            sender=self.smtp_from,
            timeout=self.smtp_timeout_seconds,
        )

    def delivery(self) -> DeliverySettings:
        retry = RetryPolicy(
            max_attempts=self.max_send_attempts,
            first_delay=timedelta(seconds=self.retry_first_delay_seconds),
            max_delay=timedelta(seconds=self.retry_max_delay_seconds),
        )
        # A claim must outlive the batch: connecting plus every message timing out, with room to spare.
        lease = timedelta(seconds=self.smtp_timeout_seconds * (self.mailer_batch_size + 2) * 2)
        return DeliverySettings(retry=retry, batch_size=self.mailer_batch_size, lease=lease)


@dataclass
class NotificationService:
    """The running service: gRPC server, event consumer and mailer loop over one database."""

    settings: NotificationsSettings
    engine: AsyncEngine
    handlers: NotificationHandlers
    mailer: MailerLoop
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _server: GrpcServer | None = None
    _consumer: bus.Consumer | None = None
    grpc_port: int = 0

    async def prepare_database(self) -> None:
        await upgrade_to_head(self.engine, MIGRATIONS)
        log.info("database ready")

    async def start(self) -> None:
        await self.prepare_database()
        registration = Registration(
            notifications_pb2_grpc.add_NotificationServiceServicer_to_server,
            NotificationServicer(self.handlers),
            notifications_pb2.DESCRIPTOR.services_by_name["NotificationService"].full_name,
        )
        self._server = GrpcServer([registration], self.settings.grpc_bind)
        self.grpc_port = self._server.port
        await self._server.start(ready=False)  # ready once the consumer consumes
        self.handlers.on_commit = self.mailer.notify
        self._tasks.append(asyncio.create_task(self._messaging(), name="notifications-messaging"))
        self._tasks.append(asyncio.create_task(self.mailer.run(self._stop), name="notifications-mailer"))

    async def _messaging(self) -> None:
        """Broker side: the consumer, (re)connecting with backoff while the broker is unreachable."""
        await bus.run_connected(self.settings.amqp_url, self._stop, self._consume)

    async def _consume(self, connection: aio_pika.abc.AbstractRobustConnection) -> None:
        consumer = bus.Consumer(
            connection,
            SERVICE,
            customer_events(self.handlers),
            prefetch=self.settings.consumer_prefetch,
            delivery_limit=self.settings.delivery_limit,
        )
        await consumer.start()
        if self._server is not None:
            await self._server.set_ready(True)
        self._consumer = consumer
        await self._stop.wait()
        await consumer.stop(timeout=self.settings.shutdown_grace_seconds)

    @property
    def consuming(self) -> bool:
        """Whether events are being taken from the broker (a readiness signal)."""
        return self._consumer is not None and self._consumer.consuming

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    async def stop(self) -> None:
        """Graceful: finish in-flight calls, stop consuming, let the mailer finish the message it is
        sending (its outcome is recorded; the rest of its batch is given back)."""
        if self._server is not None:
            await self._server.stop(self.settings.shutdown_grace_seconds)
        self._stop.set()
        for task in self._tasks:
            await task
        await self.engine.dispose()


def bootstrap(
    settings: NotificationsSettings, clock: Clock = utc_now, mailer: Mailer | None = None
) -> NotificationService:
    engine = create_engine(database_url(settings.database_url, SERVICE, settings.var_dir))
    handlers = NotificationHandlers(
        lambda: SqlUnitOfWork(engine),
        EmailTemplates(settings.templates_dir),
        mailer or SmtpMailer(settings.smtp()),
        clock,
        settings.delivery(),
    )
    loop = MailerLoop(handlers, poll_interval=settings.mailer_poll_seconds)
    return NotificationService(settings, engine, handlers, loop)

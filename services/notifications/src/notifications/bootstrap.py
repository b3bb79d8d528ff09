"""Composition root of the Notification Service: reads the settings once and wires adapters into the use
cases."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from ecommerce.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from ecommerce_runtime.clock import Clock, utc_now
from ecommerce_runtime.db import create_engine, database_url
from ecommerce_runtime.grpc_server import Registration
from ecommerce_runtime.runner import GrpcServiceSettings, Messaging, ServiceRunner
from notifications.adapters.email_templates import TEMPLATES_DIR, EmailTemplates
from notifications.adapters.grpc_server import NotificationServicer
from notifications.adapters.messaging import customer_events
from notifications.adapters.repository import SqlUnitOfWork
from notifications.adapters.smtp import SmtpConfig, SmtpMailer, parse_sender
from notifications.domain import RetryPolicy
from notifications.handlers import DeliverySettings, NotificationHandlers
from notifications.mailer import MailerLoop
from notifications.ports import Mailer

SERVICE = "notifications"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class NotificationsSettings(GrpcServiceSettings):
    """The Notification Service's settings: ``NOTIFICATIONS_*`` and the shared ``AMQP_URL``, ``LOG_LEVEL``,
    ``VAR_DIR``. The SMTP defaults point at the dev sink (``python -m devstack.mailsink``)."""

    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", frozen=True, extra="ignore")

    grpc_bind: str = "127.0.0.1:50053"

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
    mailer_sessions: int = Field(default=4, ge=1, le=64)
    """Mail-server connections sending at once (each works through its own claimed batches)."""
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


NotificationService = ServiceRunner[NotificationHandlers]


def bootstrap(
    settings: NotificationsSettings, clock: Clock = utc_now, mailer: Mailer | None = None
) -> NotificationService:
    engine = create_engine(
        database_url(settings.database_url, SERVICE, settings.var_dir),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    handlers = NotificationHandlers(
        lambda: SqlUnitOfWork(engine),
        EmailTemplates(settings.templates_dir),
        mailer or SmtpMailer(settings.smtp()),
        clock,
        settings.delivery(),
    )
    mailer_loop = MailerLoop(
        handlers,
        sessions=settings.mailer_sessions,
        batch_size=settings.mailer_batch_size,
        poll_interval=settings.mailer_poll_seconds,
    )
    handlers.on_commit = mailer_loop.notify
    return NotificationService(
        SERVICE,
        settings,
        engine,
        handlers,
        MIGRATIONS,
        grpc=[
            Registration(
                notifications_pb2_grpc.add_NotificationServiceServicer_to_server,
                NotificationServicer(handlers),
                notifications_pb2.DESCRIPTOR.services_by_name["NotificationService"].full_name,
            )
        ],
        messaging=Messaging(subscriber=customer_events(handlers)),
        jobs=[mailer_loop.run],
    )

"""Fixtures of the Notification Service's integration tests: a database of each kind (SQLite and
PostgreSQL), a RabbitMQ vhost, a real SMTP server (aiosmtpd, through the dev sink) on a free port, and the
service itself as it runs. Nothing is faked (``ecommerce_runtime.testing``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import pytest
import pytest_asyncio
from devstack.mailsink import MailSink
from notifications_probes import CLOSED_AMQP_URL, Mailbox, ServiceFactory
from sqlalchemy.ext.asyncio import AsyncEngine

from ecommerce.events.channels import EXCHANGE, SUBSCRIPTIONS
from ecommerce_runtime.bus import DEAD_LETTER_EXCHANGE, dlq_name
from ecommerce_runtime.db import create_engine
from ecommerce_runtime.migrations import upgrade_to_head
from ecommerce_runtime.testing.postgres import temporary_postgres_database
from ecommerce_runtime.testing.rabbitmq import temporary_vhost
from notifications.bootstrap import MIGRATIONS, NotificationService, NotificationsSettings, bootstrap


@pytest_asyncio.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}"
    else:
        async with temporary_postgres_database() as url:
            yield url


@pytest_asyncio.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated database (the tests' own view of it, apart from the service's pool)."""
    engine = create_engine(database_url)
    await upgrade_to_head(engine, MIGRATIONS)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vhost_url() -> AsyncIterator[str]:
    async with temporary_vhost() as url:
        yield url


@pytest_asyncio.fixture
async def broker(vhost_url: str) -> AsyncIterator[str]:
    """The module's vhost, emptied of the bus's queues and exchanges after each test."""
    yield vhost_url
    cleaner = await aio_pika.connect(vhost_url)
    async with cleaner:
        channel = await cleaner.channel()
        for subscription in SUBSCRIPTIONS.values():
            await channel.queue_delete(subscription.queue)
            await channel.queue_delete(dlq_name(subscription.queue))
        await channel.exchange_delete(EXCHANGE)
        await channel.exchange_delete(DEAD_LETTER_EXCHANGE)


@pytest_asyncio.fixture
async def mailbox(tmp_path: Path) -> AsyncIterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on a free port, storing to a maildir like ``make run`` does."""
    sink = MailSink("127.0.0.1", 0, tmp_path / "mail")
    async with sink:
        yield Mailbox(sink)


@pytest_asyncio.fixture
async def start_service(database_url: str, tmp_path: Path) -> AsyncIterator[ServiceFactory]:
    """Starts the service against the test database (migrating it), a broker URL and an SMTP port, with
    retry delays short enough for a test; stops every service it started afterwards."""
    started: list[NotificationService] = []

    async def start(
        *, smtp_port: int, amqp_url: str = CLOSED_AMQP_URL, **settings: object
    ) -> NotificationService:
        config = NotificationsSettings(
            database_url=database_url,
            grpc_bind="127.0.0.1:0",
            amqp_url=amqp_url,
            var_dir=tmp_path / "var",
            smtp_port=smtp_port,
            smtp_timeout_seconds=5,
            retry_first_delay_seconds=0.05,
            retry_max_delay_seconds=0.2,
            mailer_poll_seconds=0.05,
            shutdown_grace_seconds=2,
        ).model_copy(update=settings)
        service = bootstrap(config)
        await service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        if not service.stopped:
            await service.stop()

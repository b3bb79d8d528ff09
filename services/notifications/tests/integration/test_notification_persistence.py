"""Persistence and delivery on SQLite and PostgreSQL without the broker: migrations, idempotent recording
under concurrency, replicas that never send a notification twice, and a real server's refusals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import uuid4

import pytest_asyncio
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from devstack.mailsink import MailSink
from notifications_fakes import incoming, order_created, order_paid
from notifications_probes import Mailbox, free_port, stored
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ecommerce_runtime.db import create_engine
from notifications.adapters import tables
from notifications.adapters.email_templates import EmailTemplates
from notifications.adapters.messaging import notice_of
from notifications.adapters.repository import SqlUnitOfWork
from notifications.adapters.smtp import SmtpConfig, SmtpMailer
from notifications.domain import RetryPolicy
from notifications.handlers import DeliverySettings, NotificationHandlers

TEMPLATES = EmailTemplates()
DELIVERY = DeliverySettings(
    retry=RetryPolicy(max_attempts=5, first_delay=timedelta(minutes=1)),
    batch_size=5,
    lease=timedelta(minutes=5),
)


def handlers_on(engine: AsyncEngine, smtp_port: int) -> NotificationHandlers:
    mailer = SmtpMailer(SmtpConfig(port=smtp_port, timeout=5))
    return NotificationHandlers(lambda: SqlUnitOfWork(engine), TEMPLATES, mailer, delivery=DELIVERY)


@pytest_asyncio.fixture
async def replicas(database_url: str, engine: AsyncEngine) -> AsyncIterator[list[AsyncEngine]]:
    """Three more engines on the test database: what three service replicas would each have."""
    engines = [create_engine(database_url) for _ in range(3)]
    try:
        yield engines
    finally:
        for replica in engines:
            await replica.dispose()


async def test_migrations_produce_exactly_the_tables_the_code_uses(engine: AsyncEngine) -> None:
    def diff(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), tables.metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_the_same_event_recorded_concurrently_by_three_replicas_is_stored_once(
    engine: AsyncEngine, replicas: list[AsyncEngine], mailbox: Mailbox
) -> None:
    event = incoming(order_paid(uuid4(), uuid4()))
    notice = notice_of(event.payload)
    assert notice is not None

    results = await asyncio.gather(
        *(handlers_on(replica, mailbox.sink.port).record(event, notice) for replica in replicas)
    )

    assert sorted(results) == [False, False, True]
    assert len(await stored(engine)) == 1


async def test_replicas_sending_at_once_send_every_notification_exactly_once(
    engine: AsyncEngine, replicas: list[AsyncEngine], mailbox: Mailbox
) -> None:
    recorder = handlers_on(engine, mailbox.sink.port)
    for i in range(30):
        event = incoming(order_created(uuid4(), uuid4(), f"customer{i}@example.com"))
        notice = notice_of(event.payload)
        assert notice is not None
        await recorder.record(event, notice)
    mailers = [handlers_on(replica, mailbox.sink.port) for replica in replicas]

    async def drain(handlers: NotificationHandlers) -> int:
        claimed = 0
        while batch := await handlers.send_due():
            claimed += batch
        return claimed

    claimed = await asyncio.gather(*(drain(handlers) for handlers in mailers))

    assert sum(claimed) == 30
    rows = await stored(engine)
    assert {(row["status"], row["attempts"]) for row in rows} == {("SENT", 1)}
    message_ids = [email.message_id for email in mailbox.received]
    assert len(message_ids) == len(set(message_ids)) == 30
    assert {email.rcpt_tos for email in mailbox.received} == {
        (f"customer{i}@example.com",) for i in range(30)
    }


async def test_a_real_servers_refusals_fail_or_defer_only_the_refused_recipient(engine: AsyncEngine) -> None:
    refusals = {"gone@example.com": "550 5.1.1 no such mailbox", "full@example.com": "452 4.2.2 mailbox full"}
    async with MailSink("127.0.0.1", 0, refusals=refusals) as sink:
        handlers = handlers_on(engine, sink.port)
        for email in ("gone@example.com", "full@example.com", "ada@example.com"):
            event = incoming(order_created(uuid4(), uuid4(), email))
            notice = notice_of(event.payload)
            assert notice is not None
            await handlers.record(event, notice)

        assert await handlers.send_due() == 3

    rows = {row["recipient"]: row for row in await stored(engine)}
    assert (rows["gone@example.com"]["status"], rows["gone@example.com"]["next_attempt_at"]) == (
        "FAILED",
        None,
    )
    assert "550 5.1.1 no such mailbox" in str(rows["gone@example.com"]["last_error"])
    assert rows["full@example.com"]["status"] == "PENDING"
    assert "452 4.2.2 mailbox full" in str(rows["full@example.com"]["last_error"])
    assert rows["ada@example.com"]["status"] == "SENT"
    assert [email.rcpt_tos for email in sink.received] == [("ada@example.com",)]


async def test_a_closed_smtp_port_is_a_mail_server_outage_for_the_whole_batch(engine: AsyncEngine) -> None:
    handlers = handlers_on(engine, free_port())
    for _ in range(3):
        event = incoming(order_created(uuid4(), uuid4()))
        notice = notice_of(event.payload)
        assert notice is not None
        await handlers.record(event, notice)

    assert await handlers.send_due() == 3
    assert await handlers.send_due() == 0  # backed off: nothing is due again yet

    rows = await stored(engine)
    assert {(row["status"], row["attempts"]) for row in rows} == {("PENDING", 1)}
    assert all("cannot reach the mail server" in str(row["last_error"]) for row in rows)

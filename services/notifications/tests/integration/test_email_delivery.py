"""The Notification Service as it runs: events in through RabbitMQ, emails out to a real SMTP server
(aiosmtpd), every notification stored, on SQLite and on PostgreSQL.

Each test starts the real service (``bootstrap`` + ``start``) against a real broker vhost; the SMTP server
is the dev sink on a free port, or nothing at all when the test is about an outage.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from uuid import UUID, uuid4

import aio_pika
import pytest
from devstack.mailsink import MailSink
from notifications_fakes import order_created, order_paid, the_five_events
from notifications_probes import WITHIN, Mailbox, ServiceFactory, eventually, free_port, stored
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ecommerce.events.channels import EXCHANGE, Event, channel_of
from ecommerce_runtime import bus
from ecommerce_runtime.messages import new_traceparent, outgoing
from ecommerce_runtime.testing.rabbitmq import take_messages
from notifications.adapters import tables
from notifications.bootstrap import NotificationService


async def publish(amqp_url: str, events: Sequence[tuple[Event, UUID]]) -> None:
    """Publishes each (payload, event id) as its producer would, confirmed by the broker, in order."""
    connection = await bus.connect(amqp_url)
    async with connection:
        publisher = bus.Publisher(connection)
        await publisher.start()
        for payload, event_id in events:
            channel = channel_of(payload)
            await publisher.publish(
                outgoing(
                    payload,
                    event_id=event_id,
                    occurred_at=datetime.now(UTC),
                    producer=channel.producer,
                    correlation_id=str(payload.order_id),
                    traceparent=new_traceparent(),
                )
            )
        await publisher.close()


async def consuming(service: NotificationService) -> None:
    async def ready() -> bool:
        return service.consuming.is_set()

    await eventually(ready, "the service to consume its queue")


async def all_sent(engine: AsyncEngine, count: int) -> list[dict[str, object]]:
    """Waits until ``count`` notifications are stored and every one is SENT; returns them."""

    async def done() -> bool:
        rows = await stored(engine)
        return len(rows) == count and all(row["status"] == "SENT" for row in rows)

    await eventually(done, f"{count} notification(s) to be SENT")
    return await stored(engine)


async def test_each_event_is_stored_and_emailed_to_the_customer(
    broker: str, mailbox: Mailbox, engine: AsyncEngine, start_service: ServiceFactory
) -> None:
    service = await start_service(smtp_port=mailbox.sink.port, amqp_url=broker)
    await consuming(service)
    order_id = uuid4()
    ref = order_id.hex[:8]
    await publish(broker, [(p, uuid4()) for p in the_five_events(order_id, uuid4(), "grace@example.com")])

    rows = await all_sent(engine, 5)
    emails = {email.message_id: email for email in await mailbox.wait_for(5)}

    expected = {
        "order_received": (f"We received your order {ref} — €25.00", "2 \N{MULTIPLICATION SIGN} Enamel mug"),
        "order_paid": (f"Your order {ref} is confirmed — €25.00", "Your payment of €25.00 has gone through"),
        "order_cancelled": (f"Your order {ref} has been cancelled", "We cancelled it as you asked."),
        "payment_failed": (
            f"The payment for your order {ref} did not go through",
            "Your card was declined by the bank.",
        ),
        "payment_refunded": (f"Your refund of €25.00 for order {ref}", "We have refunded €25.00"),
    }
    assert sorted(str(row["template"]) for row in rows) == sorted(expected)
    for row in rows:
        subject, says = expected[str(row["template"])]
        assert (row["recipient"], row["subject"], row["attempts"], row["order_id"]) == (
            "grace@example.com",
            subject,
            1,
            order_id,
        )
        assert row["sent_at"] is not None
        email = emails[f"<{row['id']}@ecommerce.localhost>"]
        assert email.rcpt_tos == ("grace@example.com",)
        assert email.mail_from == "no-reply@ecommerce.localhost"
        assert email.message["To"] == "grace@example.com"
        assert email.message["Subject"] == subject
        assert email.message.get_content_type() == "multipart/alternative"
        assert says in email.body("plain")
        assert email.body("plain") == row["body_text"]
        assert email.body("html") == row["body_html"]
        assert "<!DOCTYPE html>" in email.body("html")
    assert len(mailbox.received) == 5
    assert mailbox.sink.maildir is not None
    assert len(list(mailbox.sink.maildir.glob("*.eml"))) == 5


async def test_an_event_delivered_five_times_is_stored_once_and_emailed_once(
    broker: str, mailbox: Mailbox, engine: AsyncEngine, start_service: ServiceFactory
) -> None:
    service = await start_service(smtp_port=mailbox.sink.port, amqp_url=broker, consumer_prefetch=1)
    await consuming(service)
    duplicated, sentinel = uuid4(), uuid4()
    payload = order_paid(uuid4(), uuid4())
    # With prefetch 1 the queue is handled in order: once the sentinel is stored, all five copies were seen.
    await publish(broker, [(payload, duplicated)] * 5 + [(order_created(uuid4(), uuid4()), sentinel)])

    rows = await all_sent(engine, 2)
    await mailbox.wait_for(2)
    await service.stop()  # nothing more can be sent from here on

    (row,) = [row for row in rows if row["event_id"] == duplicated]
    message_id = f"<{row['id']}@ecommerce.localhost>"
    assert [email.message_id for email in mailbox.received].count(message_id) == 1
    assert len(mailbox.received) == 2
    async with engine.connect() as conn:
        inbox = await conn.execute(select(func.count()).select_from(tables.inbox))
        assert inbox.scalar_one() == 2


async def test_mail_that_could_not_be_sent_during_an_outage_goes_out_exactly_once_when_it_is_back(
    broker: str, engine: AsyncEngine, start_service: ServiceFactory
) -> None:
    port = free_port()  # nothing listens here until the outage ends
    service = await start_service(smtp_port=port, amqp_url=broker, max_send_attempts=1000)
    await consuming(service)
    await publish(
        broker, [(order_created(uuid4(), uuid4()), uuid4()), (order_paid(uuid4(), uuid4()), uuid4())]
    )

    async def retried_while_down() -> bool:
        rows = await stored(engine)
        return len(rows) == 2 and all(
            row["status"] == "PENDING" and int(str(row["attempts"])) >= 2 for row in rows
        )

    await eventually(retried_while_down, "two notifications retried while the mail server is down")
    for row in await stored(engine):
        assert "cannot reach the mail server at 127.0.0.1" in str(row["last_error"])
        assert row["sent_at"] is None
        assert row["next_attempt_at"] is not None

    async with MailSink("127.0.0.1", port) as sink:
        rows = await all_sent(engine, 2)
        await service.stop()
    assert sorted(email.message_id for email in sink.received) == sorted(
        f"<{row['id']}@ecommerce.localhost>" for row in rows
    )
    assert all(
        int(str(row["attempts"])) >= 3 for row in rows
    )  # the failed attempts, then the one that worked


async def test_a_schema_invalid_event_is_dead_lettered_with_its_reason_and_valid_ones_still_go_out(
    broker: str, mailbox: Mailbox, engine: AsyncEngine, start_service: ServiceFactory
) -> None:
    service = await start_service(smtp_port=mailbox.sink.port, amqp_url=broker)
    await consuming(service)
    poison_id = uuid4()
    connection = await aio_pika.connect(broker)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(EXCHANGE)
        await exchange.publish(
            aio_pika.Message(
                b'{"order_id": "not-a-uuid", "customer_email": "ada@example.com"}',
                message_id=str(poison_id),
                type="order.created",
                timestamp=datetime.now(UTC),
                app_id="orders",
                correlation_id=str(uuid4()),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key="order.created",
        )
    await publish(broker, [(order_created(uuid4(), uuid4(), "valid@example.com"), uuid4())])

    (email,) = await mailbox.wait_for(1)
    assert email.rcpt_tos == ("valid@example.com",)
    connection = await aio_pika.connect(broker)
    async with connection:
        channel = await connection.channel()
        dlq = await channel.declare_queue(bus.dlq_name("notifications.events"), passive=True)
        (dead,) = await take_messages(dlq, 1)
    assert dead.message_id == str(poison_id)
    reason = bus.dead_letter_reason(dead.headers or {})
    assert reason.startswith("schema-invalid: order_id:"), reason
    assert (await all_sent(engine, 1))[0]["recipient"] == "valid@example.com"


class Process:
    """A child process whose stderr lines are collected as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, *args: str, env: dict[str, str]) -> Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *args, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.lines.append(line.decode(errors="replace"))

    async def logged(self, text: str) -> None:
        async def seen() -> bool:
            return any(text in line for line in self.lines)

        await eventually(seen, f"{text!r} in the log of {self.process.pid}:\n{''.join(self.lines)}")

    async def terminate(self) -> int:
        """SIGTERM, then the exit status (killed, and a failure, if it does not stop in time)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(WITHIN):
                status = await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            pytest.fail(f"process {self.process.pid} ignored SIGTERM:\n{''.join(self.lines)}")
        await self._reader
        return status


async def test_the_service_and_the_dev_sink_run_as_processes_and_stop_gracefully_on_sigterm(
    broker: str, tmp_path: Path
) -> None:
    smtp_port, grpc_port = free_port(), free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("NOTIFICATIONS_", "AMQP_URL", "VAR_DIR"))
    }
    env |= {
        "AMQP_URL": broker,
        "VAR_DIR": str(tmp_path / "var"),
        "NOTIFICATIONS_SMTP_PORT": str(smtp_port),
        "NOTIFICATIONS_GRPC_BIND": f"127.0.0.1:{grpc_port}",
    }
    maildir = tmp_path / "mail"
    sink = await Process.start(
        "-m", "devstack.mailsink", "--port", str(smtp_port), "--maildir", str(maildir), env=env
    )
    service = await Process.start("-m", "notifications", env=env)
    try:
        await sink.logged("dev SMTP sink listening")
        await service.logged("consuming notifications.events")
        order_id = uuid4()
        await publish(broker, [(order_created(order_id, uuid4(), "grace@example.com"), uuid4())])

        async def delivered() -> bool:
            return len(list(maildir.glob("*.eml"))) == 1

        await eventually(delivered, "one .eml file in the maildir")
        await sink.logged(f"to grace@example.com: We received your order {order_id.hex[:8]}")
        assert (tmp_path / "var" / "notifications.db").exists()
    finally:
        service_status = await service.terminate()
        sink_status = await sink.terminate()

    assert service_status == 0, "".join(service.lines)
    assert sink_status == 0, "".join(sink.lines)
    log = [json.loads(line)["message"] for line in service.lines]
    for step in ("received SIGTERM; shutting down gracefully", "gRPC server stopped", "mailer stopped"):
        assert step in log
    assert "stopped consuming notifications.events" in log
    (eml,) = maildir.glob("*.eml")
    received = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert received["To"] == "grace@example.com"
    assert len([line for line in sink.lines if "received <" in line]) == 1

"""What the system says happened, read where it is kept: the services' databases, the mail sink's maildir
and the broker's queues. Read past the proxies, so a fault still in place never hides anything.

- orders: every order of the run's customers with its status, total (from its lines) and last change;
- the outboxes of orders and payments: events not yet published, and the relay's failed passes;
- payments: their payments, and the payment simulator's ``provider_ledger`` (the provider's own books:
  every charge and refund it made, the only place where money moves);
- notifications: their notifications with status and ``sent_at``;
- maildir: every message the sink accepted (Message-ID, recipient, arrival time from the file name);
- the broker: each dead-letter queue's messages, taken off it once at the end (``AmqpWire``, which survives
  the undecodable ones), and how many messages each service queue still holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import asyncpg

from chaos.amqp_wire import AmqpWire, RawMessage
from ecommerce.events.channels import SUBSCRIPTIONS


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    status: str
    total_minor: int
    updated_at: float


@dataclass(frozen=True, slots=True)
class Payment:
    id: str
    order_id: str
    status: str
    provider_reference: str | None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    key: str
    operation: str
    outcome: str
    reference: str | None
    charge_reference: str | None
    amount_minor: int
    created_at: float


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    order_id: str
    template: str
    status: str
    sent_at: float | None


@dataclass(frozen=True, slots=True)
class Mail:
    notification_id: str
    message_id: str
    recipient: str
    arrived_at: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The databases and the maildir at one moment, limited to the run's customers."""

    orders: dict[str, Order]
    payments: list[Payment]
    ledger: list[LedgerEntry]
    notifications: list[Notification]
    mails: list[Mail]
    outbox: dict[str, tuple[int, int]]
    """Service -> (events not yet published, most failed publish attempts of one event), whole database.
    A failed relay pass counts an attempt on every event of its batch, so the second number is how many
    passes failed while the oldest event waited: a relay that backs off keeps it small."""


@dataclass(frozen=True, slots=True)
class BrokerState:
    dead_letters: dict[str, list[RawMessage]]
    """DLQ -> the messages it held."""
    backlog: dict[str, int]
    """Service queue -> messages still ready in it."""


def _dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _fetch(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(_dsn(url), timeout=10)
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


ORDERS = """
SELECT o.id::text, o.status, o.updated_at, coalesce(sum(l.quantity * l.unit_price_minor), 0) AS total
FROM orders o LEFT JOIN order_lines l ON l.order_id = o.id
WHERE o.user_id = ANY($1::uuid[]) GROUP BY o.id"""
PAYMENTS = """
SELECT id::text, order_id::text, status, provider_reference FROM payments WHERE user_id = ANY($1::uuid[])"""
LEDGER = """
SELECT idempotency_key, operation, outcome, reference, charge_reference, amount_minor, created_at
FROM provider_ledger"""
OUTBOX = """
SELECT count(*) FILTER (WHERE published_at IS NULL), coalesce(max(attempts), 0) FROM outbox"""
NOTIFICATIONS = """
SELECT id::text, order_id::text, template, status, sent_at
FROM notifications WHERE user_id = ANY($1::uuid[])"""


@dataclass
class Reader:
    """Reads snapshots of one fleet for the given customers (mail files are parsed once, then cached)."""

    database_urls: dict[str, str]
    maildir: Path
    user_ids: list[str]
    recipients: frozenset[str]
    _mails: dict[str, Mail | None] = field(default_factory=dict)

    async def snapshot(self) -> Snapshot:
        urls, users = self.database_urls, self.user_ids
        orders, payments, ledger, notifications, orders_outbox, payments_outbox = await asyncio.gather(
            _fetch(urls["orders"], ORDERS, users),
            _fetch(urls["payments"], PAYMENTS, users),
            _fetch(urls["payments"], LEDGER),
            _fetch(urls["notifications"], NOTIFICATIONS, users),
            _fetch(urls["orders"], OUTBOX),
            _fetch(urls["payments"], OUTBOX),
        )
        return Snapshot(
            orders={r[0]: Order(r[0], r[1], int(r[3]), r[2].timestamp()) for r in orders},
            payments=[Payment(r[0], r[1], r[2], r[3]) for r in payments],
            ledger=[LedgerEntry(r[0], r[1], r[2], r[3], r[4], int(r[5]), r[6].timestamp()) for r in ledger],
            notifications=[
                Notification(r[0], r[1], r[2], r[3], r[4].timestamp() if r[4] is not None else None)
                for r in notifications
            ],
            mails=await asyncio.to_thread(self._read_mails),
            outbox={
                service: (int(rows[0][0]), int(rows[0][1]))
                for service, rows in (("orders", orders_outbox), ("payments", payments_outbox))
            },
        )

    def _read_mails(self) -> list[Mail]:
        parser = BytesHeaderParser(policy=policy.default)
        for path in self.maildir.glob("*.eml") if self.maildir.exists() else []:
            if path.name in self._mails:
                continue
            with path.open("rb") as file:
                headers = parser.parse(file)
            recipient = str(headers["To"] or "").strip()
            self._mails[path.name] = (
                Mail(
                    notification_id=str(headers["X-Notification-Id"] or "").strip(),
                    message_id=str(headers["Message-ID"] or "").strip(),
                    recipient=recipient,
                    arrived_at=int(path.name.split("-", 1)[0]) / 1e9,
                )
                if recipient in self.recipients
                else None
            )
        return [mail for mail in self._mails.values() if mail is not None]


def dead_letter_queues() -> Iterable[tuple[str, str]]:
    """(service queue, its DLQ) of every consuming service."""
    return ((s.queue, f"{s.queue}.dlq") for s in SUBSCRIPTIONS.values())


async def read_broker(amqp_url: str) -> BrokerState:
    """Takes every message off the DLQs (once, at the end of a run) and counts the service queues."""
    async with await AmqpWire.connect(amqp_url) as wire:
        dead_letters, backlog = {}, {}
        for queue, dlq in dead_letter_queues():
            dead_letters[dlq] = await wire.drain(dlq)
            backlog[queue] = await wire.count(queue)
    return BrokerState(dead_letters, backlog)

"""The faults: what the chaos suite does to a running fleet. Timing is the scenarios' business.

- processes: ``kill -9`` (``Fleet.kill``) and a supervisor's restart (``Fleet.restart``);
- links (``TcpProxy``): refuse, drop, hold (partition), latency -- the broker, a database, the mail sink;
- PostgreSQL down: its links refuse and every session of the run's databases is terminated by the server
  (``pg_terminate_backend``, what a restart does to them), without touching the shared server itself;
- messages, published into the run's vhost: poison (not JSON, schema-invalid, unknown type, no
  message_id), one whose ``timestamp`` property no client decodes, an ``order.created`` for an order that
  does not exist, and exact copies of every event (same message_id) straight into the consuming queues.

Every injected message that can carry headers carries ``x-chaos-injected``, so the audit tells the
poison it put in a DLQ from real messages that ended there.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime
from typing import Final

import asyncpg
from pamqp.commands import Basic
from sqlalchemy.engine import make_url

from chaos.amqp_wire import AmqpWire
from chaos.audit import INJECTED_HEADER
from chaos.fleet import Fleet
from chaos.load import Customer
from ecommerce.events import models
from ecommerce.events.channels import EXCHANGE, SUBSCRIPTIONS
from ecommerce_runtime.messages import new_traceparent
from ecommerce_runtime.testing.postgres import DEFAULT_ADMIN_URL

PERSISTENT: Final = 2


def envelope(event_type: str, correlation_id: str, *, message_id: str | None = None) -> Basic.Properties:
    """The AMQP properties a producer of ``event_type`` sets (``ecommerce_runtime.messages``)."""
    return Basic.Properties(
        content_type="application/json",
        delivery_mode=PERSISTENT,
        message_id=message_id or str(uuid.uuid4()),
        timestamp=datetime.now(UTC),
        message_type=event_type,
        app_id="orders" if event_type.startswith("order.") else "payments",
        correlation_id=correlation_id,
        headers={"traceparent": new_traceparent(), INJECTED_HEADER: "1"},
    )


def poison() -> list[tuple[str, bytes, Basic.Properties]]:
    """(routing key, body, properties) of messages no consumer can ever handle."""
    order_id = str(uuid.uuid4())
    missing_id = envelope("order.created", order_id)
    missing_id.message_id = None
    return [
        ("order.created", b"{not json", envelope("order.created", order_id)),
        ("order.created", b'{"order_id": "not-a-uuid"}', envelope("order.created", order_id)),
        ("order.created", b"{}", envelope("order.shipped", order_id)),
        ("order.created", b"{}", missing_id),
        ("payment.succeeded", b'{"order_id": 7}', envelope("payment.succeeded", order_id)),
    ]


def queues_of(routing_key: str) -> list[str]:
    """The service queues an event type (its routing key) is delivered to."""
    return [s.queue for s in SUBSCRIPTIONS.values() if routing_key in s.event_types]


async def publish_poison(fleet: Fleet) -> int:
    """Publishes ``poison()`` to the exchange; returns how many copies the queues got."""
    async with await AmqpWire.connect(fleet.amqp_url) as wire:
        messages = poison()
        for routing_key, body, properties in messages:
            await wire.publish(EXCHANGE, routing_key, body, properties)
    return sum(len(queues_of(routing_key)) for routing_key, _, _ in messages)


async def publish_undecodable(fleet: Fleet, count: int = 1) -> int:
    """Publishes ``order.created`` messages whose ``timestamp`` property does not decode; returns how many
    copies the queues got."""
    async with await AmqpWire.connect(fleet.amqp_url) as wire:
        for _ in range(count):
            properties = envelope("order.created", str(uuid.uuid4()))
            await wire.publish(EXCHANGE, "order.created", b"{}", properties, undecodable_timestamp=True)
    return count * len(queues_of("order.created"))


async def publish_phantom_order(fleet: Fleet, customer: Customer) -> str:
    """An ``order.created`` event, valid in every way, for an order the order service never had (a replay
    from a backup, a transaction rolled back after its event escaped); returns the order id."""
    order_id = uuid.uuid4()
    price = models.Money(amount_minor=1234, currency="EUR")
    event = models.OrderCreated(
        order_id=order_id,
        user_id=uuid.UUID(customer.user_id),
        customer_email=customer.email,
        items=[
            models.OrderLine(sku="BENCH-001", name="Phantom", quantity=1, unit_price=price, line_total=price)
        ],
        total=price,
        payment_token="tok_success",
        created_at=datetime.now(UTC),
    )
    properties = envelope("order.created", str(order_id))
    properties.headers = {"traceparent": new_traceparent()}  # it looks like any other event
    async with await AmqpWire.connect(fleet.amqp_url) as wire:
        await wire.publish(EXCHANGE, "order.created", event.model_dump_json().encode(), properties)
    return str(order_id)


async def duplicate_events(fleet: Fleet, copies: int, stop: asyncio.Event) -> int:
    """Until ``stop``: every event published on the exchange is delivered ``copies`` more times to each
    queue that consumes it, same properties, same message_id; returns how many copies were sent."""
    sent = 0
    async with await AmqpWire.connect(fleet.amqp_url) as tap, await AmqpWire.connect(fleet.amqp_url) as out:
        queue = await tap.tap(EXCHANGE)
        while not stop.is_set():
            message = await tap.get(queue)
            if message is None:
                await asyncio.sleep(0.02)
                continue
            if message.properties is None:
                continue
            for target in queues_of(message.routing_key):
                for _ in range(copies):
                    await out.publish("", target, message.body, message.properties)
                    sent += 1
    return sent


def admin_url() -> str:
    return os.environ.get("PG_TEST_URL", DEFAULT_ADMIN_URL)


async def terminate_sessions(fleet: Fleet) -> int:
    """Every server session of the run's databases ended by the server, as a restart ends them."""
    names = [make_url(url).database for url in fleet.database_urls.values()]
    admin = await asyncpg.connect(admin_url(), timeout=10)
    try:
        rows = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid()",
            names,
        )
    finally:
        await admin.close()
    return len(rows)


async def postgres_down(fleet: Fleet) -> None:
    """PostgreSQL gone for every service: connections refused, sessions terminated."""
    for proxy in fleet.links("postgres"):
        await proxy.refuse()
    await terminate_sessions(fleet)

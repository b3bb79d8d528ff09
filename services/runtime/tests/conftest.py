"""Fixtures of the runtime's tests: a throw-away RabbitMQ vhost per module, a connection per test, events.

The vhost costs three ``rabbitmqctl`` calls (about a second each), so a module shares one; between tests the
``connection`` fixture deletes every queue and exchange the bus declares, so each test starts from nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import aio_pika
import pytest
import pytest_asyncio
from aio_pika.abc import AbstractRobustConnection

from ecommerce.events import models
from ecommerce.events.channels import EXCHANGE, SUBSCRIPTIONS
from ecommerce_runtime.bus import DEAD_LETTER_EXCHANGE, connect, dlq_name
from ecommerce_runtime.messages import OutgoingMessage, new_traceparent, outgoing
from ecommerce_runtime.testing.rabbitmq import temporary_vhost

MakeOrderCreated = Callable[..., OutgoingMessage]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vhost_url() -> AsyncIterator[str]:
    """The AMQP URL of a vhost that exists for this test module only."""
    async with temporary_vhost() as url:
        yield url


@pytest_asyncio.fixture
async def connection(vhost_url: str) -> AsyncIterator[AbstractRobustConnection]:
    """A robust connection to the module's vhost; afterwards the bus's queues and exchanges are deleted."""
    connection = await connect(vhost_url)
    try:
        yield connection
    finally:
        await connection.close()
        await _delete_bus_topology(vhost_url)


async def _delete_bus_topology(url: str) -> None:
    # A plain connection of its own: the test may have closed or broken the fixture's.
    cleaner = await aio_pika.connect(url)
    async with cleaner:
        channel = await cleaner.channel()
        for subscription in SUBSCRIPTIONS.values():
            await channel.queue_delete(subscription.queue)
            await channel.queue_delete(dlq_name(subscription.queue))
        await channel.exchange_delete(EXCHANGE)
        await channel.exchange_delete(DEAD_LETTER_EXCHANGE)


def _order_created_payload(**overrides: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "order_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "customer_email": "ada@example.com",
        "items": [
            {
                "sku": "MUG-001",
                "name": "Enamel mug",
                "quantity": 2,
                "unit_price": {"amount_minor": 1250, "currency": "EUR"},
                "line_total": {"amount_minor": 2500, "currency": "EUR"},
            }
        ],
        "total": {"amount_minor": 2500, "currency": "EUR"},
        "payment_token": "tok_success",
        "created_at": "2026-11-29T10:00:00Z",
    }
    payload.update(overrides)
    return payload


@pytest.fixture
def make_order_created() -> MakeOrderCreated:
    """Build a valid ``order.created`` ``OutgoingMessage`` (a new event and order id on every call)."""

    def make(**overrides: object) -> OutgoingMessage:
        payload = models.OrderCreated.model_validate(_order_created_payload(**overrides))
        return outgoing(
            payload,
            event_id=uuid.uuid4(),
            occurred_at=datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC),
            producer="orders",
            correlation_id=str(payload.order_id),
            traceparent=new_traceparent(),
        )

    return make


@pytest.fixture
def order_created_body() -> Callable[..., bytes]:
    """The JSON body of an ``order.created`` event with ``overrides`` applied, valid or not."""

    def make(**overrides: object) -> bytes:
        return json.dumps(_order_created_payload(**overrides)).encode()

    return make

"""A message whose AMQP properties cannot be decoded costs only itself: the consumer's connection stays up,
the message is dead-lettered with the reason, and the messages around it are handled on their first try."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import aio_pika
import pamqp.encode
import pytest
from aio_pika.abc import AbstractRobustConnection

from ecommerce.events.channels import EXCHANGE
from ecommerce_runtime.bus import Consumer, Publisher
from ecommerce_runtime.messages import IncomingEvent, OutgoingMessage
from ecommerce_runtime.testing.rabbitmq import take_messages, wait_for_message_count

WITHIN = 10.0  # only turns a hang into a failure
YEAR_300_MILLION = b"\x7f\xff\xff\xff\xff\xff\xff\xff"  # a timestamp no datetime can hold


async def test_an_undecodable_message_is_dead_lettered_and_costs_nothing_else(
    connection: AbstractRobustConnection,
    make_order_created: Callable[..., OutgoingMessage],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handled: list[IncomingEvent] = []
    done = asyncio.Event()

    async def subscriber(event: IncomingEvent) -> None:
        handled.append(event)
        if len(handled) == 2:
            done.set()

    consumer = Consumer(connection, "payments", subscriber, prefetch=10)
    await consumer.start()
    publisher = Publisher(connection)
    await publisher.start()
    before, after = make_order_created(), make_order_created()
    await publisher.publish(before)
    channel = await connection.channel()
    with monkeypatch.context() as patched:  # as a careless or hostile producer may send it
        patched.setitem(pamqp.encode.METHODS, "timestamp", lambda value: YEAR_300_MILLION)
        exchange = await channel.get_exchange(EXCHANGE)
        await exchange.publish(
            aio_pika.Message(
                b"{}", message_id=str(uuid.uuid4()), type="order.created", timestamp=datetime.now(UTC)
            ),
            routing_key="order.created",
        )
    await publisher.publish(after)
    await publisher.close()

    async with asyncio.timeout(WITHIN):
        await done.wait()
    [dead] = await take_messages(await channel.get_queue("payments.events.dlq"), 1)
    await consumer.stop()

    assert [(event.event_id, event.delivery_count) for event in handled] == [
        (before.event_id, 1),
        (after.event_id, 1),
    ]  # the bad message in between did not close the connection: nothing was redelivered
    assert not connection.is_closed
    reason = dead.headers["x-dead-letter-reason"]
    assert isinstance(reason, str)
    assert reason.startswith("undecodable-properties: ")
    assert "year" in reason or "range" in reason, reason
    await wait_for_message_count(connection, "payments.events", 0)

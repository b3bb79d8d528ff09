"""Graceful stop: the handlers in flight finish and are acked, nothing new starts, the rest stays queued."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio
from aio_pika.abc import AbstractRobustConnection

from ecommerce_runtime.bus import Consumer, Publisher, TransientError
from ecommerce_runtime.messages import IncomingEvent, OutgoingMessage
from ecommerce_runtime.testing.rabbitmq import wait_for_message_count

MakeOrderCreated = Callable[..., OutgoingMessage]
WITHIN = 10.0  # only turns a hang into a failure


@pytest_asyncio.fixture
async def publisher(connection: AbstractRobustConnection) -> AsyncIterator[Publisher]:
    publisher = Publisher(connection)
    await publisher.start()
    yield publisher
    await publisher.close()


class GatedHandler:
    """Starts handling, then waits at a gate the test opens."""

    def __init__(self) -> None:
        self.started: list[IncomingEvent] = []
        self.finished: list[IncomingEvent] = []
        self.cancelled: list[IncomingEvent] = []
        self.gate = asyncio.Event()
        self._progress = asyncio.Condition()

    async def __call__(self, event: IncomingEvent) -> None:
        async with self._progress:
            self.started.append(event)
            self._progress.notify_all()
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled.append(event)
            raise
        self.finished.append(event)

    async def wait_started(self, count: int) -> None:
        async with asyncio.timeout(WITHIN), self._progress:
            await self._progress.wait_for(lambda: len(self.started) >= count)


async def waiting_ids(connection: AbstractRobustConnection, queue: str, expected: int) -> list[str | None]:
    """The ids of the ``expected`` messages waiting in ``queue``, once that many are there."""
    await wait_for_message_count(connection, queue, expected)
    channel = await connection.channel()
    declared = await channel.declare_queue(queue, passive=True)
    ids = []
    for _ in range(expected):
        message = await declared.get(fail=False)
        assert message is not None
        ids.append(message.message_id)
    assert await declared.get(fail=False) is None  # and no more than that
    await channel.close()  # returns them to the queue
    return ids


async def consumers_of(connection: AbstractRobustConnection, queue: str) -> int:
    channel = await connection.channel()
    declared = await channel.declare_queue(queue, passive=True)
    await channel.close()
    return declared.declaration_result.consumer_count or 0


async def test_stop_lets_handlers_in_flight_finish_and_leaves_the_rest_in_the_queue(
    connection: AbstractRobustConnection, publisher: Publisher, make_order_created: MakeOrderCreated
) -> None:
    handler = GatedHandler()
    consumer = Consumer(connection, "payments", handler, prefetch=2)
    await consumer.start()
    sent = [make_order_created() for _ in range(5)]
    for message in sent:
        await publisher.publish(message)
    await handler.wait_started(2)  # prefetch 2: two handlers in flight, three messages wait in the queue

    stopping = asyncio.create_task(consumer.stop(timeout=WITHIN))
    async with asyncio.timeout(WITHIN):  # wait until the broker has confirmed the cancel
        while True:
            if not consumer.consuming:
                break
            await asyncio.sleep(0.01)
    assert not stopping.done()  # stop waits for the handlers in flight
    handler.gate.set()
    await stopping

    assert handler.finished == handler.started
    assert len(handler.started) == 2  # nothing reached the handler after stop() began
    assert handler.cancelled == []
    handled = {str(event.event_id) for event in handler.started}
    left = await waiting_ids(connection, "payments.events", 3)
    # the two handled were acked; exactly the three never handled are still there
    never_handled = [str(message.event_id) for message in sent if str(message.event_id) not in handled]
    assert len(never_handled) == 3
    assert sorted(map(str, left)) == sorted(never_handled)


async def test_a_handler_that_outlives_the_stop_timeout_is_cancelled_and_its_message_not_acked(
    connection: AbstractRobustConnection, publisher: Publisher, make_order_created: MakeOrderCreated
) -> None:
    handler = GatedHandler()  # the gate never opens
    consumer = Consumer(connection, "payments", handler)
    await consumer.start()
    stuck = make_order_created()
    await publisher.publish(stuck)
    await handler.wait_started(1)

    await consumer.stop(timeout=0.2)

    assert [event.event_id for event in handler.cancelled] == [stuck.event_id]
    assert handler.finished == []
    assert await waiting_ids(connection, "payments.events", 1) == [str(stuck.event_id)]


async def test_stop_cuts_a_retry_backoff_short_and_returns_the_message_to_the_queue(
    connection: AbstractRobustConnection, publisher: Publisher, make_order_created: MakeOrderCreated
) -> None:
    failed = asyncio.Event()

    async def handler(event: IncomingEvent) -> None:
        failed.set()
        raise TransientError("database is down")

    consumer = Consumer(connection, "payments", handler, retry_backoff=lambda attempt: 3600.0)
    await consumer.start()
    message = make_order_created()
    await publisher.publish(message)
    async with asyncio.timeout(WITHIN):
        await failed.wait()

    async with asyncio.timeout(WITHIN):  # an hour of backoff must not hold the stop
        await consumer.stop(timeout=3600)

    assert await waiting_ids(connection, "payments.events", 1) == [str(message.event_id)]


async def test_a_consumer_starts_once_and_stops_idempotently(connection: AbstractRobustConnection) -> None:
    async def handler(event: IncomingEvent) -> None:
        raise AssertionError("no events were published")

    consumer = Consumer(connection, "payments", handler)
    consuming = [consumer.consuming]
    await consumer.stop()  # before start: nothing to do
    await consumer.start()
    with pytest.raises(RuntimeError, match="already started"):
        await consumer.start()
    consuming.append(consumer.consuming)
    assert await consumers_of(connection, "payments.events") == 1
    await consumer.stop()
    await consumer.stop()
    consuming.append(consumer.consuming)
    assert consuming == [False, True, False]
    with pytest.raises(RuntimeError, match="cannot be restarted"):
        await consumer.start()
    assert await consumers_of(connection, "payments.events") == 0

"""The consumer against the real broker: handled, retried, dead-lettered -- and nothing else stops it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import aio_pika
import pytest
import pytest_asyncio
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from sqlalchemy.exc import OperationalError

from ecommerce.events import models
from ecommerce.events.channels import EXCHANGE
from ecommerce_runtime.bus import Consumer, PermanentError, Publisher, TransientError
from ecommerce_runtime.bus.dead_letter import copy_message
from ecommerce_runtime.messages import IncomingEvent, OutgoingMessage
from ecommerce_runtime.testing.rabbitmq import take_messages, wait_for_message_count
from ecommerce_runtime.tracing import current_traceparent

MakeOrderCreated = Callable[..., OutgoingMessage]
WITHIN = 10.0  # only turns a hang into a failure


class Recorder:
    """A handler that records every call and fails as scripted (by event id)."""

    def __init__(self) -> None:
        self.calls: list[IncomingEvent] = []
        self.arrived: asyncio.Queue[IncomingEvent] = asyncio.Queue()
        self.failures: dict[uuid.UUID, list[BaseException]] = {}

    async def __call__(self, event: IncomingEvent) -> None:
        self.calls.append(event)
        await self.arrived.put(event)
        script = self.failures.get(event.event_id)
        if script:
            raise script.pop(0)

    async def wait_for(self, count: int) -> list[IncomingEvent]:
        async with asyncio.timeout(WITHIN):
            while len(self.calls) < count:
                await self.arrived.get()
        return self.calls


@pytest_asyncio.fixture
async def publisher(connection: AbstractRobustConnection) -> AsyncIterator[Publisher]:
    publisher = Publisher(connection)
    await publisher.start()
    yield publisher
    await publisher.close()


@pytest_asyncio.fixture
async def channel(connection: AbstractRobustConnection) -> AbstractChannel:
    return await connection.channel()


async def start_consumer(connection: AbstractRobustConnection, handler: Recorder, **options: Any) -> Consumer:
    consumer = Consumer(connection, "payments", handler, retry_backoff=lambda attempt: 0.01, **options)
    await consumer.start()
    return consumer


async def publish_raw(channel: AbstractChannel, body: bytes, **properties: Any) -> None:
    """Publish as a careless producer would: on the real exchange and routing key, any properties.

    Through ``copy_message`` so that a message without ``message_id`` really goes out without one (aiormq
    would stamp a random id on it otherwise).
    """
    exchange = await channel.get_exchange(EXCHANGE)
    message = aio_pika.Message(body, **properties)
    await exchange.publish(copy_message(message, message.headers), routing_key="order.created")


async def test_valid_events_reach_the_handler_parsed_and_are_acked(
    connection: AbstractRobustConnection,
    publisher: Publisher,
    make_order_created: MakeOrderCreated,
) -> None:
    handler = Recorder()
    consumer = await start_consumer(connection, handler)
    sent = [make_order_created() for _ in range(3)]
    for message in sent:
        await publisher.publish(message)

    calls = await handler.wait_for(3)
    await consumer.stop()

    by_id = {event.event_id: event for event in calls}
    assert set(by_id) == {message.event_id for message in sent}
    for message in sent:
        event = by_id[message.event_id]
        assert event.event_type == "order.created"
        assert isinstance(event.payload, models.OrderCreated)
        assert event.payload.model_dump_json().encode() == message.body
        assert event.correlation_id == message.correlation_id
        assert event.occurred_at == message.occurred_at
        assert event.producer == "orders"
        assert event.traceparent == message.traceparent
        assert event.delivery_count == 1
    await wait_for_message_count(connection, "payments.events", 0)
    await wait_for_message_count(connection, "payments.events.dlq", 0)


async def test_each_kind_of_poison_is_dead_lettered_with_its_reason_and_consumption_goes_on(
    connection: AbstractRobustConnection,
    channel: AbstractChannel,
    publisher: Publisher,
    make_order_created: MakeOrderCreated,
    order_created_body: Callable[..., bytes],
) -> None:
    handler = Recorder()
    consumer = await start_consumer(connection, handler, prefetch=1)  # strictly one after the other
    envelope: dict[str, Any] = {
        "type": "order.created",
        "timestamp": datetime(2026, 11, 29, 10, 0, tzinfo=UTC),
        "app_id": "orders",
        "correlation_id": str(uuid.uuid4()),
        "content_type": "application/json",
        "delivery_mode": aio_pika.DeliveryMode.PERSISTENT,
    }
    poison = {
        "not-json": (b"{not json", {**envelope, "message_id": str(uuid.uuid4())}),
        "schema-invalid": (
            order_created_body(total={"amount_minor": -1, "currency": "EUR"}),
            {**envelope, "message_id": str(uuid.uuid4())},
        ),
        "unknown-type": (
            order_created_body(),
            {**envelope, "message_id": str(uuid.uuid4()), "type": "order.lost"},
        ),
        "missing-message-id": (order_created_body(), envelope),
    }
    before, after = make_order_created(), make_order_created()

    await publisher.publish(before)
    for kind, (body, properties) in poison.items():
        await publish_raw(channel, body, headers={"test-case": kind}, **properties)
    await publisher.publish(after)

    calls = await handler.wait_for(2)
    dlq = await channel.get_queue("payments.events.dlq")
    dead = {message.headers["test-case"]: message for message in await take_messages(dlq, len(poison))}
    await consumer.stop()

    assert [event.event_id for event in calls] == [before.event_id, after.event_id]
    assert dead["not-json"].headers["x-dead-letter-reason"] == (
        "not-json: Invalid JSON: key must be a string at line 1 column 2"
    )
    assert dead["schema-invalid"].headers["x-dead-letter-reason"] == (
        "schema-invalid: total.amount_minor: Input should be greater than or equal to 0"
    )
    assert dead["unknown-type"].headers["x-dead-letter-reason"] == (
        "unknown-type: 'order.lost' is not an event type of the spec"
    )
    assert dead["missing-message-id"].headers["x-dead-letter-reason"] == (
        "missing-message-id: the message_id property is absent"
    )
    for kind, (body, properties) in poison.items():
        message = dead[kind]
        assert message.body == body  # the original, untouched
        assert message.message_id == properties.get("message_id")
        assert message.type == properties["type"]
        assert message.app_id == "orders"
        assert message.correlation_id == properties["correlation_id"]
        assert message.timestamp == properties["timestamp"]
        assert message.delivery_mode == 2
        assert message.headers["x-original-routing-key"] == "order.created"
        assert message.headers["x-failed-service"] == "payments"
    await wait_for_message_count(connection, "payments.events", 0)


async def test_a_permanent_error_dead_letters_the_event_with_the_error_as_reason(
    connection: AbstractRobustConnection,
    channel: AbstractChannel,
    publisher: Publisher,
    make_order_created: MakeOrderCreated,
) -> None:
    handler = Recorder()
    doomed, fine = make_order_created(), make_order_created()
    handler.failures[doomed.event_id] = [PermanentError("payment token tok_success was revoked")]
    consumer = await start_consumer(connection, handler, prefetch=1)

    await publisher.publish(doomed)
    await publisher.publish(fine)
    calls = await handler.wait_for(2)
    [dead] = await take_messages(await channel.get_queue("payments.events.dlq"), 1)
    await consumer.stop()

    assert [event.event_id for event in calls] == [doomed.event_id, fine.event_id]  # each tried once
    assert dead.message_id == str(doomed.event_id)
    assert dead.body == doomed.body
    assert dead.headers["x-dead-letter-reason"] == "permanent-error: payment token tok_success was revoked"
    assert dead.headers["traceparent"] == doomed.traceparent
    await wait_for_message_count(connection, "payments.events", 0)


async def test_failures_are_retried_until_the_handler_succeeds(
    connection: AbstractRobustConnection,
    publisher: Publisher,
    make_order_created: MakeOrderCreated,
) -> None:
    handler = Recorder()
    flaky = make_order_created()
    # A TransientError, then an unexpected exception (a bug, a driver error): both mean "try again".
    handler.failures[flaky.event_id] = [TransientError("database is down"), RuntimeError("connection reset")]
    consumer = await start_consumer(connection, handler)

    await publisher.publish(flaky)
    calls = await handler.wait_for(3)
    await consumer.stop()

    assert [event.event_id for event in calls] == [flaky.event_id] * 3
    # The TransientError is retried holding the message; the unexpected one returns it (a delivery spent).
    assert [event.delivery_count for event in calls] == [1, 1, 2]
    assert handler.failures[flaky.event_id] == []  # the third attempt succeeded
    assert len(handler.calls) == 3  # and was acked: nothing came back
    await wait_for_message_count(connection, "payments.events", 0)
    await wait_for_message_count(connection, "payments.events.dlq", 0)


async def test_an_unreachable_database_is_retried_as_transient_within_the_events_trace(
    connection: AbstractRobustConnection,
    publisher: Publisher,
    make_order_created: MakeOrderCreated,
    caplog: pytest.LogCaptureFixture,
) -> None:
    traces: list[str] = []

    class Recording(Recorder):
        async def __call__(self, event: IncomingEvent) -> None:
            traces.append(current_traceparent())
            await super().__call__(event)

    handler = Recording()
    flaky = make_order_created()
    handler.failures[flaky.event_id] = [OperationalError("BEGIN", {}, ConnectionRefusedError())]
    consumer = await start_consumer(connection, handler)

    await publisher.publish(flaky)
    calls = await handler.wait_for(2)
    await consumer.stop()

    assert [event.delivery_count for event in calls] == [1, 1]  # retried holding it: no delivery spent
    assert traces == [flaky.traceparent, flaky.traceparent]  # the subscriber runs in the event's trace
    failed = [record for record in caplog.records if "failed transiently" in record.getMessage()]
    assert len(failed) == 1
    assert failed[0].exc_info is None  # an outage, not a bug: a warning without a traceback
    await wait_for_message_count(connection, "payments.events", 0)


async def test_an_outage_longer_than_the_delivery_limit_spends_no_delivery(
    connection: AbstractRobustConnection,
    publisher: Publisher,
    make_order_created: MakeOrderCreated,
) -> None:
    handler = Recorder()
    patient = make_order_created()
    handler.failures[patient.event_id] = [TransientError("database is down")] * 8
    consumer = await start_consumer(connection, handler, delivery_limit=2)

    await publisher.publish(patient)
    calls = await handler.wait_for(9)
    await consumer.stop()

    assert [event.delivery_count for event in calls] == [1] * 9  # held and retried, never returned
    await wait_for_message_count(connection, "payments.events", 0)
    await wait_for_message_count(connection, "payments.events.dlq", 0)


async def test_a_message_that_keeps_failing_is_dead_lettered_by_the_broker_after_the_delivery_limit(
    connection: AbstractRobustConnection,
    channel: AbstractChannel,
    publisher: Publisher,
    make_order_created: MakeOrderCreated,
) -> None:
    handler = Recorder()
    hopeless = make_order_created()
    handler.failures[hopeless.event_id] = [TransientError("smtp is down")] * 10
    # An outage longer than the consumer holds a message (transient_window) returns it, spending a delivery.
    consumer = await start_consumer(connection, handler, delivery_limit=2, transient_window=0)

    await publisher.publish(hopeless)
    [dead] = await take_messages(await channel.get_queue("payments.events.dlq"), 1)
    await consumer.stop()

    # RabbitMQ 3.10 dead-letters once the delivery count *exceeds* the limit: limit 2 = 3 attempts.
    assert [event.delivery_count for event in handler.calls] == [1, 2, 3]
    assert dead.message_id == str(hopeless.event_id)
    assert dead.body == hopeless.body
    assert dead.headers["x-first-death-reason"] == "delivery_limit"
    assert dead.headers["x-first-death-queue"] == "payments.events"
    deaths = dead.headers["x-death"]
    assert isinstance(deaths, list)
    [death] = deaths
    assert isinstance(death, dict)
    assert death["reason"] == "delivery_limit"
    assert death["queue"] == "payments.events"
    assert death["count"] == 1
    assert "x-dead-letter-reason" not in dead.headers  # the broker's doing, not the consumer's
    await wait_for_message_count(connection, "payments.events", 0)


@pytest.mark.parametrize("service", ["orders", "notifications"])
async def test_every_consuming_service_gets_its_own_queue_and_events(
    connection: AbstractRobustConnection,
    publisher: Publisher,
    make_order_created: MakeOrderCreated,
    service: str,
) -> None:
    handler = Recorder()
    consumer = Consumer(connection, service, handler)
    await consumer.start()
    sent = make_order_created()
    await publisher.publish(sent)

    if service == "notifications":
        [event] = await handler.wait_for(1)
        assert event.event_id == sent.event_id
    else:
        # orders does not subscribe to order.created: its queue never sees it
        channel = await connection.channel()
        queue = await channel.declare_queue("orders.events", passive=True)
        assert queue.declaration_result.message_count == 0
        assert handler.calls == []
    await consumer.stop()

"""The Payment Service as it runs: order events in from RabbitMQ, charges at the simulated provider, payment
events out through the outbox.

Each test starts the real service (``bootstrap`` + ``start``) on SQLite and on PostgreSQL against a real
broker vhost, publishes order events as the Order Service would, and watches the exchange through a tap queue
bound to ``#``. The provider's books (``provider_ledger``) say how many real charges and refunds there were.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID, uuid4

import aio_pika
import pytest_asyncio
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from payments_fakes import order_cancelled_event, order_created_event
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ecommerce.events import models
from ecommerce.events.channels import EXCHANGE, SUBSCRIPTIONS
from ecommerce_runtime import bus
from ecommerce_runtime.bus.dead_letter import copy_message
from ecommerce_runtime.clock import Clock
from ecommerce_runtime.messages import (
    IncomingEvent,
    OutgoingMessage,
    new_traceparent,
    outgoing,
    parse_payload,
)
from ecommerce_runtime.testing.rabbitmq import take_messages
from payments.adapters import tables
from payments.bootstrap import (
    PaymentService,
    PaymentsSettings,
    ProviderFactory,
    bootstrap,
    simulated_provider,
)
from payments.domain import Money
from payments.ports import ChargeResult, PaymentProvider, RefundResult

QUEUE = SUBSCRIPTIONS["payments"].queue
PAYMENT_EVENTS = ("payment.succeeded", "payment.failed", "payment.refunded")


class Tap:
    """An exclusive queue bound to every routing key of the exchange: what the services published."""

    def __init__(self, queue: AbstractQueue) -> None:
        self.queue = queue

    async def next(self, within: float = 15.0) -> AbstractIncomingMessage:
        async with asyncio.timeout(within):
            while True:
                message = await self.queue.get(no_ack=True, fail=False)
                if message is not None:
                    return message
                await asyncio.sleep(0.02)

    async def payment_events(self, count: int) -> list[AbstractIncomingMessage]:
        """The next ``count`` payment events (order events the tests published themselves are skipped)."""
        events: list[AbstractIncomingMessage] = []
        while len(events) < count:
            message = await self.next()
            if message.type in PAYMENT_EVENTS:
                events.append(message)
        return events

    async def rest(self) -> list[AbstractIncomingMessage]:
        """Whatever is left in the tap now (call after the service stopped: its relay has flushed)."""
        left = []
        while (message := await self.queue.get(no_ack=True, fail=False)) is not None:
            left.append(message)
        return left


@pytest_asyncio.fixture
async def tap(vhost_url: str) -> AsyncIterator[Tap]:
    connection = await aio_pika.connect(vhost_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, "#")
        yield Tap(queue)


class ServiceFactory(Protocol):
    def __call__(self, provider: ProviderFactory = ..., **settings: Any) -> Awaitable[PaymentService]: ...


@pytest_asyncio.fixture
async def start_service(database_url: str, vhost_url: str) -> AsyncIterator[ServiceFactory]:
    """Starts the service against the test database (migrating it) and the vhost; removes its queues after."""
    started: list[PaymentService] = []

    async def start(provider: ProviderFactory = simulated_provider, **settings: Any) -> PaymentService:
        config = PaymentsSettings(
            database_url=database_url,
            grpc_bind="127.0.0.1:0",
            amqp_url=vhost_url,
            shutdown_grace_seconds=2,
            charge_backoff_initial_ms=1,
            charge_backoff_max_ms=5,
            provider_latency_ms=0,
        ).model_copy(update=settings)
        service = bootstrap(config, provider=provider)
        await service.start()
        started.append(service)
        async with asyncio.timeout(15):  # the queue exists (and gets what is published) from now on
            await service.consuming.wait()
        return service

    yield start
    for service in started:
        if not service.stopped:
            await service.stop()
        await service.engine.dispose()  # again: tests read the database after stopping the service
    cleaner = await aio_pika.connect(vhost_url)
    async with cleaner:
        channel = await cleaner.channel()
        await channel.queue_delete(QUEUE)
        await channel.queue_delete(bus.dlq_name(QUEUE))


@pytest_asyncio.fixture
async def publisher(vhost_url: str) -> AsyncIterator[bus.Publisher]:
    connection = await bus.connect(vhost_url)
    async with connection:
        publisher = bus.Publisher(connection)
        await publisher.start()
        yield publisher
        await publisher.close()


def as_published(event: IncomingEvent) -> OutgoingMessage:
    """The message the Order Service's outbox would publish for ``event``."""
    return outgoing(
        event.payload,
        event_id=event.event_id,
        occurred_at=datetime.now(UTC),
        producer="orders",
        correlation_id=event.correlation_id,
        traceparent=new_traceparent(),
    )


async def payment_row(engine: AsyncEngine, order_id: UUID) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        query = select(tables.payments).where(tables.payments.c.order_id == order_id)
        row = (await conn.execute(query)).mappings().first()
        return dict(row) if row else None


async def ledger(engine: AsyncEngine, key: object) -> list[tuple[str, str, str | None]]:
    """(operation, outcome, reference) of every call the simulated provider booked under ``key``."""
    t = tables.provider_ledger
    async with engine.connect() as conn:
        query = select(t.c.operation, t.c.outcome, t.c.reference).where(t.c.idempotency_key == str(key))
        return [tuple(row) for row in (await conn.execute(query.order_by(t.c.seq))).all()]


def assert_envelope(message: AbstractIncomingMessage, order_id: UUID) -> None:
    assert message.app_id == "payments"
    assert message.correlation_id == str(order_id)
    assert message.content_type == "application/json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.routing_key == message.type
    assert UUID(message.message_id or "")
    assert message.timestamp is not None
    assert isinstance(message.headers.get("traceparent"), str)


async def test_each_simulated_outcome_ends_in_its_event_and_payment_row(
    start_service: ServiceFactory, publisher: bus.Publisher, tap: Tap
) -> None:
    service = await start_service()
    expected = {  # token: (event, status, attempts, reason, the provider's books)
        "tok_success": ("payment.succeeded", "SUCCEEDED", 1, None, ["succeeded"]),
        "tok_declined": ("payment.failed", "FAILED", 1, "card_declined", ["declined"]),
        "tok_insufficient_funds": ("payment.failed", "FAILED", 1, "insufficient_funds", ["declined"]),
        "tok_transient": ("payment.succeeded", "SUCCEEDED", 3, None, ["unavailable"] * 2 + ["succeeded"]),
        "tok_always_fail": ("payment.failed", "FAILED", 4, "provider_unavailable", ["unavailable"] * 4),
        "tok_unheard_of": ("payment.failed", "FAILED", 1, "card_declined", ["declined"]),
    }
    orders = {token: uuid4() for token in expected}
    for token, order_id in orders.items():
        await publisher.publish(as_published(order_created_event(order_id, token)))

    received = {message.correlation_id: message for message in await tap.payment_events(len(expected))}

    for token, (event_type, status, attempts, reason, books) in expected.items():
        order_id = orders[token]
        message = received[str(order_id)]
        assert message.type == event_type, token
        assert_envelope(message, order_id)
        payload = parse_payload(event_type, message.body)  # validated against the spec's schema
        row = await payment_row(service.engine, order_id)
        assert row is not None
        assert (row["status"], row["attempts"], row["failure_reason"], row["charge_in_flight"]) == (
            status,
            attempts,
            reason,
            False,
        ), token
        assert payload.model_dump()["payment_id"] == row["id"]
        booked = await ledger(service.engine, row["id"])
        if isinstance(payload, models.PaymentSucceeded):
            assert payload.attempts == attempts
            assert payload.provider_reference == row["provider_reference"]
            assert booked[-1] == ("charge", "succeeded", row["provider_reference"])
        else:
            assert isinstance(payload, models.PaymentFailed)
            assert (payload.reason, payload.attempts) == (reason, attempts)
            assert "not been charged" in payload.message
            assert row["provider_reference"] is None
        assert [outcome for _, outcome, _ in booked] == books, token


async def test_the_same_order_created_delivered_five_times_charges_once(
    start_service: ServiceFactory, publisher: bus.Publisher, tap: Tap, vhost_url: str
) -> None:
    service = await start_service()
    order_id = uuid4()
    message = as_published(order_created_event(order_id))
    for _ in range(5):
        await publisher.publish(message)  # the same message_id each time

    (succeeded,) = await tap.payment_events(1)
    assert succeeded.type == "payment.succeeded"
    await service.stop()  # graceful: the other deliveries finish, the relay flushes

    assert [m.type for m in await tap.rest() if m.type in PAYMENT_EVENTS] == []
    assert await queued(vhost_url, QUEUE) == 0
    row = await payment_row(service.engine, order_id)
    assert row is not None
    assert (row["status"], row["attempts"]) == ("SUCCEEDED", 1)
    assert [op for op, outcome, _ in await ledger(service.engine, row["id"])] == ["charge"]
    assert await count(service.engine, "payments") == 1


class HangsAfterCharging:
    """The simulator, in a process that hangs right after the provider charged: it is stopped mid-handler."""

    def __init__(self, inner: PaymentProvider) -> None:
        self.inner = inner
        self.charged = asyncio.Event()

    async def charge(self, idempotency_key: str, amount: Money, token: str) -> ChargeResult:
        await self.inner.charge(idempotency_key, amount, token)
        self.charged.set()
        await asyncio.Event().wait()  # never answers: the process is "killed" here
        raise AssertionError("unreachable")

    async def refund(self, idempotency_key: str, charge_reference: str, amount: Money) -> RefundResult:
        return await self.inner.refund(idempotency_key, charge_reference, amount)


async def test_a_consumer_killed_between_charge_and_ack_charges_once_after_redelivery(
    start_service: ServiceFactory, publisher: bus.Publisher, tap: Tap
) -> None:
    hanging: list[HangsAfterCharging] = []

    def hangs(engine: AsyncEngine, settings: PaymentsSettings, clock: Clock) -> PaymentProvider:
        hanging.append(HangsAfterCharging(simulated_provider(engine, settings, clock)))
        return hanging[-1]

    first = await start_service(hangs, shutdown_grace_seconds=0.2)
    order_id = uuid4()
    await publisher.publish(as_published(order_created_event(order_id)))
    async with asyncio.timeout(15):
        await hanging[0].charged.wait()
    await first.stop()  # the handler is cancelled mid-charge; the unacked message goes back to the queue

    row = await payment_row(first.engine, order_id)
    assert row is not None
    assert (row["status"], row["charge_in_flight"]) == ("PENDING", True)
    assert [op for op, _, _ in await ledger(first.engine, row["id"])] == ["charge"]

    second = await start_service()
    (succeeded,) = await tap.payment_events(1)

    assert succeeded.type == "payment.succeeded"
    row = await payment_row(second.engine, order_id)
    assert row is not None
    assert (row["status"], row["attempts"]) == ("SUCCEEDED", 2)
    booked = await ledger(second.engine, row["id"])
    assert booked == [
        ("charge", "succeeded", row["provider_reference"])
    ]  # the redelivery charged nothing new


async def test_an_order_cancelled_before_its_charge_is_never_charged(
    start_service: ServiceFactory, publisher: bus.Publisher, tap: Tap
) -> None:
    service = await start_service(consumer_prefetch=1)  # one after the other, in publishing order
    cancelled, sentinel = uuid4(), uuid4()
    await publisher.publish(as_published(order_cancelled_event(cancelled)))
    await publisher.publish(as_published(order_created_event(cancelled)))
    await publisher.publish(as_published(order_created_event(sentinel)))

    (succeeded,) = await tap.payment_events(1)
    assert succeeded.correlation_id == str(sentinel)  # so both events of the cancelled order were handled
    await service.stop()

    assert [m for m in await tap.rest() if m.type in PAYMENT_EVENTS] == []
    row = await payment_row(service.engine, cancelled)
    assert row is not None
    assert (row["status"], row["attempts"], row["payment_token"]) == ("CANCELLED", 0, None)
    assert await ledger(service.engine, row["id"]) == []


async def test_an_order_cancelled_after_its_charge_is_refunded(
    start_service: ServiceFactory, publisher: bus.Publisher, tap: Tap
) -> None:
    service = await start_service()
    order_id = uuid4()
    await publisher.publish(as_published(order_created_event(order_id)))
    (succeeded,) = await tap.payment_events(1)
    assert succeeded.type == "payment.succeeded"

    await publisher.publish(as_published(order_cancelled_event(order_id, previous="PAID")))
    (refunded,) = await tap.payment_events(1)

    assert refunded.type == "payment.refunded"
    assert_envelope(refunded, order_id)
    payload = parse_payload("payment.refunded", refunded.body)
    assert isinstance(payload, models.PaymentRefunded)
    row = await payment_row(service.engine, order_id)
    assert row is not None
    assert (row["status"], row["refund_reference"]) == ("REFUNDED", payload.provider_reference)
    assert payload.amount == models.Money(amount_minor=2500, currency="EUR")
    assert await ledger(service.engine, row["id"]) == [("charge", "succeeded", row["provider_reference"])]
    assert await ledger(service.engine, f"refund-{row['id']}") == [
        ("refund", "succeeded", payload.provider_reference)
    ]


async def test_a_schema_invalid_order_created_is_dead_lettered_and_traffic_flows_on(
    start_service: ServiceFactory, publisher: bus.Publisher, tap: Tap, vhost_url: str
) -> None:
    service = await start_service(consumer_prefetch=1)
    bad_id, good = uuid4(), uuid4()
    body = json.loads(as_published(order_created_event(uuid4())).body)
    body["total"]["amount_minor"] = -1
    connection = await aio_pika.connect(vhost_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(EXCHANGE)
        poison = aio_pika.Message(
            json.dumps(body).encode(),
            message_id=str(bad_id),
            type="order.created",
            timestamp=datetime.now(UTC),
            app_id="orders",
            correlation_id=body["order_id"],
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            headers={"traceparent": new_traceparent()},
        )
        await exchange.publish(copy_message(poison, poison.headers), routing_key="order.created")
        await publisher.publish(as_published(order_created_event(good)))

        (succeeded,) = await tap.payment_events(1)
        assert succeeded.correlation_id == str(good)

        dlq = await channel.declare_queue(bus.dlq_name(QUEUE), passive=True)
        (dead,) = await take_messages(dlq, 1)
    assert dead.message_id == str(bad_id)
    reason = bus.dead_letter_reason(dead.headers)
    assert reason.startswith("schema-invalid: total.amount_minor"), reason
    assert await payment_row(service.engine, UUID(body["order_id"])) is None


async def queued(vhost_url: str, queue: str) -> int:
    connection = await aio_pika.connect(vhost_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0


async def count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return (
            await conn.execute(select(func.count()).select_from(tables.metadata.tables[table]))
        ).scalar_one()

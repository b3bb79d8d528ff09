"""The Order Service as it runs: gRPC in, events out through the outbox and RabbitMQ, payment events in.

Each test starts the real service (``bootstrap`` + ``start``) on SQLite and on PostgreSQL against a real
broker vhost, and watches the exchange through a tap queue bound to ``#``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from uuid import UUID, uuid4

import aio_pika
import grpc
import pytest_asyncio
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ecommerce.common.v1 import common_pb2
from ecommerce.events import models
from ecommerce.events.channels import EXCHANGE
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce_runtime import bus
from ecommerce_runtime.db import create_engine
from ecommerce_runtime.messages import new_traceparent, outgoing, parse_payload
from ecommerce_runtime.outbox import OutboxRelay, enqueue
from orders.adapters import tables
from orders.bootstrap import OrderService, OrdersSettings, bootstrap

USER = str(uuid4())
CALLER = common_pb2.Caller(user_id=USER, role=common_pb2.ROLE_CUSTOMER)
CLOSED_PORT_URL = "amqp://guest:guest@127.0.0.1:1/"


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
                await asyncio.sleep(0.05)

    async def next_of(self, event_type: str, within: float = 15.0) -> AbstractIncomingMessage:
        async with asyncio.timeout(within):
            while (message := await self.next(within)).type != event_type:
                pass
            return message


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
    def __call__(self, amqp_url: str = ..., **settings: object) -> Awaitable[OrderService]: ...


@pytest_asyncio.fixture
async def start_service(
    database_url: str, catalog_file: Path, vhost_url: str
) -> AsyncIterator[ServiceFactory]:
    """Starts the service against the test database (migrating it) and the given broker URL."""
    started: list[OrderService] = []

    async def start(amqp_url: str = vhost_url, **settings: object) -> OrderService:
        config = OrdersSettings(
            database_url=database_url,
            grpc_bind="127.0.0.1:0",
            catalog_file=catalog_file,
            amqp_url=amqp_url,
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


async def _stub(service: OrderService) -> tuple[grpc.aio.Channel, orders_pb2_grpc.OrderServiceStub]:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}")
    return channel, orders_pb2_grpc.OrderServiceStub(channel)


def _create(sku: str = "MUG-001", quantity: int = 1, key: str | None = None) -> orders_pb2.CreateOrderRequest:
    return orders_pb2.CreateOrderRequest(
        caller=CALLER,
        idempotency_key=key or f"key-{uuid4().hex[:12]}",
        items=[orders_pb2.OrderLineInput(sku=sku, quantity=quantity)],
        payment_token="tok_success",
        customer_email="ada@example.com",
    )


async def _publish_payment_event(
    vhost_url: str, payload: models.PaymentSucceeded | models.PaymentFailed, event_id: UUID
) -> None:
    connection = await bus.connect(vhost_url)
    async with connection:
        publisher = bus.Publisher(connection)
        await publisher.start()
        await publisher.publish(
            outgoing(
                payload,
                event_id=event_id,
                occurred_at=datetime.now(UTC),
                producer="payments",
                correlation_id=str(payload.order_id),
                traceparent=new_traceparent(),
            )
        )
        await publisher.close()


async def _status_becomes(
    stub: orders_pb2_grpc.OrderServiceStub, order_id: str, status: orders_pb2.OrderStatus.ValueType
) -> orders_pb2.Order:
    async with asyncio.timeout(15):
        while True:
            reply = await stub.GetOrder(orders_pb2.GetOrderRequest(caller=CALLER, order_id=order_id))
            if reply.order.status == status:
                return reply.order
            await asyncio.sleep(0.05)


def _succeeded(order: orders_pb2.Order) -> models.PaymentSucceeded:
    return models.PaymentSucceeded(
        payment_id=uuid4(),
        order_id=UUID(order.id),
        user_id=UUID(order.user_id),
        customer_email="ada@example.com",
        amount=models.Money(amount_minor=order.total.amount_minor, currency=order.total.currency),
        provider_reference="sim_ch_1",
        attempts=1,
        succeeded_at=datetime.now(UTC),
    )


def _failed(order: orders_pb2.Order) -> models.PaymentFailed:
    return models.PaymentFailed(
        payment_id=uuid4(),
        order_id=UUID(order.id),
        user_id=UUID(order.user_id),
        customer_email="ada@example.com",
        amount=models.Money(amount_minor=order.total.amount_minor, currency=order.total.currency),
        reason="card_declined",
        message="The card was declined.",
        attempts=1,
        failed_at=datetime.now(UTC),
    )


async def test_a_created_order_is_published_as_order_created_with_the_full_envelope(
    start_service: ServiceFactory, tap: Tap
) -> None:
    service = await start_service()
    channel, stub = await _stub(service)
    async with channel:
        created = await stub.CreateOrder(
            _create(quantity=2), metadata=(("traceparent", "00-" + "a" * 32 + "-" + "b" * 16 + "-01"),)
        )

    message = await tap.next_of("order.created")
    assert message.routing_key == "order.created"
    assert UUID(message.message_id or "")
    assert message.app_id == "orders"
    assert message.correlation_id == created.order.id
    assert message.content_type == "application/json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.timestamp is not None
    assert message.headers["traceparent"] == "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    payload = parse_payload("order.created", message.body)
    assert isinstance(payload, models.OrderCreated)
    assert str(payload.order_id) == created.order.id
    assert payload.total.amount_minor == 2 * 1250
    assert json.loads(message.body)["payment_token"] == "tok_success"


async def test_payment_events_drive_the_order_to_paid_or_cancelled(
    start_service: ServiceFactory, tap: Tap, vhost_url: str
) -> None:
    service = await start_service(consumer_prefetch=1)
    channel, stub = await _stub(service)
    async with channel:
        paid = (await stub.CreateOrder(_create("MUG-001", 1))).order
        declined = (await stub.CreateOrder(_create("LTD-001", 4))).order

        event_id = uuid4()
        await _publish_payment_event(vhost_url, _succeeded(paid), event_id)
        await _status_becomes(stub, paid.id, orders_pb2.ORDER_STATUS_PAID)
        order_paid = parse_payload("order.paid", (await tap.next_of("order.paid")).body)
        assert str(order_paid.order_id) == paid.id

        # The same event again (a redelivery), then a failure for the other order: with prefetch 1 the
        # duplicate is handled before the failure, so once the failure shows, the duplicate was seen.
        await _publish_payment_event(vhost_url, _succeeded(paid), event_id)
        await _publish_payment_event(vhost_url, _failed(declined), uuid4())
        cancelled = await _status_becomes(stub, declined.id, orders_pb2.ORDER_STATUS_CANCELLED)
        assert cancelled.cancellation_reason == orders_pb2.CANCELLATION_REASON_PAYMENT_DECLINED
        stock = await stub.GetProduct(orders_pb2.GetProductRequest(sku="LTD-001"))
        assert stock.product.stock_available == 10

    event = parse_payload("order.cancelled", (await tap.next_of("order.cancelled")).body)
    assert isinstance(event, models.OrderCancelled)
    assert (event.reason, event.previous_status) == ("payment_declined", "PENDING")
    async with service.engine.connect() as conn:
        paid_events = await conn.execute(
            select(func.count()).select_from(tables.outbox).where(tables.outbox.c.event_type == "order.paid")
        )
        assert paid_events.scalar_one() == 1


async def test_orders_are_taken_while_the_broker_is_down_and_published_once_it_is_back(
    start_service: ServiceFactory, tap: Tap, vhost_url: str
) -> None:
    offline = await start_service(CLOSED_PORT_URL)
    channel, stub = await _stub(offline)
    async with channel:
        ids = {(await stub.CreateOrder(_create())).order.id for _ in range(3)}
    async with offline.engine.connect() as conn:
        pending = await conn.execute(
            select(func.count()).select_from(tables.outbox).where(tables.outbox.c.published_at.is_(None))
        )
        assert pending.scalar_one() == 3
    await offline.stop()

    await start_service(vhost_url)
    published = {json.loads((await tap.next_of("order.created")).body)["order_id"] for _ in range(3)}
    assert published == ids


async def test_two_relays_publish_every_event_exactly_once(
    database_url: str, engine: AsyncEngine, tap: Tap, vhost_url: str
) -> None:
    order_ids = [uuid4() for _ in range(200)]
    async with engine.begin() as conn:
        for n, order_id in enumerate(order_ids):
            event = models.OrderPaid(
                order_id=order_id,
                user_id=uuid4(),
                customer_email="ada@example.com",
                payment_id=uuid4(),
                total=models.Money(amount_minor=n, currency="EUR"),
                paid_at=datetime.now(UTC),
            )
            message = outgoing(
                event,
                event_id=uuid4(),
                occurred_at=datetime.now(UTC),
                producer="orders",
                correlation_id=str(order_id),
                traceparent=new_traceparent(),
            )
            await enqueue(conn, tables.outbox, message, n)

    async def relay_all() -> int:
        own_engine = create_engine(database_url)  # a replica has its own connection pool
        connection = await bus.connect(vhost_url)
        try:
            publisher = bus.Publisher(connection)
            await publisher.start()
            return await OutboxRelay(own_engine, tables.outbox, publisher, batch_size=25).drain()
        finally:
            await connection.close()
            await own_engine.dispose()

    counts = await asyncio.gather(relay_all(), relay_all())

    assert sum(counts) == 200
    received = [json.loads((await tap.next()).body)["order_id"] for _ in range(200)]
    assert sorted(received) == sorted(str(i) for i in order_ids)
    assert await tap.queue.get(no_ack=True, fail=False) is None

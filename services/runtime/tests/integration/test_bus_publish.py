"""Topology and publishing against the real broker: what arrives, where, and what happens when it cannot."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from aio_pika.abc import AbstractRobustConnection
from aio_pika.exceptions import ChannelPreconditionFailed

from ecommerce.events.channels import CHANNELS, EXCHANGE
from ecommerce_runtime.bus import (
    BrokerUnavailableError,
    Publisher,
    PublishError,
    connect,
    declare_topology,
    queue_arguments,
)
from ecommerce_runtime.messages import OutgoingMessage
from ecommerce_runtime.testing.rabbitmq import BrokerProxy, list_queues, take_messages

MakeOrderCreated = Callable[..., OutgoingMessage]


async def test_declare_topology_creates_quorum_queues_with_a_delivery_limit_and_a_dlq(
    connection: AbstractRobustConnection, vhost_url: str
) -> None:
    channel = await connection.channel()
    await declare_topology(channel, "payments")
    await declare_topology(channel, "payments")  # idempotent
    await declare_topology(channel, "orders", delivery_limit=2)

    queues = await list_queues(vhost_url)

    assert set(queues) == {"payments.events", "payments.events.dlq", "orders.events", "orders.events.dlq"}
    assert queues["payments.events"].type == "quorum"
    assert queues["payments.events"].arguments == queue_arguments("payments.events", 5)
    assert queues["orders.events"].arguments["x-delivery-limit"] == 2
    assert queues["orders.events"].arguments["x-dead-letter-routing-key"] == "orders.events"
    assert queues["payments.events.dlq"].type == "quorum"
    assert queues["payments.events.dlq"].arguments == {"x-queue-type": "quorum"}


async def test_the_broker_refuses_to_change_the_delivery_limit_of_an_existing_queue(
    connection: AbstractRobustConnection,
) -> None:
    channel = await connection.channel()
    await declare_topology(channel, "payments", delivery_limit=5)
    with pytest.raises(ChannelPreconditionFailed, match="inequivalent arg 'x-delivery-limit'"):
        await declare_topology(await connection.channel(), "payments", delivery_limit=3)


async def test_a_published_event_reaches_every_bound_queue_with_its_full_envelope(
    connection: AbstractRobustConnection, make_order_created: MakeOrderCreated
) -> None:
    channel = await connection.channel()
    await declare_topology(channel, "payments")
    await declare_topology(channel, "notifications")
    await declare_topology(channel, "orders")
    publisher = Publisher(connection)
    await publisher.start()
    sent = make_order_created()

    await publisher.publish(sent)

    payments = await channel.get_queue("payments.events")
    notifications = await channel.get_queue("notifications.events")
    orders = await channel.get_queue("orders.events")
    for queue in (payments, notifications):
        [received] = await take_messages(queue, 1)
        assert received.body == sent.body
        assert received.routing_key == "order.created"
        assert received.exchange == EXCHANGE
        assert received.message_id == str(sent.event_id)
        assert received.type == "order.created"
        assert received.timestamp == sent.occurred_at
        assert received.app_id == "orders"
        assert received.correlation_id == sent.correlation_id
        assert received.content_type == "application/json"
        assert received.delivery_mode == 2
        assert received.headers["traceparent"] == sent.traceparent
        payload = CHANNELS["order.created"].model.model_validate_json(received.body)
        assert str(payload.order_id) == sent.correlation_id
    # orders does not subscribe to its own order.created
    assert orders.declaration_result.message_count == 0
    assert await orders.get(fail=False) is None
    await publisher.close()


async def test_publishing_an_event_nobody_subscribes_to_is_confirmed_and_dropped(
    connection: AbstractRobustConnection, make_order_created: MakeOrderCreated, vhost_url: str
) -> None:
    publisher = Publisher(connection)
    await publisher.start()
    await publisher.publish(make_order_created())  # no queue is bound: mandatory=False, still confirmed
    assert await list_queues(vhost_url) == {}
    await publisher.close()


async def test_publish_raises_when_the_connection_is_closed(
    connection: AbstractRobustConnection, make_order_created: MakeOrderCreated
) -> None:
    publisher = Publisher(connection, confirm_timeout=2)
    await publisher.start()
    await connection.close()
    with pytest.raises(PublishError):
        await publisher.publish(make_order_created())


async def test_publish_raises_when_the_publisher_is_closed_or_not_started(
    connection: AbstractRobustConnection, make_order_created: MakeOrderCreated
) -> None:
    publisher = Publisher(connection)
    with pytest.raises(PublishError, match="not started"):
        await publisher.publish(make_order_created())
    await publisher.start()
    await publisher.close()
    with pytest.raises(PublishError, match="not started"):
        await publisher.publish(make_order_created())


async def test_publish_raises_when_the_broker_closes_the_channel(
    connection: AbstractRobustConnection, make_order_created: MakeOrderCreated
) -> None:
    publisher = Publisher(connection, confirm_timeout=5)
    await publisher.start()
    # Deleting the exchange under the publisher makes the broker close its channel with 404 on publish.
    admin = await connection.channel()
    await admin.exchange_delete(EXCHANGE)
    with pytest.raises(PublishError):
        await publisher.publish(make_order_created())
    await publisher.close()


async def test_publish_raises_while_the_broker_is_unreachable_and_works_again_once_it_is_back(
    connection: AbstractRobustConnection, vhost_url: str, make_order_created: MakeOrderCreated
) -> None:
    channel = await connection.channel()  # direct, not through the proxy
    await declare_topology(channel, "payments")
    proxy = BrokerProxy(vhost_url)
    proxied = await connect(await proxy.start() + "?reconnect_interval=0.2")
    publisher = Publisher(proxied, confirm_timeout=1)
    await publisher.start()
    try:
        await proxy.cut()
        # The publish that meets the cut and those during the outage fail, and none hangs: the bound only
        # turns a hang into a test failure.
        async with asyncio.timeout(10):
            for _ in range(3):
                with pytest.raises(PublishError):
                    await publisher.publish(make_order_created())
                await asyncio.sleep(0.1)

        await proxy.restore()
        sent = make_order_created()
        async with asyncio.timeout(10):
            while True:
                try:
                    await publisher.publish(sent)
                    break
                except PublishError:
                    await asyncio.sleep(0.1)
    finally:
        await proxied.close()
        await proxy.cut()

    # Only the confirmed message is on the broker; the failed ones are not.
    received = await take_messages(await channel.get_queue("payments.events"), 1)
    assert [message.message_id for message in received] == [str(sent.event_id)]
    assert await (await channel.get_queue("payments.events")).get(fail=False) is None


async def test_connect_to_an_unreachable_broker_names_the_url_without_the_password() -> None:
    with pytest.raises(BrokerUnavailableError) as caught:
        await connect("amqp://guest:s3cret@127.0.0.1:1/some-vhost", connect_timeout=5)
    message = str(caught.value)
    assert "amqp://guest:***@127.0.0.1:1/some-vhost" in message
    assert "s3cret" not in message
    assert "rabbitmq-server -detached" in message

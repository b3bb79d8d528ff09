"""The broker topology: what exists on RabbitMQ and why it has exactly these arguments.

- ``ecommerce.events``: one durable topic exchange; the routing key of every event is its event type.
- ``ecommerce.events.dlx``: a durable direct exchange that dead-lettered messages go through.
- per consuming service (``SUBSCRIPTIONS``): one durable **quorum** queue bound with each of its event types,
  and its DLQ ``<queue>.dlq`` bound to the DLX with the queue's name as routing key.

Quorum queues replicate messages and count deliveries (``x-delivery-count``); ``x-delivery-limit`` makes the
broker dead-letter a message that keeps coming back instead of redelivering it forever. RabbitMQ 3.10 has no
default limit, so it is always set. The broker dead-letters a message when its delivery count *exceeds* the
limit, so a limit of N means N + 1 attempts (measured on 3.10.8: limit 2 gives deliveries with
``x-delivery-count`` absent, 1, 2, then the DLQ).

``x-dead-letter-strategy=at-least-once`` (new in 3.10, requires ``x-overflow=reject-publish``) keeps a
message in its queue until the DLQ has confirmed it; the default, at-most-once, can lose it on the way. No
length limit is set, so ``reject-publish`` never rejects anything.

Declaring is idempotent as long as the arguments match; a different ``delivery_limit`` for an existing queue
is refused by the broker (``PRECONDITION_FAILED - inequivalent arg 'x-delivery-limit'``). Changing it on a
live system is a job for a policy or a migration, not for a restart with another value.
"""

from __future__ import annotations

from typing import Final

from aio_pika import ExchangeType
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue, FieldValue

from ecommerce.events.channels import CHANNELS, EXCHANGE, SUBSCRIPTIONS

DEAD_LETTER_EXCHANGE: Final = f"{EXCHANGE}.dlx"
DEFAULT_DELIVERY_LIMIT: Final = 5


def dlq_name(queue: str) -> str:
    """The dead-letter queue of ``queue``."""
    return f"{queue}.dlq"


def queue_arguments(queue: str, delivery_limit: int = DEFAULT_DELIVERY_LIMIT) -> dict[str, FieldValue]:
    """The arguments a service queue is declared with (tests compare the broker's answer against them)."""
    if delivery_limit < 0:
        raise ValueError(f"delivery_limit must be >= 0, got {delivery_limit}")
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": queue,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


async def declare_topology(
    channel: AbstractChannel,
    service: str | None = None,
    *,
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
) -> None:
    """Declare the exchanges and, if ``service`` is given, its queue, DLQ and bindings. Idempotent."""
    if service is None:
        await declare_exchanges(channel)
    else:
        await declare_service_queues(channel, service, delivery_limit=delivery_limit)


async def declare_exchanges(channel: AbstractChannel) -> tuple[AbstractExchange, AbstractExchange]:
    """Declare the events exchange and the dead-letter exchange; return them in that order."""
    exchange = await channel.declare_exchange(EXCHANGE, ExchangeType.TOPIC, durable=True)
    dead_letter_exchange = await channel.declare_exchange(
        DEAD_LETTER_EXCHANGE, ExchangeType.DIRECT, durable=True
    )
    return exchange, dead_letter_exchange


async def declare_service_queues(
    channel: AbstractChannel,
    service: str,
    *,
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
) -> tuple[AbstractQueue, AbstractQueue]:
    """``declare_topology`` for ``service``, returning its ``(queue, dlq)`` for a consumer to use."""
    subscription = SUBSCRIPTIONS.get(service)
    if subscription is None:
        raise ValueError(f"{service!r} consumes no events in the spec; consumers: {sorted(SUBSCRIPTIONS)}")
    arguments = queue_arguments(subscription.queue, delivery_limit)
    exchange, dead_letter_exchange = await declare_exchanges(channel)

    # The DLQ first: once the queue exists it may dead-letter, and the DLX must have somewhere to route to.
    dlq = await channel.declare_queue(
        dlq_name(subscription.queue), durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dlq.bind(dead_letter_exchange, routing_key=subscription.queue)
    queue = await channel.declare_queue(subscription.queue, durable=True, arguments=arguments)
    for event_type in subscription.event_types:
        await queue.bind(exchange, routing_key=CHANNELS[event_type].routing_key)
    return queue, dlq

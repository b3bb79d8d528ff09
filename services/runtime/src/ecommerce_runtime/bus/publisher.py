"""Publishing events with publisher confirms: ``publish`` returns only once the broker has the message.

The outbox relay marks a row sent only after ``publish`` returned, so ``publish`` must never return for a
message the broker may not have: a nack, a missing confirm, a closed channel or connection all raise
``PublishError``, and the relay tries again later (consumers deduplicate by event id).

Why the timeout covers the whole call, not just the confirm: on a robust connection that is reconnecting,
aio-pika waits for the connection to come back before it even sends the message
(``RobustChannel.get_underlay_channel`` awaits ``connection.ready()``), which can take forever.

Messages are published with ``mandatory=False`` (``specs/asyncapi.yaml``): an event no service subscribes to
is not an error. They are persistent and carry the envelope as AMQP properties (``messages`` module).
"""

from __future__ import annotations

import asyncio
import logging

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, DeliveryError

from ecommerce.events.channels import CHANNELS
from ecommerce_runtime.bus.topology import declare_exchanges
from ecommerce_runtime.messages import CONTENT_TYPE, OutgoingMessage

logger = logging.getLogger(__name__)


class PublishError(Exception):
    """The broker did not confirm the message: nacked, timed out, or the channel/connection is closed."""


def amqp_message(message: OutgoingMessage) -> aio_pika.Message:
    """The AMQP message for ``message``: body plus the envelope properties and the ``traceparent`` header."""
    channel = CHANNELS.get(message.event_type)
    if channel is None or channel.routing_key != message.routing_key:
        raise ValueError(
            f"{message.event_type!r} with routing key {message.routing_key!r} is not a channel of the spec"
        )
    return aio_pika.Message(
        message.body,
        message_id=str(message.event_id),
        type=message.event_type,
        timestamp=message.occurred_at,
        app_id=message.producer,
        correlation_id=message.correlation_id,
        content_type=CONTENT_TYPE,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        headers={"traceparent": message.traceparent},
    )


async def publish_confirmed(
    exchange: AbstractExchange, message: aio_pika.Message, routing_key: str, *, confirm_timeout: float
) -> None:
    """Publish on a channel with publisher confirms; return after the broker's ack, else ``PublishError``."""
    try:
        async with asyncio.timeout(confirm_timeout):
            await exchange.publish(message, routing_key=routing_key, mandatory=False)
    except TimeoutError as exc:
        raise PublishError(f"no confirm from the broker within {confirm_timeout}s ({routing_key})") from exc
    except DeliveryError as exc:
        raise PublishError(f"the broker refused the message ({routing_key}): {exc!r}") from exc
    except CONNECTION_EXCEPTIONS as exc:
        raise PublishError(f"could not publish ({routing_key}): {exc!r}") from exc


class Publisher:
    """Publishes ``OutgoingMessage``s to the events exchange on its own confirmed channel."""

    def __init__(self, connection: AbstractConnection, *, confirm_timeout: float = 10.0) -> None:
        self._connection = connection
        self._confirm_timeout = confirm_timeout
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    async def start(self) -> None:
        """Open a channel with publisher confirms and declare the exchanges."""
        if self._channel is not None:
            raise RuntimeError("Publisher already started")
        channel = await self._connection.channel(publisher_confirms=True)
        self._exchange, _ = await declare_exchanges(channel)
        self._channel = channel

    async def publish(self, message: OutgoingMessage) -> None:
        """Publish ``message``; return once the broker confirmed it, raise ``PublishError`` otherwise."""
        if self._exchange is None:
            raise PublishError("Publisher is not started (or was closed)")
        await publish_confirmed(
            self._exchange, amqp_message(message), message.routing_key, confirm_timeout=self._confirm_timeout
        )
        logger.debug("published %s %s", message.event_type, message.event_id)

    async def close(self) -> None:
        """Close the channel; later ``publish`` calls raise ``PublishError``."""
        channel, self._channel, self._exchange = self._channel, None, None
        if channel is not None and not channel.is_closed:
            await channel.close()

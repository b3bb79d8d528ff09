"""Consuming a service's queue: each delivery ends acked, retried or dead-lettered; never lost, never stuck.

Per delivery (manual acks, at most ``prefetch`` handlers running at once):

1. The envelope is decoded (``envelope.decode_event``). Poison -- not JSON, schema-invalid, unknown or missing
   type, missing or malformed ``message_id`` or envelope -- can never succeed, so it goes to the DLQ at once.
2. The handler raised ``PermanentError``: same, with the error as the reason. Dead-lettering is done by
   publishing a copy to the DLQ with ``x-dead-letter-reason`` (confirmed) and then acking the original
   (``dead_letter``), because a reject cannot carry a reason.
3. The handler raised ``TransientError`` or anything else: after ``retry_backoff(attempt)`` the message is
   nacked with requeue, so it is delivered again (here or to another replica). The quorum queue counts the
   returns in ``x-delivery-count``; once a message was returned more than ``delivery_limit`` times
   (``x-delivery-limit``), RabbitMQ dead-letters it itself through the DLX, recording
   ``x-first-death-reason: delivery_limit`` and an ``x-death`` entry. A message thus gets
   ``delivery_limit + 1`` attempts; ``IncomingEvent.delivery_count`` says which one this is.
4. The handler returned: ack.

The backoff sleeps while holding the message, so the retry is delayed without a retry queue of its own; it
counts against ``prefetch``, which is why the default is capped at 30 s.

Graceful stop: cancel the consumer first (no new deliveries), let the handlers in flight finish (up to a
timeout), then close the channel. A delivery that arrives after ``stop`` began -- the broker may still send
some until it answers the cancel -- is not handled but returned with a nack. On RabbitMQ 3.10 every return
counts towards the delivery limit, including messages still unacked when a channel closes (measured: a message
held by a closed channel comes back with ``x-delivery-count: 1``), so a process killed mid-handler also spends
an attempt. Handlers must therefore be idempotent (the inbox), which they must be anyway: the broker delivers
at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Final

from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage, AbstractQueue
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from ecommerce.events.channels import SUBSCRIPTIONS
from ecommerce_runtime.bus.dead_letter import publish_to_dlq
from ecommerce_runtime.bus.envelope import PoisonMessageError, decode_event, delivery_count
from ecommerce_runtime.bus.publisher import PublishError
from ecommerce_runtime.bus.topology import DEFAULT_DELIVERY_LIMIT, declare_service_queues, dlq_name
from ecommerce_runtime.messages import IncomingEvent

logger = logging.getLogger(__name__)

Handler = Callable[[IncomingEvent], Awaitable[None]]

_FIRST_RETRY_DELAY: Final = 0.5
_MAX_RETRY_DELAY: Final = 30.0


class TransientError(Exception):
    """Raised by a handler: this failed for now (database or SMTP down); try the message again later."""


class PermanentError(Exception):
    """Raised by a handler: this message can never succeed; dead-letter it with this error as the reason."""


def default_retry_backoff(attempt: int) -> float:
    """Seconds to wait before returning a failed attempt: 0.5 s doubling per attempt, capped at 30 s, minus
    up to 25 % jitter so replicas that failed together do not retry together."""
    exponent = min(max(attempt, 1), 32) - 1
    delay = min(_MAX_RETRY_DELAY, _FIRST_RETRY_DELAY * 2.0**exponent)
    return delay * (1.0 - 0.25 * random.random())


class Consumer:
    """Consumes ``service``'s quorum queue and hands each event to ``handler`` (see the module docstring)."""

    def __init__(
        self,
        connection: AbstractConnection,
        service: str,
        handler: Handler,
        *,
        prefetch: int = 20,
        delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
        retry_backoff: Callable[[int], float] = default_retry_backoff,
        confirm_timeout: float = 10.0,
    ) -> None:
        if service not in SUBSCRIPTIONS:
            raise ValueError(
                f"{service!r} consumes no events in the spec; consumers: {sorted(SUBSCRIPTIONS)}"
            )
        if prefetch < 1:
            raise ValueError(f"prefetch must be >= 1, got {prefetch}")
        self._connection = connection
        self._service = service
        self._handler = handler
        self._prefetch = prefetch
        self._delivery_limit = delivery_limit
        self._retry_backoff = retry_backoff
        self._confirm_timeout = confirm_timeout
        self._queue_name = SUBSCRIPTIONS[service].queue
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[object]] = set()

    @property
    def consuming(self) -> bool:
        """Whether the broker may deliver to this consumer: from ``start`` until ``stop`` has cancelled it.

        Fit for a readiness probe. (The broker's own consumer count of a quorum queue is not: on RabbitMQ
        3.10 a cancelled consumer keeps counting until its unacked messages are settled.)
        """
        return self._consumer_tag is not None

    async def start(self) -> None:
        """Open a channel, set the prefetch, declare the service's topology and start consuming."""
        if self._channel is not None:
            raise RuntimeError("Consumer already started")
        if self._stopping.is_set():
            raise RuntimeError("a stopped Consumer cannot be restarted; create a new one")
        channel = await self._connection.channel(publisher_confirms=True)
        try:
            await channel.set_qos(prefetch_count=self._prefetch)
            limit = self._delivery_limit
            queue, _ = await declare_service_queues(channel, self._service, delivery_limit=limit)
            self._channel, self._queue = channel, queue
            self._consumer_tag = await queue.consume(self._on_message, no_ack=False)
        except BaseException:
            self._channel = None
            if not channel.is_closed:
                await channel.close()
            raise
        logger.info("consuming %s (prefetch %d)", self._queue_name, self._prefetch)

    async def stop(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 (the contract's name; waits, not cancels)
        """Stop gracefully: no new deliveries, wait up to ``timeout`` for the handlers in flight, close.

        Handlers still running after ``timeout`` are cancelled; their messages stay unacked and the broker
        returns them to the queue when the channel closes.
        """
        channel = self._channel
        if channel is None or self._stopping.is_set():
            return
        self._stopping.set()
        if self._queue is not None and self._consumer_tag is not None and not channel.is_closed:
            try:
                await self._queue.cancel(self._consumer_tag)
            except CONNECTION_EXCEPTIONS as exc:
                logger.warning("could not cancel the consumer of %s: %r", self._queue_name, exc)
        self._consumer_tag = None
        in_flight = {task for task in self._tasks if task is not asyncio.current_task()}
        if in_flight:
            _, unfinished = await asyncio.wait(in_flight, timeout=timeout)
            if unfinished:
                logger.warning(
                    "%d handler(s) of %s still running after %ss: cancelled; their messages go back",
                    len(unfinished),
                    self._queue_name,
                    timeout,
                )
                for task in unfinished:
                    task.cancel()
                await asyncio.wait(unfinished, timeout=1.0)
        self._channel = None
        if not channel.is_closed:
            await channel.close()
        logger.info("stopped consuming %s", self._queue_name)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        assert task is not None  # aio-pika runs every delivery in a task of its own
        self._tasks.add(task)
        try:
            if self._stopping.is_set():
                await self._settle(message.nack(requeue=True), message, "return")
            else:
                await self._process(message)
        except Exception:
            # A bug of ours, not of the message: retry it rather than leave it unacked until the channel dies.
            logger.exception("unexpected failure consuming %s", message.message_id)
            if not message.processed:
                await self._settle(message.nack(requeue=True), message, "nack")
        finally:
            self._tasks.discard(task)

    async def _process(self, message: AbstractIncomingMessage) -> None:
        try:
            event = decode_event(message)
        except PoisonMessageError as exc:
            await self._dead_letter(message, exc.reason)
            return
        try:
            await self._handler(event)
        except PermanentError as exc:
            await self._dead_letter(message, f"permanent-error: {exc}" if str(exc) else "permanent-error")
        except TransientError as exc:
            logger.warning(
                "%s %s: attempt %d failed transiently: %s",
                event.event_type,
                event.event_id,
                event.delivery_count,
                exc,
            )
            await self._retry_later(message, event.delivery_count)
        except Exception:
            logger.exception(
                "%s %s: attempt %d failed", event.event_type, event.event_id, event.delivery_count
            )
            await self._retry_later(message, event.delivery_count)
        else:
            await self._settle(message.ack(), message, "ack")

    async def _dead_letter(self, message: AbstractIncomingMessage, reason: str) -> None:
        channel = self._channel
        dlq = dlq_name(self._queue_name)
        try:
            if channel is None:
                raise PublishError("the consumer's channel is closed")
            await publish_to_dlq(
                channel,
                message,
                dlq=dlq,
                reason=reason,
                original_routing_key=message.routing_key or "",
                service=self._service,
                confirm_timeout=self._confirm_timeout,
            )
        except PublishError as exc:
            logger.error("could not dead-letter %s (%s) to %s: %s", message.message_id, reason, dlq, exc)
            await self._retry_later(message, delivery_count(message.headers or {}))
            return
        logger.warning("dead-lettered %s (%s) to %s: %s", message.message_id, message.type, dlq, reason)
        await self._settle(message.ack(), message, "ack")

    async def _retry_later(self, message: AbstractIncomingMessage, attempt: int) -> None:
        if attempt > self._delivery_limit:
            logger.warning(
                "%s: attempt %d was the last, the broker dead-letters it", message.message_id, attempt
            )
        elif not self._stopping.is_set():
            # Stopping cuts the backoff short: the message goes back now, for another replica or a restart.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._retry_backoff(attempt))
        await self._settle(message.nack(requeue=True), message, "nack")

    async def _settle(self, action: Awaitable[None], message: AbstractIncomingMessage, what: str) -> None:
        try:
            await action
        except CONNECTION_EXCEPTIONS as exc:
            # The channel is gone, and with it the delivery: the broker redelivers the message.
            logger.warning("could not %s %s: %r (it will be redelivered)", what, message.message_id, exc)

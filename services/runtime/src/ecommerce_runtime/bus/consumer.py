"""Consuming a service's queue: each delivery ends acked, retried or dead-lettered; never lost, never stuck.

Per delivery (manual acks, at most ``prefetch`` in flight): the envelope is decoded (poison goes to the DLQ
at once, with the reason in a header); the event's trace context is adopted; the ``Subscriber`` runs. It
returned: ack. It raised ``PermanentError``: dead-letter. It raised ``TransientError``, a database that
cannot be reached (``db.database_unreachable``) or a deadlock: it runs again with backoff, holding the
message (an outage does not spend the delivery budget), for up to ``transient_window``. Anything else (a
bug): after a backoff the message is returned with a nack, and after ``delivery_limit`` returns the broker
dead-letters it itself.
A graceful ``stop`` cancels the consumer, lets the subscribers in flight finish, then closes the channel.
Why it works this way: ``docs/decisions/0006-dead-lettering-and-delivery-limits.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage, AbstractQueue
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from ecommerce.events.channels import SUBSCRIPTIONS
from ecommerce_runtime.backoff import Backoff
from ecommerce_runtime.bus.dead_letter import publish_to_dlq
from ecommerce_runtime.bus.envelope import PoisonMessageError, decode_event, delivery_count
from ecommerce_runtime.bus.publisher import PublishError
from ecommerce_runtime.bus.topology import DEFAULT_DELIVERY_LIMIT, declare_service_queues, dlq_name
from ecommerce_runtime.db import database_unreachable, transaction_aborted
from ecommerce_runtime.messages import IncomingEvent
from ecommerce_runtime.tracing import set_traceparent

logger = logging.getLogger(__name__)

Subscriber = Callable[[IncomingEvent], Awaitable[None]]
"""What a consumer hands each decoded event to: a service's translation into its use cases."""

RETRY_BACKOFF = Backoff(first=0.5, cap=30.0)
TRANSIENT_WINDOW_SECONDS = 600.0
"""How long a transient failure is retried holding the message: well under RabbitMQ's consumer ack
timeout (30 minutes by default), after which the broker would close the channel."""


class TransientError(Exception):
    """Raised by a subscriber: this failed for now (database or SMTP down); try the message again later."""


class PermanentError(Exception):
    """Raised by a subscriber: this message can never succeed; dead-letter it with this error as reason."""


def default_retry_backoff(attempt: int) -> float:
    """Seconds to hold a failed delivery before returning it (``RETRY_BACKOFF``: 0.5 s doubling, 30 s cap;
    the wait counts against ``prefetch``, hence the cap)."""
    return RETRY_BACKOFF.delay(attempt)


class Consumer:
    """Consumes ``service``'s quorum queue and hands each event to ``subscriber`` (see the module doc)."""

    def __init__(
        self,
        connection: AbstractConnection,
        service: str,
        subscriber: Subscriber,
        *,
        prefetch: int = 20,
        delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
        retry_backoff: Callable[[int], float] = default_retry_backoff,
        transient_window: float = TRANSIENT_WINDOW_SECONDS,
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
        self._subscriber = subscriber
        self._prefetch = prefetch
        self._delivery_limit = delivery_limit
        self._retry_backoff = retry_backoff
        self._transient_window = transient_window
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
        """Stop gracefully: no new deliveries, wait up to ``timeout`` for the subscribers in flight, close.

        Subscribers still running after ``timeout`` are cancelled; their messages stay unacked and the broker
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
                    "%d subscriber(s) of %s still running after %ss: cancelled; their messages go back",
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
        set_traceparent(event.traceparent)
        if await self._deliver(event, message):
            await self._settle(message.ack(), message, "ack")

    async def _deliver(self, event: IncomingEvent, message: AbstractIncomingMessage) -> bool:
        """Runs the subscriber; True when the message is done with (to ack), False when it was settled.

        A transient failure (a dependency down) is retried here, holding the message, with backoff, for up
        to ``transient_window`` seconds: an outage must not spend the message's delivery budget, and
        holding the prefetch window pauses consumption until the dependency is back.
        """
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self._transient_window
        failures = 0
        while True:
            try:
                await self._subscriber(event)
                return True
            except PermanentError as exc:
                await self._dead_letter(message, f"permanent-error: {exc}" if str(exc) else "permanent-error")
                return False
            except Exception as exc:
                if not (
                    isinstance(exc, TransientError) or database_unreachable(exc) or transaction_aborted(exc)
                ):
                    logger.exception(
                        "%s %s: attempt %d failed", event.event_type, event.event_id, event.delivery_count
                    )
                    await self._retry_later(message, event.delivery_count)  # a bug: spends a delivery
                    return False
                failures += 1
                delay = self._retry_backoff(failures)
                if self._stopping.is_set() or loop.time() + delay > give_up_at:
                    logger.warning(
                        "%s %s: still failing transiently after %d tries (%s); returning it",
                        event.event_type,
                        event.event_id,
                        failures,
                        exc,
                    )
                    await self._retry_later(message, event.delivery_count, wait=False)
                    return False
                logger.warning(
                    "%s %s: failed transiently (%s); trying again in %.1fs",
                    event.event_type,
                    event.event_id,
                    exc,
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=delay)

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

    async def _retry_later(
        self, message: AbstractIncomingMessage, attempt: int, *, wait: bool = True
    ) -> None:
        """Returns the message (one delivery spent), after a backoff unless ``wait`` is False."""
        if attempt > self._delivery_limit:
            logger.warning(
                "%s: attempt %d was the last, the broker dead-letters it", message.message_id, attempt
            )
        elif wait and not self._stopping.is_set():
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

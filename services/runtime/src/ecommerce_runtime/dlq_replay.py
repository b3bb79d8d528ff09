"""Move dead-lettered events back to their service's queue once the cause is fixed (``make dlq-replay``).

    python -m ecommerce_runtime.dlq_replay --service orders [--amqp-url URL] [--limit N] [--dry-run]

Each message is republished to the service's queue through the default exchange (so it reaches that one
service only, not every subscriber of its event type) with the dead-letter bookkeeping removed
(``x-death``, ``x-first-death-*``, ``x-dead-letter-*``, ``x-delivery-count``): it starts afresh with a full
set of attempts. Every other property is kept, ``message_id`` above all, so the consumer's inbox still
recognises an event it has handled before. A DLQ message is acked only after the broker confirmed its copy:
a crash in between can duplicate a message, never lose one.

One run moves at most the messages that were in the DLQ when it started, so a message that fails again at
once and lands back in the DLQ is not replayed in a loop. ``--dry-run`` holds the messages unacked while it
lists them and then lets them go back to the DLQ untouched (on RabbitMQ 3.10 that bumps their
``x-delivery-count`` in the DLQ, which has no delivery limit and whose count replay drops anyway).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, ChannelNotFoundEntity

from ecommerce.events.channels import SUBSCRIPTIONS
from ecommerce_runtime.bus import (
    BrokerUnavailableError,
    PublishError,
    connect,
    dead_letter_reason,
    dlq_name,
    mask_url,
)
from ecommerce_runtime.bus.dead_letter import copy_message, without_dead_letter_headers
from ecommerce_runtime.bus.publisher import publish_confirmed

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
CONFIRM_TIMEOUT = 10.0


class ReplayError(Exception):
    """Nothing can be replayed: the service's queues do not exist on this broker/vhost."""


@dataclass(frozen=True, slots=True)
class ReplayedMessage:
    """One message taken from a DLQ (and, unless it was a dry run, put back on its queue)."""

    event_id: str | None
    event_type: str | None
    reason: str


def _describe(message: AbstractIncomingMessage) -> ReplayedMessage:
    return ReplayedMessage(
        event_id=message.message_id,
        event_type=message.type,
        reason=dead_letter_reason(message.headers or {}),
    )


async def replay(
    connection: AbstractRobustConnection, service: str, *, limit: int | None, dry_run: bool
) -> list[ReplayedMessage]:
    """Move up to ``limit`` messages (all when ``None``) from ``service``'s DLQ back to its queue.

    With ``dry_run`` nothing moves; the messages that would move are returned. Raises ``PublishError`` when
    the broker does not confirm a copy (that message and the rest stay in the DLQ), ``ReplayError`` when the
    queues do not exist and ``ValueError`` for a service that consumes nothing.
    """
    subscription = SUBSCRIPTIONS.get(service)
    if subscription is None:
        raise ValueError(f"{service!r} consumes no events in the spec; consumers: {sorted(SUBSCRIPTIONS)}")
    queue_name = subscription.queue
    channel = await connection.channel(publisher_confirms=True)
    try:
        # Passive: replay never creates a queue; a service that never ran has nothing to replay.
        try:
            dlq = await channel.declare_queue(dlq_name(queue_name), passive=True)
            await channel.declare_queue(queue_name, passive=True)
        except ChannelNotFoundEntity as exc:
            raise ReplayError(
                f"{queue_name} or its DLQ does not exist (has the {service} service ever started?): {exc}"
            ) from exc
        waiting = dlq.declaration_result.message_count or 0
        budget = waiting if limit is None else min(limit, waiting)
        moved: list[ReplayedMessage] = []
        held: list[AbstractIncomingMessage] = []
        while len(moved) < budget:
            message = await dlq.get(no_ack=False, fail=False)
            if message is None:
                break
            moved.append(_describe(message))
            if dry_run:
                held.append(message)  # unacked until the end, so the next get() returns the next message
                continue
            try:
                copy = copy_message(message, without_dead_letter_headers(message.headers or {}))
                await publish_confirmed(
                    channel.default_exchange, copy, queue_name, confirm_timeout=CONFIRM_TIMEOUT
                )
            except BaseException:
                with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                    await message.nack(requeue=True)
                raise
            await message.ack()
        for message in held:
            await message.nack(requeue=True)
        return moved
    finally:
        if not channel.is_closed:
            await channel.close()


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ecommerce_runtime.dlq_replay",
        description="Move dead-lettered messages from a service's DLQ back to its queue.",
    )
    parser.add_argument(
        "--service", required=True, choices=sorted(SUBSCRIPTIONS), help="the consuming service"
    )
    parser.add_argument(
        "--amqp-url",
        default=os.environ.get("AMQP_URL", DEFAULT_AMQP_URL),
        # Not %(default)s: that would print the password of AMQP_URL.
        help=f"broker URL (default: env AMQP_URL, else {mask_url(DEFAULT_AMQP_URL)})",
    )
    parser.add_argument("--limit", type=_positive_int, default=None, help="move at most N messages")
    parser.add_argument("--dry-run", action="store_true", help="list what would move, move nothing")
    return parser.parse_args(argv)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


async def _main(args: argparse.Namespace) -> int:
    connection = await connect(args.amqp_url)
    try:
        replayed = await replay(connection, args.service, limit=args.limit, dry_run=args.dry_run)
    finally:
        await connection.close()
    queue = SUBSCRIPTIONS[args.service].queue
    verb = "would move" if args.dry_run else "moved"
    for message in replayed:
        print(f"{verb}\t{message.event_id or '-'}\t{message.event_type or '-'}\t{message.reason}")
    print(f"{verb} {len(replayed)} message(s) from {dlq_name(queue)} to {queue}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = _parse_args(argv)
    try:
        return asyncio.run(_main(args))
    except (BrokerUnavailableError, PublishError, ReplayError) as exc:
        print(f"dlq-replay: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""DLQ replay: dead-lettered events go back to their queue, are consumed, and a dry run moves nothing."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable

import pytest
from aio_pika.abc import AbstractRobustConnection

from ecommerce_runtime.bus import Consumer, PermanentError, Publisher, TransientError
from ecommerce_runtime.dlq_replay import ReplayedMessage, ReplayError, replay
from ecommerce_runtime.messages import IncomingEvent, OutgoingMessage
from ecommerce_runtime.testing.rabbitmq import wait_for_message_count

MakeOrderCreated = Callable[..., OutgoingMessage]
WITHIN = 10.0  # only turns a hang into a failure


async def dead_letter(
    connection: AbstractRobustConnection, make_order_created: MakeOrderCreated
) -> tuple[list[OutgoingMessage], list[OutgoingMessage]]:
    """Put events in the payments DLQ both ways: rejected by the handler, and over the delivery limit."""
    rejected = [make_order_created() for _ in range(2)]
    exhausted = [make_order_created()]
    rejected_ids = {message.event_id for message in rejected}

    async def failing(event: IncomingEvent) -> None:
        if event.event_id in rejected_ids:
            raise PermanentError("card token revoked")
        raise TransientError("provider down")

    consumer = Consumer(
        connection,
        "payments",
        failing,
        delivery_limit=1,
        retry_backoff=lambda attempt: 0.0,
        transient_window=0,
    )
    await consumer.start()
    publisher = Publisher(connection)
    await publisher.start()
    for message in [*rejected, *exhausted]:
        await publisher.publish(message)
    await publisher.close()
    await wait_for_message_count(connection, "payments.events.dlq", 3)
    await consumer.stop()
    return rejected, exhausted


async def test_dry_run_lists_the_dead_letters_and_moves_nothing(
    connection: AbstractRobustConnection, make_order_created: MakeOrderCreated
) -> None:
    rejected, exhausted = await dead_letter(connection, make_order_created)

    listed = await replay(connection, "payments", limit=None, dry_run=True)

    revoked = "permanent-error: card token revoked"
    assert len(listed) == 3
    assert set(listed) == {ReplayedMessage(str(m.event_id), "order.created", revoked) for m in rejected} | {
        ReplayedMessage(str(m.event_id), "order.created", "delivery_limit") for m in exhausted
    }
    await wait_for_message_count(connection, "payments.events.dlq", 3)
    await wait_for_message_count(connection, "payments.events", 0)


async def test_replayed_events_go_back_to_the_queue_and_are_consumed(
    connection: AbstractRobustConnection, make_order_created: MakeOrderCreated
) -> None:
    rejected, exhausted = await dead_letter(connection, make_order_created)

    moved = await replay(connection, "payments", limit=2, dry_run=False)
    assert len(moved) == 2
    await wait_for_message_count(connection, "payments.events.dlq", 1)
    await wait_for_message_count(connection, "payments.events", 2)
    moved += await replay(connection, "payments", limit=None, dry_run=False)
    assert len(moved) == 3
    await wait_for_message_count(connection, "payments.events.dlq", 0)
    assert await replay(connection, "payments", limit=None, dry_run=False) == []

    handled: list[IncomingEvent] = []
    all_handled = asyncio.Event()

    async def fixed(event: IncomingEvent) -> None:  # the bug is fixed: every event succeeds now
        handled.append(event)
        if len(handled) == 3:
            all_handled.set()

    consumer = Consumer(connection, "payments", fixed, delivery_limit=1)
    await consumer.start()
    async with asyncio.timeout(WITHIN):
        await all_handled.wait()
    await consumer.stop()

    assert {event.event_id for event in handled} == {m.event_id for m in [*rejected, *exhausted]}
    by_id = {m.event_id: m for m in [*rejected, *exhausted]}
    for event in handled:
        assert event.delivery_count == 1  # a fresh start: the dead-letter bookkeeping was dropped
        assert event.traceparent == by_id[event.event_id].traceparent  # every other property kept
        assert event.correlation_id == by_id[event.event_id].correlation_id
    await wait_for_message_count(connection, "payments.events", 0)
    await wait_for_message_count(connection, "payments.events.dlq", 0)


async def test_replay_names_the_missing_queue_when_the_service_never_ran(
    connection: AbstractRobustConnection,
) -> None:
    with pytest.raises(ReplayError, match=r"orders\.events or its DLQ does not exist"):
        await replay(connection, "orders", limit=None, dry_run=True)


async def test_the_command_line_prints_what_it_moved(
    connection: AbstractRobustConnection, make_order_created: MakeOrderCreated, vhost_url: str
) -> None:
    rejected, exhausted = await dead_letter(connection, make_order_created)

    async def run(*args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ecommerce_runtime.dlq_replay",
            "--service",
            "payments",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "AMQP_URL": vhost_url},
        )
        stdout, stderr = await process.communicate()
        assert process.returncode is not None
        return process.returncode, stdout.decode(), stderr.decode()

    code, out, err = await run("--dry-run")
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "would move 3 message(s) from payments.events.dlq to payments.events"
    await wait_for_message_count(connection, "payments.events.dlq", 3)

    code, out, err = await run("--limit", "5")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[-1] == "moved 3 message(s) from payments.events.dlq to payments.events"
    assert sorted(lines[:-1]) == sorted(
        [f"moved\t{m.event_id}\torder.created\tpermanent-error: card token revoked" for m in rejected]
        + [f"moved\t{m.event_id}\torder.created\tdelivery_limit" for m in exhausted]
    )
    await wait_for_message_count(connection, "payments.events", 3)


async def test_the_command_line_fails_clearly_when_the_broker_is_unreachable() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ecommerce_runtime.dlq_replay",
        "--service",
        "orders",
        "--amqp-url",
        "amqp://guest:s3cret@127.0.0.1:1/",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode == 1
    assert stdout == b""
    assert "cannot connect to RabbitMQ at amqp://guest:***@127.0.0.1:1/" in stderr.decode()
    assert b"s3cret" not in stderr

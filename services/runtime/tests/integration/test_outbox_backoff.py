"""The outbox relay's backoff holds while the broker is down, however often commits wake it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

from sqlalchemy import MetaData

from ecommerce_runtime.db import create_engine
from ecommerce_runtime.messages import OutgoingMessage
from ecommerce_runtime.outbox import OutboxRelay, enqueue, outbox_table


class DownBroker:
    def __init__(self) -> None:
        self.attempts = 0

    async def publish(self, message: OutgoingMessage) -> None:
        self.attempts += 1
        raise ConnectionError("the broker is down")


async def test_wake_ups_do_not_cut_the_backoff_short(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}")
    metadata = MetaData()
    table = outbox_table(metadata)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        message = OutgoingMessage(
            uuid4(),
            "order.created",
            "order.created",
            b"{}",
            "c",
            datetime.now(UTC),
            "orders",
            "00-" + "a" * 32 + "-" + "b" * 16 + "-01",
        )
        await enqueue(conn, table, message)
    broker = DownBroker()
    relay = OutboxRelay(engine, table, broker, poll_interval=0.2, max_backoff=30.0)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    for _ in range(150):  # a busy service: a commit every 10 ms for 1.5 s
        relay.notify()
        await asyncio.sleep(0.01)
    stop.set()
    await running
    await engine.dispose()

    # Backoff 0.2, 0.4, 0.8 s (minus jitter) allows at most 4 tries in 1.5 s (plus the flush at stop);
    # a relay woken by every commit would have tried about 150 times.
    assert 2 <= broker.attempts <= 6, broker.attempts

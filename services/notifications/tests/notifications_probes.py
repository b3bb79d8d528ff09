"""Helpers of the integration tests: waiting for an outcome (a bounded poll, never a speed assertion), free
ports, the mailbox of the test SMTP server and the rows the service stored."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Protocol

import pytest
from devstack.mailsink import MailSink, ReceivedEmail
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifications.adapters import tables
from notifications.bootstrap import NotificationService

CLOSED_AMQP_URL = "amqp://guest:guest@127.0.0.1:1/"
WITHIN = 20.0
"""How long a poll waits before it fails: only turns a hang into a failure, never a speed assertion."""


def free_port() -> int:
    """A port nothing listens on right now (the OS picked it; the tests then open it or leave it shut)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = WITHIN) -> None:
    """Polls ``check`` until it is true; fails naming ``what`` after ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


class Mailbox:
    """What the SMTP server received, with waits that fail instead of hanging."""

    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    @property
    def received(self) -> list[ReceivedEmail]:
        return self.sink.received

    async def wait_for(self, count: int) -> list[ReceivedEmail]:
        async def arrived() -> bool:
            return len(self.sink.received) >= count

        await eventually(arrived, f"{count} email(s); got {len(self.sink.received)}")
        return self.sink.received


async def stored(engine: AsyncEngine) -> list[dict[str, object]]:
    """Every notification row, oldest first."""
    async with engine.connect() as conn:
        n = tables.notifications
        rows = await conn.execute(select(n).order_by(n.c.created_at, n.c.id))
        return [dict(row) for row in rows.mappings()]


class ServiceFactory(Protocol):
    def __call__(
        self, *, smtp_port: int, amqp_url: str = ..., **settings: object
    ) -> Awaitable[NotificationService]: ...

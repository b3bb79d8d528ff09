"""What an end-to-end test gets: the running stack's addresses and a tap on its exchange."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue


@dataclass
class RunningStack:
    base_url: str
    maildir: Path
    amqp_url: str
    tap: AbstractQueue
    log: list[str]

    async def drain_tap(self) -> list[AbstractIncomingMessage]:
        """Every message the tap queue holds now."""
        messages = []
        while (message := await self.tap.get(no_ack=True, fail=False)) is not None:
            messages.append(message)
        return messages

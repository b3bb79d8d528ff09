"""Process lifecycle: a stop event set by SIGTERM or SIGINT, and the doorbell of the background loops."""

from __future__ import annotations

import asyncio
import logging
import signal

log = logging.getLogger(__name__)


def stop_on_signals() -> asyncio.Event:
    """An event set on the first SIGTERM/SIGINT; a second signal of either kind is left to the default."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def _request_stop(signum: int) -> None:
        log.info("received %s; shutting down gracefully", signal.Signals(signum).name)
        stop.set()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _request_stop, sig)
    return stop


class Wakeup:
    """The doorbell of a background loop (outbox relay, mailer): ``notify`` ends its current sleep early.

    The loop calls ``arm`` before it looks for work, so a ``notify`` that arrives during the pass is not
    lost: the next ``sleep`` returns at once.
    """

    def __init__(self) -> None:
        self._rung = asyncio.Event()

    def notify(self) -> None:
        self._rung.set()

    def arm(self) -> None:
        self._rung.clear()

    async def sleep(self, stop: asyncio.Event, seconds: float) -> None:
        """Until ``seconds`` pass, ``notify`` is called or ``stop`` is set, whichever comes first."""
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._rung.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

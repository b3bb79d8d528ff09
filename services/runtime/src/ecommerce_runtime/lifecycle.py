"""Process lifecycle: a stop event set by SIGTERM or SIGINT, so ``__main__`` can shut down gracefully."""

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

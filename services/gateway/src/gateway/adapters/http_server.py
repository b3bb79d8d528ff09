"""Serving the gateway's ASGI app with uvicorn until told to stop, then finishing in-flight requests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import uvicorn


class StartupFailed(Exception):
    """The HTTP server could not start (the address is taken, say)."""


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the caller decides when to stop, and a graceful stop
    exits 0 instead of re-raising the signal."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_http(app: Any, bind: str, stop: asyncio.Event, *, grace_seconds: int) -> None:
    """Serves ``app`` on ``bind`` (``host:port``) until ``stop`` is set; uvicorn runs the app's lifespan
    (start before the first request, stop after the last)."""
    host, _, port = bind.rpartition(":")
    config = uvicorn.Config(
        app,
        host=host.strip("[]"),
        port=int(port),
        lifespan="on",
        log_config=None,
        access_log=False,  # the gateway writes its own access log line, with the request id
        server_header=False,
        timeout_graceful_shutdown=grace_seconds,
    )
    server = _Server(config)
    serving = asyncio.create_task(_serve(server))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True  # finish in-flight requests, then run the lifespan shutdown
    stopping.cancel()
    if not await serving:
        raise StartupFailed(f"could not start serving on {bind} (see the log above)")


async def _serve(server: uvicorn.Server) -> bool:
    """Serves until told to stop; False if it could not start (uvicorn exits the process for that)."""
    try:
        await server.serve()
    except SystemExit:
        return False
    return server.started

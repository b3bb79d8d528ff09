"""``python -m gateway [serve|migrate]``: serve the REST API, or prepare the user database and exit."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Iterator

import uvicorn

from ecommerce_runtime.config import ConfigError, load_settings
from ecommerce_runtime.lifecycle import stop_on_signals
from ecommerce_runtime.logs import configure_logging
from gateway.adapters.http_app import SpecMismatch
from gateway.adapters.request_context import RequestIdLogFilter
from gateway.bootstrap import SERVICE, GatewaySettings, bootstrap

log = logging.getLogger("gateway")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: ``stop_on_signals`` decides when to stop, and a graceful
    stop exits 0 instead of re-raising the signal."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(settings: GatewaySettings) -> None:
    gateway = bootstrap(settings)
    host, _, port = settings.http_bind.rpartition(":")
    config = uvicorn.Config(
        gateway.app,
        host=host.strip("[]"),
        port=int(port),
        lifespan="on",  # starts the gateway (migrations, admin, channels) and stops it after the last request
        log_config=None,
        access_log=False,  # the gateway writes its own access log line, with the request id
        server_header=False,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
    server = _Server(config)
    stop = stop_on_signals()
    serving = asyncio.create_task(_serve(server))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True  # finish in-flight requests, then run the lifespan shutdown
    stopping.cancel()
    if not await serving:
        raise StartupFailed(f"could not start serving on {settings.http_bind} (see the log above)")


class StartupFailed(Exception):
    pass


async def _serve(server: uvicorn.Server) -> bool:
    """Serves until told to stop; False if it could not start (uvicorn exits the process for that)."""
    try:
        await server.serve()
    except SystemExit:
        return False
    return server.started


async def migrate(settings: GatewaySettings) -> None:
    gateway = bootstrap(settings)
    try:
        await gateway.prepare_database()
    finally:
        await gateway.stop()


SECRET_VARIABLES = ("GATEWAY_JWT_SECRET", "GATEWAY_ADMIN_PASSWORD")


def _redacted(message: str) -> str:
    """``message`` without the values of secret settings: the runtime's ``ConfigError`` quotes every
    refused input, a too-short secret included."""
    for name in SECRET_VARIABLES:
        value = os.environ.get(name)
        if value:
            message = message.replace(value, "**********")
    return message


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "migrate"],
        help="serve (default): run the REST API; migrate: apply the database migrations, then exit",
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings(GatewaySettings)
    except ConfigError as error:
        print(f"{SERVICE}: {_redacted(str(error))}", file=sys.stderr)
        return 2
    configure_logging(SERVICE, settings.log_level)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RequestIdLogFilter())
    try:
        asyncio.run(serve(settings) if args.command == "serve" else migrate(settings))
    except SpecMismatch as error:
        print(f"{SERVICE}: {error}", file=sys.stderr)
        return 2
    except StartupFailed as error:
        print(f"{SERVICE}: {error}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

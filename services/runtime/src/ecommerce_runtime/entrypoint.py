"""``python -m <service> [serve|migrate]`` for every gRPC service: one command line, one start-up.

Settings are read once (a bad value exits 2 naming the variable), logging is configured, then either the
service is served until SIGTERM/SIGINT and stopped gracefully, or its database is prepared and the process
exits.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import uvloop

from ecommerce_runtime.config import ConfigError, ServiceSettings, load_settings
from ecommerce_runtime.lifecycle import stop_on_signals
from ecommerce_runtime.logs import configure_logging

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


class Service(Protocol):
    """What ``bootstrap`` of each service returns (``runner.ServiceRunner`` for the gRPC services)."""

    async def prepare_database(self) -> None: ...

    async def run(self, stop: asyncio.Event) -> None:
        """Serves until ``stop`` is set, then stops gracefully."""
        ...

    async def stop(self) -> None:
        """Releases what the service holds (after ``run``, or after ``prepare_database`` alone)."""
        ...


async def _serve(service: Service) -> None:
    await service.run(stop_on_signals())


async def _migrate(service: Service) -> None:
    try:
        await service.prepare_database()
    finally:
        await service.stop()


def run_service(
    name: str,
    title: str,
    settings_cls: type[SettingsT],
    bootstrap: Callable[[SettingsT], Service],
    argv: Sequence[str] | None = None,
    *,
    startup_errors: tuple[type[Exception], ...] = (),
    log_filters: Sequence[logging.Filter] = (),
) -> int:
    """The ``main`` of service ``name`` ("orders"); ``title`` ("order service") describes it in ``--help``.

    ``startup_errors`` are configuration problems found only while starting (a broken template, a port
    in use): reported like a bad setting, exit status 2. ``log_filters`` enrich every log record.
    """
    parser = argparse.ArgumentParser(prog=f"python -m {name}", description=f"Run the {title}.")
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "migrate"],
        help="serve (default): run the service; migrate: apply the migrations (and seed data), then exit",
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings(settings_cls)
    except ConfigError as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 2
    configure_logging(name, settings.log_level)
    for handler in logging.getLogger().handlers:
        for log_filter in log_filters:
            handler.addFilter(log_filter)
    try:
        service = bootstrap(settings)
        # uvloop: the same asyncio, with a loop that costs a fraction of the stdlib one per socket event.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_serve(service) if args.command == "serve" else _migrate(service))
    except startup_errors as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 2
    return 0

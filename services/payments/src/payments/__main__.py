"""``python -m payments [serve|migrate]``: run the Payment Service, or prepare its database and exit."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from ecommerce_runtime.config import ConfigError, load_settings
from ecommerce_runtime.lifecycle import stop_on_signals
from ecommerce_runtime.logs import configure_logging
from payments.bootstrap import SERVICE, PaymentsSettings, bootstrap

log = logging.getLogger("payments")


async def serve(settings: PaymentsSettings) -> None:
    service = bootstrap(settings)
    stop = stop_on_signals()
    await service.start()
    log.info("payment service ready", extra={"grpc_port": service.grpc_port})
    await stop.wait()
    await service.stop()


async def migrate(settings: PaymentsSettings) -> None:
    service = bootstrap(settings)
    try:
        await service.prepare_database()
    finally:
        await service.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m payments", description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "migrate"],
        help="serve (default): run the service; migrate: apply the migrations, then exit",
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings(PaymentsSettings)
    except ConfigError as error:
        print(f"{SERVICE}: {error}", file=sys.stderr)
        return 2
    configure_logging(SERVICE, settings.log_level)
    asyncio.run(serve(settings) if args.command == "serve" else migrate(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m gateway [serve|migrate]``: serve the REST API, or prepare the user database and exit."""

from __future__ import annotations

from collections.abc import Sequence

from ecommerce_runtime.entrypoint import run_service
from gateway.adapters.http_app import SpecMismatch
from gateway.adapters.http_server import StartupFailed
from gateway.adapters.request_context import RequestIdLogFilter
from gateway.bootstrap import SERVICE, GatewaySettings, bootstrap


def main(argv: Sequence[str] | None = None) -> int:
    return run_service(
        SERVICE,
        "API gateway",
        GatewaySettings,
        bootstrap,
        argv,
        startup_errors=(SpecMismatch, StartupFailed),
        log_filters=(RequestIdLogFilter(),),
    )


if __name__ == "__main__":
    raise SystemExit(main())

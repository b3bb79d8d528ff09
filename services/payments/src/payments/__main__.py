"""``python -m payments [serve|migrate]``: run the Payment Service, or prepare its database and exit."""

from __future__ import annotations

from collections.abc import Sequence

from ecommerce_runtime.entrypoint import run_service
from payments.bootstrap import SERVICE, PaymentsSettings, bootstrap


def main(argv: Sequence[str] | None = None) -> int:
    return run_service(SERVICE, "payment service", PaymentsSettings, bootstrap, argv)


if __name__ == "__main__":
    raise SystemExit(main())

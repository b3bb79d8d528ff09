"""``python -m orders [serve|migrate]``: run the Order Service, or prepare its database and exit."""

from __future__ import annotations

from collections.abc import Sequence

from ecommerce_runtime.entrypoint import run_service
from orders.bootstrap import SERVICE, OrdersSettings, bootstrap


def main(argv: Sequence[str] | None = None) -> int:
    return run_service(SERVICE, "order service", OrdersSettings, bootstrap, argv)


if __name__ == "__main__":
    raise SystemExit(main())

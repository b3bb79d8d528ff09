"""``python -m notifications [serve|migrate]``: run the Notification Service, or prepare its database."""

from __future__ import annotations

from collections.abc import Sequence

from ecommerce_runtime.entrypoint import run_service
from notifications.adapters.email_templates import TemplateError
from notifications.bootstrap import SERVICE, NotificationsSettings, bootstrap


def main(argv: Sequence[str] | None = None) -> int:
    return run_service(
        SERVICE,
        "notification service",
        NotificationsSettings,
        bootstrap,
        argv,
        startup_errors=(TemplateError,),
    )


if __name__ == "__main__":
    raise SystemExit(main())

"""The time of every use case: a ``Clock`` is passed in (tests pass one they control); ``utc_now``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)

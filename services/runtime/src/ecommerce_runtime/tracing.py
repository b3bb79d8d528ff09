"""The W3C trace context of the operation in progress, carried from gRPC metadata or an incoming event
to the events it causes (full OpenTelemetry tracing can later build on the same header)."""

from __future__ import annotations

import re
from contextvars import ContextVar

from ecommerce_runtime.messages import new_traceparent

TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_current: ContextVar[str | None] = ContextVar("traceparent", default=None)


def set_traceparent(value: str | None) -> None:
    """Adopts ``value`` for the current task if it is a valid traceparent, else starts a new trace."""
    _current.set(value if value and TRACEPARENT.match(value) else new_traceparent())


def current_traceparent() -> str:
    """The trace context of the current task (a new one if none was set)."""
    value = _current.get()
    if value is None:
        value = new_traceparent()
        _current.set(value)
    return value

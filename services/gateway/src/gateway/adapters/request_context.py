"""The id of the request being served, set once at the edge and read wherever it is reported.

A client-supplied ``X-Request-ID`` matching the spec's pattern is adopted; anything else gets a new one.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

from ecommerce.rest.constraints import HEADER_X_REQUEST_ID_PATTERN

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID = re.compile(HEADER_X_REQUEST_ID_PATTERN)

_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def adopt_request_id(supplied: str | None) -> str:
    """The id for this request: ``supplied`` when it is a valid one, else a new one."""
    return supplied if supplied is not None and REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex


def set_request_id(value: str) -> object:
    """Makes ``value`` the current request id; returns a token for ``reset_request_id``."""
    return _current.set(value)


def reset_request_id(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


def current_request_id() -> str | None:
    return _current.get()


class RequestIdLogFilter(logging.Filter):
    """Adds ``request_id`` to every log record written while a request is served."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request_id()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True

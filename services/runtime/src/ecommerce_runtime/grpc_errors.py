"""Errors mapped to gRPC status codes once, at the edge of a service.

``StatusMapper`` wraps servicer methods: an exception of a mapped type aborts the call with its code and
its message (meant for the caller); a database that cannot be reached is UNAVAILABLE
(``db.database_unreachable``), a transaction a concurrent one aborted is ABORTED, both logged as a warning
without traceback; anything else is logged with its traceback and answered INTERNAL without internal
details.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import grpc

from ecommerce_runtime.db import database_unreachable, transaction_aborted
from ecommerce_runtime.pagination import InvalidPageRequest

log = logging.getLogger(__name__)
MethodT = TypeVar("MethodT", bound=Callable[..., Awaitable[Any]])


class InvalidArgument(ValueError):
    """A request field is malformed or out of range; the message names the field."""


class StatusMapper:
    def __init__(self, codes: Mapping[type[Exception], grpc.StatusCode]) -> None:
        self._codes: dict[type[Exception], grpc.StatusCode] = {
            InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
            InvalidPageRequest: grpc.StatusCode.INVALID_ARGUMENT,
            **codes,
        }

    def code_for(self, error: Exception) -> grpc.StatusCode | None:
        for kind in type(error).__mro__:
            if kind in self._codes:
                return self._codes[kind]
        return None

    def __call__(self, method: MethodT) -> MethodT:
        @functools.wraps(method)
        async def wrapper(servicer: object, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            try:
                return await method(servicer, request, context)
            except grpc.aio.AbortError:
                raise
            except Exception as error:
                code = self.code_for(error)
                if code is not None:
                    await context.abort(code, str(error))
                if database_unreachable(error):
                    log.warning("database unavailable in %s: %r", method.__name__, error)
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "the service's database is unavailable")
                if transaction_aborted(error):
                    log.warning("transaction aborted in %s: %r", method.__name__, error)
                    await context.abort(
                        grpc.StatusCode.ABORTED, "a concurrent change aborted the transaction"
                    )
                log.exception("unexpected error in %s", method.__name__)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")

        return wrapper  # type: ignore[return-value]

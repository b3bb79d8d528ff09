"""Every error the SDK raises, so callers can catch them by kind.

::

    EcommerceError                        base of everything below
    ├── APIConnectionError                no response: refused, reset, DNS, TLS, protocol error
    │   └── APITimeoutError               the request timed out
    ├── APIResponseValidationError        a success response the models do not accept
    ├── WaitTimeoutError                  ``orders.wait_for_status`` gave up (also a ``TimeoutError``)
    └── APIStatusError                    the API answered 4xx/5xx; carries the problem, status and request id
        ├── BadRequestError               400
        ├── AuthenticationError           401
        ├── PermissionDeniedError         403
        ├── NotFoundError                 404
        ├── ConflictError                 409
        ├── RequestTooLargeError          413
        ├── UnsupportedMediaTypeError     415
        ├── UnprocessableEntityError      422
        ├── RateLimitError                429
        └── InternalServerError           500 and every other 5xx
            ├── BadGatewayError           502
            ├── ServiceUnavailableError   503
            └── GatewayTimeoutError       504

Error bodies are RFC 9457 problems (``application/problem+json``); ``APIStatusError.problem`` is the parsed
body, or ``None`` when the body was not a problem (a proxy's HTML page, say).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from ecommerce_sdk.types import FieldError, Problem

if TYPE_CHECKING:
    from ecommerce_sdk.types import Order

__all__ = [
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "ConflictError",
    "EcommerceError",
    "GatewayTimeoutError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTooLargeError",
    "ServiceUnavailableError",
    "UnprocessableEntityError",
    "UnsupportedMediaTypeError",
    "WaitTimeoutError",
]

REQUEST_ID_HEADER = "X-Request-ID"


class EcommerceError(Exception):
    """Base class of every error raised by this SDK."""


class APIConnectionError(EcommerceError):
    """The request got no response (connection refused or reset, DNS failure, protocol error...)."""

    def __init__(self, request: httpx.Request, message: str = "Connection error.") -> None:
        super().__init__(message)
        self.request = request


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, read, write or pool timeout)."""

    def __init__(self, request: httpx.Request) -> None:
        super().__init__(request, "Request timed out.")


class APIResponseValidationError(EcommerceError):
    """A success response whose body does not match the SDK's models (a server newer in a breaking way)."""

    def __init__(self, response: httpx.Response, message: str) -> None:
        super().__init__(message)
        self.response = response
        self.status_code = response.status_code
        self.request_id: str | None = response.headers.get(REQUEST_ID_HEADER)


class WaitTimeoutError(EcommerceError, TimeoutError):
    """``orders.wait_for_status`` ran out of time; ``last`` is the order as last seen."""

    def __init__(self, last: Order, wanted: frozenset[str], timeout: float) -> None:
        waited_for = ", ".join(sorted(wanted))
        super().__init__(f"order {last.id} is still {last.status} after {timeout:g} s (wanted {waited_for})")
        self.last = last
        self.wanted = wanted
        self.timeout = timeout


class APIStatusError(EcommerceError):
    """The API answered with an error status; ``problem`` holds its RFC 9457 body when it sent one."""

    def __init__(self, response: httpx.Response, problem: Problem | None) -> None:
        self.response = response
        self.status_code = response.status_code
        self.problem = problem
        self.request_id: str | None = response.headers.get(REQUEST_ID_HEADER) or (
            problem.request_id if problem else None
        )
        super().__init__(self._message())

    @property
    def title(self) -> str:
        """The problem's title, or the HTTP reason phrase."""
        return self.problem.title if self.problem else self.response.reason_phrase

    @property
    def detail(self) -> str | None:
        """What went wrong on this occurrence, as the API explained it."""
        return self.problem.detail if self.problem else None

    @property
    def type(self) -> str:
        """The problem type URI; ``about:blank`` when only the status applies."""
        return self.problem.type if self.problem else "about:blank"

    @property
    def errors(self) -> list[FieldError]:
        """One entry per invalid field, for validation problems."""
        return list(self.problem.errors or []) if self.problem else []

    def _message(self) -> str:
        message = f"{self.status_code} {self.title}"
        if self.detail:
            message += f": {self.detail}"
        if self.errors:
            message += " (" + "; ".join(f"{e.field}: {e.message}" for e in self.errors) + ")"
        if self.request_id:
            message += f" [request id {self.request_id}]"
        return message


class BadRequestError(APIStatusError):
    """400: the request is malformed (types, unknown fields, limits)."""


class AuthenticationError(APIStatusError):
    """401: the credentials or the bearer token are missing, wrong or expired."""


class PermissionDeniedError(APIStatusError):
    """403: authenticated, but not allowed to do this."""


class NotFoundError(APIStatusError):
    """404: no such resource (another user's order answers the same as an unknown id)."""


class ConflictError(APIStatusError):
    """409: the resource is not in a state that allows this (already registered, no stock, cancelled)."""


class RequestTooLargeError(APIStatusError):
    """413: the request body is larger than the API accepts."""


class UnsupportedMediaTypeError(APIStatusError):
    """415: the request body is not JSON."""


class UnprocessableEntityError(APIStatusError):
    """422: well-formed but cannot be processed (an Idempotency-Key reused with another body, say)."""


class RateLimitError(APIStatusError):
    """429: too many requests; retried automatically, raised when the retries are used up."""


class InternalServerError(APIStatusError):
    """5xx: the API failed; 502, 503 and 504 are retried automatically before this is raised."""


class BadGatewayError(InternalServerError):
    """502: the gateway got no valid answer from a backend service."""


class ServiceUnavailableError(InternalServerError):
    """503: a backend service is unavailable; safe to retry later."""


class GatewayTimeoutError(InternalServerError):
    """504: a backend service did not answer in time; the outcome is unknown (retry with the same key)."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: RequestTooLargeError,
    415: UnsupportedMediaTypeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    502: BadGatewayError,
    503: ServiceUnavailableError,
    504: GatewayTimeoutError,
}


def error_for(response: httpx.Response) -> APIStatusError:
    """The typed exception for an error ``response``, with its problem body parsed when it has one."""
    problem: Problem | None
    try:
        problem = Problem.model_validate_json(response.content)
    except ValueError:  # not JSON, or JSON that is not a problem
        problem = None
    status = response.status_code
    kind = _BY_STATUS.get(status) or (InternalServerError if status >= 500 else APIStatusError)
    return kind(response, problem)

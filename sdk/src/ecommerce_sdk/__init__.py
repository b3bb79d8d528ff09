"""Python client of the e-commerce REST API (``specs/openapi.yaml``), sync and async.

``Client`` / ``AsyncClient`` are the entry points; the models are in ``ecommerce_sdk.types``; errors are
the exceptions below, caught by kind. See the README for examples.
"""

from ecommerce_sdk._base_client import DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, Clock
from ecommerce_sdk._client import AsyncClient, Client
from ecommerce_sdk._exceptions import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadGatewayError,
    BadRequestError,
    ConflictError,
    EcommerceError,
    GatewayTimeoutError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestTooLargeError,
    ServiceUnavailableError,
    UnprocessableEntityError,
    UnsupportedMediaTypeError,
    WaitTimeoutError,
)
from ecommerce_sdk._order_status import TERMINAL_STATUSES
from ecommerce_sdk._version import __version__
from ecommerce_sdk.pagination import AsyncPage, AsyncPaginator, SyncPage

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "TERMINAL_STATUSES",
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AsyncPage",
    "AsyncPaginator",
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "Client",
    "Clock",
    "ConflictError",
    "EcommerceError",
    "GatewayTimeoutError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTooLargeError",
    "ServiceUnavailableError",
    "SyncPage",
    "UnprocessableEntityError",
    "UnsupportedMediaTypeError",
    "WaitTimeoutError",
    "__version__",
]

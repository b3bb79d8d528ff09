"""The transport core under ``Client`` and ``AsyncClient``: configuration, requests, retries, typed errors.

- **Configuration**: the base URL and the bearer token come from the arguments, else from the environment
  (``ECOMMERCE_BASE_URL``, ``ECOMMERCE_API_TOKEN``), read once when the client is built; the base URL
  defaults to the local gateway, ``http://127.0.0.1:8000/v1``.
- **Retries**: connection errors, timeouts and the statuses 408, 429, 502, 503 and 504 are retried
  ``max_retries`` times (2 by default). The wait is the server's ``Retry-After`` (seconds or an HTTP date)
  when it sends one, else an exponential backoff from 0.5 s doubling up to 8 s, less up to 25 % jitter. A
  ``Retry-After`` longer than a minute is not waited out: the error is raised at once.
- **Idempotency**: every POST carries an ``Idempotency-Key`` (the caller's, or a new UUID) and sends the same
  key on each of its retries, so a retried ``POST /orders`` never places a second order.
- **Errors**: a 4xx/5xx answer raises the exception of its status (``_exceptions``), which carries the
  parsed problem, the status and the request id; a success body the models reject raises
  ``APIResponseValidationError``.
- **Request ids**: the ``X-Request-ID`` of a response is on the model returned (``.request_id``), on pages
  and on exceptions.
"""

from __future__ import annotations

import asyncio
import math
import os
import platform
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Self, TypeAlias, TypeVar
from urllib.parse import quote
from uuid import uuid4

import httpx
import pydantic

from ecommerce_sdk._base_model import ResponseModel
from ecommerce_sdk._exceptions import (
    REQUEST_ID_HEADER,
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    error_for,
)
from ecommerce_sdk._version import __version__
from ecommerce_sdk.pagination import AsyncPage, AsyncPaginator, PageModel, SyncPage

BASE_URL_ENV = "ECOMMERCE_BASE_URL"
API_TOKEN_ENV = "ECOMMERCE_API_TOKEN"
DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
DEFAULT_MAX_RETRIES = 2
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0
RETRY_STATUSES = frozenset({408, 429, 502, 503, 504})
USER_AGENT = f"ecommerce-sdk/{__version__} (Python {platform.python_version()})"

RequestTimeout: TypeAlias = float | httpx.Timeout
"""Seconds for every phase of a request, or an ``httpx.Timeout`` per phase."""

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)
ItemT = TypeVar("ItemT")


class Clock:
    """Time, waiting and jitter in one place, so tests can pass a fake that never really waits."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        """Seconds since the epoch (to resolve a ``Retry-After`` given as an HTTP date)."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    async def async_sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def random(self) -> float:
        """A number in [0, 1) for the retry jitter."""
        return random.random()


def path_segment(value: object) -> str:
    """``value`` as one URL path segment (a SKU or an id can never reach another path)."""
    return quote(str(value), safe="")


def retry_after_seconds(headers: httpx.Headers, now: float) -> float | None:
    """The ``Retry-After`` of a response in seconds (RFC 9110: delay-seconds or an HTTP date), if any.

    A date is measured against the response's own ``Date`` header when it has one, so a client whose clock
    is off still waits as long as the server asked.
    """
    value = headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    when = _http_date(value)
    if when is None:
        return None
    reference = _http_date(headers.get("Date", ""))
    return max(0.0, when - (reference if reference is not None else now))


def _http_date(value: str) -> float | None:
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass(frozen=True, slots=True)
class APICall:
    """One call of an operation, as the generated resources describe it."""

    method: str
    path: str
    query: Mapping[str, object] = field(default_factory=dict)
    body: pydantic.BaseModel | None = None
    secured: bool = False
    idempotency_key: str | None = None
    timeout: RequestTimeout | None = None
    accept: frozenset[int] = frozenset()
    """Error statuses whose body is a reply, not a problem (a readiness probe's 503)."""


class BaseClient:
    """Configuration, request building, retry policy and response parsing; no I/O."""

    def __init__(
        self,
        *,
        base_url: str | None,
        api_token: str | None,
        timeout: RequestTimeout,
        max_retries: int,
        default_headers: Mapping[str, str] | None,
        clock: Clock | None,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, not {max_retries}")
        self.base_url = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
        self.api_token: str | None = api_token or os.environ.get(API_TOKEN_ENV) or None
        """The bearer token sent on secured operations; ``auth.login`` sets it."""
        self.timeout = timeout
        self.max_retries = max_retries
        self.clock = clock or Clock()
        self._default_headers = dict(default_headers or {})

    def _build_request(self, http: httpx.Client | httpx.AsyncClient, call: APICall) -> httpx.Request:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **self._default_headers}
        content = None
        if call.body is not None:
            content = call.body.model_dump_json(by_alias=True, exclude_none=True).encode()
            headers["Content-Type"] = "application/json"
        if call.secured and self.api_token:
            headers["Authorization"] = f"Bearer {self.api_token}"
        if call.method == "POST":
            # Built once per call: every retry sends this same request, and so the same key.
            headers["Idempotency-Key"] = call.idempotency_key or str(uuid4())
        params = {
            name: value if isinstance(value, str | int) else str(value)
            for name, value in call.query.items()
            if value is not None
        }
        return http.build_request(
            call.method,
            self.base_url + call.path,
            params=params,
            content=content,
            headers=headers,
            timeout=self.timeout if call.timeout is None else call.timeout,
        )

    def _retry_delay(self, retries_taken: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` when there must be no next attempt."""
        if retries_taken >= self.max_retries:
            return None
        if response is not None:
            if response.status_code not in RETRY_STATUSES:
                return None
            asked = retry_after_seconds(response.headers, self.clock.time())
            if asked is not None:
                return asked if asked <= MAX_RETRY_AFTER else None
        backoff = min(INITIAL_RETRY_DELAY * 2.0**retries_taken, MAX_RETRY_DELAY)
        return backoff * (1.0 - 0.25 * self.clock.random())

    @staticmethod
    def _failure(request: httpx.Request, error: httpx.TransportError) -> APIConnectionError:
        if isinstance(error, httpx.TimeoutException):
            return APITimeoutError(request)
        return APIConnectionError(request, f"Connection error: {error}")

    @staticmethod
    def _reply(response: httpx.Response, reply: type[ModelT], call: APICall) -> ModelT:
        if not (response.is_success or response.status_code in call.accept):
            raise error_for(response)
        try:
            model = reply.model_validate_json(response.content)
        except pydantic.ValidationError as error:
            raise APIResponseValidationError(
                response, f"{call.method} {call.path}: the response is not a valid {reply.__name__}: {error}"
            ) from error
        if isinstance(model, ResponseModel):
            model._request_id = response.headers.get(REQUEST_ID_HEADER)
        return model

    @staticmethod
    def _page(response: httpx.Response, page: type[PageModel[ItemT]], call: APICall) -> PageModel[ItemT]:
        if not response.is_success:
            raise error_for(response)
        try:
            parsed = page.model_validate_json(response.content)
        except pydantic.ValidationError as error:
            raise APIResponseValidationError(
                response, f"{call.method} {call.path}: the response is not a valid page: {error}"
            ) from error
        request_id = response.headers.get(REQUEST_ID_HEADER)
        for item in parsed.items:
            if isinstance(item, ResponseModel):
                item._request_id = request_id
        return parsed


class SyncAPIClient(BaseClient):
    """The synchronous transport: ``request`` for one operation, ``get_page`` for a list operation."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_token: str | None = None,
        timeout: RequestTimeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            api_token=api_token,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            clock=clock,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout)

    def request(self, call: APICall, reply: type[ModelT]) -> ModelT:
        """Sends ``call`` (with retries) and returns its reply parsed as ``reply``, or raises."""
        return self._reply(self._send(call), reply, call)

    def get_page(self, call: APICall, page: type[PageModel[ItemT]]) -> SyncPage[ItemT]:
        """The first page of a list operation; the page fetches the ones after it."""

        def fetch(page_token: str | None) -> SyncPage[ItemT]:
            this = call if page_token is None else _with_page_token(call, page_token)
            response = self._send(this)
            parsed = self._page(response, page, this)
            return SyncPage(
                items=parsed.items,
                next_page_token=parsed.next_page_token,
                request_id=response.headers.get(REQUEST_ID_HEADER),
                fetch=fetch,
            )

        return fetch(None)

    def _send(self, call: APICall) -> httpx.Response:
        request = self._build_request(self._http, call)
        retries_taken = 0
        while True:
            try:
                response = self._http.send(request)
            except httpx.TransportError as error:
                delay = self._retry_delay(retries_taken, None)
                if delay is None:
                    raise self._failure(request, error) from error
            else:
                if call.accept and response.status_code in call.accept:
                    return response
                delay = self._retry_delay(retries_taken, response)
                if delay is None:
                    return response
            self.clock.sleep(delay)
            retries_taken += 1

    def close(self) -> None:
        """Closes the connections, unless the ``http_client`` was passed in (its owner closes it)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncAPIClient(BaseClient):
    """The asyncio transport: the same calls as ``SyncAPIClient``, awaited."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_token: str | None = None,
        timeout: RequestTimeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            api_token=api_token,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            clock=clock,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout)

    async def request(self, call: APICall, reply: type[ModelT]) -> ModelT:
        """Sends ``call`` (with retries) and returns its reply parsed as ``reply``, or raises."""
        return self._reply(await self._send(call), reply, call)

    def get_page(self, call: APICall, page: type[PageModel[ItemT]]) -> AsyncPaginator[ItemT]:
        """A list operation: await it for the first page, or iterate it for every item."""

        async def fetch(page_token: str | None) -> AsyncPage[ItemT]:
            this = call if page_token is None else _with_page_token(call, page_token)
            response = await self._send(this)
            parsed = self._page(response, page, this)
            return AsyncPage(
                items=parsed.items,
                next_page_token=parsed.next_page_token,
                request_id=response.headers.get(REQUEST_ID_HEADER),
                fetch=fetch,
            )

        return AsyncPaginator(lambda: fetch(None))

    async def _send(self, call: APICall) -> httpx.Response:
        request = self._build_request(self._http, call)
        retries_taken = 0
        while True:
            try:
                response = await self._http.send(request)
            except httpx.TransportError as error:
                delay = self._retry_delay(retries_taken, None)
                if delay is None:
                    raise self._failure(request, error) from error
            else:
                if call.accept and response.status_code in call.accept:
                    return response
                delay = self._retry_delay(retries_taken, response)
                if delay is None:
                    return response
            await self.clock.async_sleep(delay)
            retries_taken += 1

    async def close(self) -> None:
        """Closes the connections, unless the ``http_client`` was passed in (its owner closes it)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


def _with_page_token(call: APICall, page_token: str) -> APICall:
    return replace(call, query={**call.query, "page_token": page_token})


class SyncAPIResource:
    """Base of the generated synchronous resources (``Orders``...): holds the client they call through."""

    def __init__(self, client: SyncAPIClient) -> None:
        self._client = client


class AsyncAPIResource:
    """Base of the generated asyncio resources (``AsyncOrders``...)."""

    def __init__(self, client: AsyncAPIClient) -> None:
        self._client = client

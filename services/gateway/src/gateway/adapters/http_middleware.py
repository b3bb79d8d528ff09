"""ASGI middleware of the gateway: the request context at the edge, and the request body size limit.

``RequestContext`` wraps the whole app (outside connexion's error handling, so connexion's own error
answers get it too): it adopts or creates the request id and the trace context, puts ``X-Request-ID`` on
every response and writes one access log line per request. ``RequestIdHeader`` does the header part again
just outside the operations, so response validation, which requires the header, sees it.

``BodyLimit`` refuses a body over the limit with 413 (a declared ``Content-Length`` at once, a streamed body
as soon as it crosses the limit) by raising the problem into connexion's error handling.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ecommerce_runtime.tracing import set_traceparent
from gateway.adapters.problems import ApiProblem
from gateway.adapters.request_context import (
    REQUEST_ID_HEADER,
    adopt_request_id,
    current_request_id,
    reset_request_id,
    set_request_id,
)

access_log = logging.getLogger("gateway.access")


def _with_request_id(send: Send) -> Send:
    async def send_with_id(message: Message) -> None:
        request_id = current_request_id()
        if message["type"] == "http.response.start" and request_id is not None:
            headers = MutableHeaders(scope=message)
            if REQUEST_ID_HEADER not in headers:
                headers[REQUEST_ID_HEADER] = request_id
        await send(message)

    return send_with_id


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        token = set_request_id(adopt_request_id(headers.get(REQUEST_ID_HEADER)))
        set_traceparent(headers.get("traceparent"))
        started = time.perf_counter()
        status: dict[str, Any] = {"status": None}

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, _with_request_id(send_and_record))
        finally:
            access_log.info(
                "%s %s -> %s",
                scope["method"],
                scope["path"],
                status["status"],
                extra={
                    "request_id": current_request_id(),
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status["status"],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            reset_request_id(token)


class RequestIdHeader:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, _with_request_id(send) if scope["type"] == "http" else send)


class BodyLimit:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def _too_large(self) -> ApiProblem:
        return ApiProblem(413, f"The request body is larger than the {self.max_body_bytes} bytes accepted.")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is None:
            # A streamed (chunked) body: connexion only reads bodies with a Content-Length, so buffer it
            # (up to the limit) and hand it on with one.
            scope, receive = await self._buffered(scope, receive)
        elif not declared.isdigit():
            raise ApiProblem(400, "The Content-Length header must be a non-negative integer.")
        elif int(declared) > self.max_body_bytes:
            raise self._too_large()
        await self.app(scope, receive, send)

    async def _buffered(self, scope: Scope, receive: Receive) -> tuple[Scope, Receive]:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                raise self._too_large()
            if not message.get("more_body", False):
                break
        replay: list[Message] = [{"type": "http.request", "body": bytes(body), "more_body": False}]

        async def replaying_receive() -> Message:
            return replay.pop() if replay else await receive()

        if not body:
            return scope, replaying_receive
        scope = {**scope, "headers": [*scope["headers"], (b"content-length", str(len(body)).encode())]}
        return scope, replaying_receive

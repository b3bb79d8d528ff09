"""The connexion 3 ``AsyncApp`` serving ``specs/openapi.yaml``: the gateway's HTTP face.

- the spec is the copy packaged with the generated routes (``ecommerce/rest/openapi.yaml``), so the
  document served is the one the routes were generated from, wherever the gateway is installed;
- operationIds resolve through the generated, typed route table (decision 3), never through import paths;
- ``strict_validation`` (unknown query parameters are a 400) and ``validate_responses`` are on;
- bearer tokens are checked by ``bearer.bearer_handler`` (``security_map``), requests by
  ``validators`` (``validator_map``: JSON bodies and parameters);
- every error is a problem (``problems.render_error`` for every exception); ``X-Request-ID`` is on every
  response; bodies over the limit are 413 (``http_middleware``);
- Swagger UI at ``/v1/ui/`` and the spec at ``/v1/openapi.json``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import yaml
from connexion import AsyncApp, ConnexionMiddleware, request  # type: ignore[import-untyped]
from connexion.datastructures import MediaTypeDict  # type: ignore[import-untyped]
from connexion.exceptions import ProblemException  # type: ignore[import-untyped]
from connexion.middleware import MiddlewarePosition  # type: ignore[import-untyped]
from connexion.options import SwaggerUIOptions  # type: ignore[import-untyped]
from connexion.resolver import Resolver  # type: ignore[import-untyped]
from connexion.validators import VALIDATOR_MAP  # type: ignore[import-untyped]
from starlette.exceptions import HTTPException

from ecommerce.rest.operations import Operations
from ecommerce.rest.routes import OPERATION_IDS, route_table
from gateway.adapters.bearer import Authenticate, bearer_handler
from gateway.adapters.http_middleware import BodyLimit, RequestContext, RequestIdHeader
from gateway.adapters.problems import render_error
from gateway.adapters.validators import NamedParameterValidator, StrictJsonBodyValidator

Lifespan = Callable[[Any], contextlib.AbstractAsyncContextManager[None]]
PACKAGED_SPEC = resources.files("ecommerce.rest") / "openapi.yaml"


class SpecMismatch(Exception):
    """The spec served is not the one the routes were generated from."""


def load_spec(path: Traversable = PACKAGED_SPEC) -> dict[str, Any]:
    """The OpenAPI document at ``path`` (the packaged one by default), checked to have exactly the
    generated route table's operations."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: several times faster
    spec: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    found = sorted(
        operation["operationId"]
        for item in spec.get("paths", {}).values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    )
    if found != sorted(OPERATION_IDS):
        raise SpecMismatch(
            f"{path} declares operations {found}, the generated routes {sorted(OPERATION_IDS)}:"
            " regenerate (make generate)"
        )
    return spec


def _request_headers() -> Mapping[str, str]:
    headers: Mapping[str, str] = request.headers
    return headers


def create_app(
    spec: Mapping[str, Any],
    operations: Operations,
    authenticate: Authenticate,
    *,
    max_body_bytes: int,
    validate_responses: bool,
    lifespan: Lifespan | None = None,
) -> Any:
    """The ASGI app: ``operations`` behind the spec, ``authenticate`` for bearer tokens."""
    table = route_table(operations, _request_headers)
    app = AsyncApp(
        __name__,
        lifespan=lifespan,
        # RequestContext goes around everything, connexion's own error answers included.
        middlewares=[RequestContext, *ConnexionMiddleware.default_middlewares],
        strict_validation=True,
        validate_responses=validate_responses,
        swagger_ui_options=SwaggerUIOptions(spec_path="/openapi.json", swagger_ui_path="/ui"),
        security_map={"bearer": bearer_handler(authenticate)},
        validator_map={
            "parameter": NamedParameterValidator,
            "body": MediaTypeDict({**VALIDATOR_MAP["body"], "*/*json": StrictJsonBodyValidator}),
        },
    )
    app.add_middleware(BodyLimit, position=MiddlewarePosition.BEFORE_SWAGGER, max_body_bytes=max_body_bytes)
    app.add_middleware(RequestIdHeader, position=MiddlewarePosition.BEFORE_CONTEXT)
    app.add_api(dict(spec), resolver=Resolver(function_resolver=table.__getitem__))
    for kind in (Exception, ProblemException):
        app.add_error_handler(kind, render_error)
    app.add_error_handler(HTTPException, _with_allow_header(allowed_methods(spec)))
    return app


def allowed_methods(spec: Mapping[str, Any]) -> Callable[[str], str | None]:
    """``path -> "GET, HEAD, POST"``: the methods the spec gives the path (None for paths it lacks).

    A 405 from connexion's router names only the first route it tried ("POST" for ``PUT /v1/orders``);
    the ``Allow`` header must list every method of the resource.
    """
    base = str(spec.get("servers", [{}])[0].get("url", "")).rstrip("/")
    table: list[tuple[re.Pattern[str], str]] = []
    for template, item in spec.get("paths", {}).items():
        methods = {
            m.upper() for m in item if m in {"get", "put", "post", "delete", "patch", "options", "head"}
        }
        if "GET" in methods:
            methods.add("HEAD")
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(base + template))
        table.append((re.compile(f"^{pattern}$"), ", ".join(sorted(methods))))

    def allowed(path: str) -> str | None:
        return next((methods for pattern, methods in table if pattern.match(path)), None)

    return allowed


def _with_allow_header(allowed: Callable[[str], str | None]) -> Callable[[Any, Exception], Awaitable[Any]]:
    async def render(request: Any, error: Exception) -> Any:
        if isinstance(error, HTTPException) and error.status_code == 405:
            allow = allowed(request.url.path)
            if allow is not None:
                error.headers = {**(error.headers or {}), "Allow": allow}
        return await render_error(request, error)

    return render


def lifespan_of(start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]) -> Lifespan:
    """An ASGI lifespan that runs ``start`` before serving and ``stop`` after the last request."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        await start()
        try:
            yield
        finally:
            await stop()

    return lifespan

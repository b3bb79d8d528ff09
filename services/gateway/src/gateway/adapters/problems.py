"""Every error the gateway answers, rendered once: an RFC 9457 problem (``application/problem+json``).

The connexion app registers ``render_error`` for every exception; it turns

- ``ApiProblem`` (raised by the gateway's own code, e.g. the gRPC status mapping),
- the account errors of the domain (409 duplicate email, 401 bad credentials or token),
- ``InvalidParameter`` from the generated route table (a body or parameter typed parsing refused),
- connexion's problems (validation, 401, 415, ...) and starlette's HTTP errors (404, 405 with ``Allow``),
- and anything unexpected (500, logged with its traceback, no internals in the answer)

into a problem with ``type``, ``title``, ``status``, ``detail`` (at most 4000 characters), ``instance`` (the
request path), ``request_id`` and, for validation errors, ``errors``. A 401 always carries the
``WWW-Authenticate`` challenge the spec requires.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from connexion.exceptions import ProblemException  # type: ignore[import-untyped]
from connexion.lifecycle import ConnexionRequest, ConnexionResponse  # type: ignore[import-untyped]
from starlette.exceptions import HTTPException

from ecommerce.rest import constraints as api
from ecommerce.rest.operations import InvalidParameter
from gateway.adapters.request_context import current_request_id
from gateway.domain import AccountError, EmailAlreadyRegistered, InvalidCredentials, InvalidToken

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
CHALLENGE = 'Bearer realm="ecommerce"'
INVALID_TOKEN_CHALLENGE = 'Bearer realm="ecommerce", error="invalid_token"'
_ACCOUNT_STATUS: dict[type[AccountError], int] = {
    EmailAlreadyRegistered: 409,
    InvalidCredentials: 401,
    InvalidToken: 401,
}


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One invalid field of a request (``field`` is a dotted path such as ``items.0.quantity``)."""

    field: str
    message: str


@dataclass(eq=False)  # exceptions compare and hash by identity
class ApiProblem(Exception):
    """An error answer the gateway decided on: status, a detail for the client, extra headers."""

    status: int
    detail: str
    headers: Mapping[str, str] = field(default_factory=dict)
    errors: Sequence[FieldProblem] = ()

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def problem_body(
    status: int, detail: str, *, path: str, errors: Sequence[FieldProblem] = ()
) -> dict[str, Any]:
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": _truncate(detail or title, api.PROBLEM_DETAIL_MAX_LENGTH),
        "instance": quote(path[:600], safe="/"),
    }
    request_id = current_request_id()
    if request_id is not None:
        body["request_id"] = request_id
    if errors:
        body["errors"] = [
            {
                "field": _truncate(e.field, api.FIELD_ERROR_FIELD_MAX_LENGTH),
                "message": _truncate(e.message, api.FIELD_ERROR_MESSAGE_MAX_LENGTH),
            }
            for e in errors[: api.PROBLEM_ERRORS_MAX_ITEMS]
        ]
    return body


def problem_response(
    status: int,
    detail: str,
    *,
    path: str,
    headers: Mapping[str, str] | None = None,
    errors: Sequence[FieldProblem] = (),
) -> ConnexionResponse:
    all_headers = dict(headers or {})
    if status == 401:
        all_headers.setdefault("WWW-Authenticate", CHALLENGE)
    body = json.dumps(problem_body(status, detail, path=path, errors=errors)).encode()
    return ConnexionResponse(
        status_code=status, mimetype=PROBLEM_JSON, content_type=PROBLEM_JSON, body=body, headers=all_headers
    )


def as_problem(error: Exception) -> ApiProblem:
    """The problem that answers ``error``."""
    if isinstance(error, ApiProblem):
        return error
    if isinstance(error, AccountError):
        status = next(s for kind, s in _ACCOUNT_STATUS.items() if isinstance(error, kind))
        headers = {"WWW-Authenticate": INVALID_TOKEN_CHALLENGE} if isinstance(error, InvalidToken) else {}
        return ApiProblem(status, str(error), headers)
    if isinstance(error, InvalidParameter):
        return ApiProblem(
            400, f"{error.name}: {error.detail}", errors=[FieldProblem(error.name, error.detail)]
        )
    if isinstance(error, ProblemException):
        return ApiProblem(error.status, str(error.detail or error.title or ""), dict(error.headers or {}))
    if isinstance(error, HTTPException):
        return ApiProblem(error.status_code, str(error.detail), dict(error.headers or {}))
    return ApiProblem(500, "The gateway failed to handle this request; quote the request id to support.")


_EXPECTED = (ApiProblem, AccountError, InvalidParameter, ProblemException, HTTPException)


async def render_error(request: ConnexionRequest, error: Exception) -> ConnexionResponse:
    """connexion's error handler for every exception: the problem answer, logged once."""
    problem = as_problem(error)
    if not isinstance(error, _EXPECTED):
        log.error("unexpected error", exc_info=error)
    else:
        level = logging.WARNING if problem.status >= 500 else logging.INFO
        log.log(level, "answered %d: %s", problem.status, _truncate(problem.detail, 500))
    return problem_response(
        problem.status, problem.detail, path=request.url.path, headers=problem.headers, errors=problem.errors
    )

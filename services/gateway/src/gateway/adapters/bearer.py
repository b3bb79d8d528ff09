"""Bearer-token verification plugged into connexion through its documented ``security_map``.

connexion 3.3.0 builds one handler object per ``http``/``bearer`` security scheme of the spec by calling
the class registered for "bearer" with no arguments and asking ``get_fn(scheme, scopes)`` for the function
that checks a request. By default that function is looked up by name from ``x-bearerInfoFunc`` in the spec
(or the ``BEARERINFO_FUNC`` environment variable). The gateway does neither: the spec stays free of Python
import paths, and the check needs the gateway's own ``Accounts`` (its user store, its token codec). So
``bearer_handler`` makes a ``BearerSecurityHandler`` subclass whose ``get_fn`` returns the check bound to
them, built only from connexion's public pieces: ``get_auth_header_value`` (reads ``Authorization``),
``check_bearer_token`` (connexion's wrapper that awaits the check and rejects a ``None`` result) and
``NO_VALUE`` (no bearer credentials here: connexion answers 401 "No authorization token provided").

The check returns the token info connexion passes to secured operations: the verified ``Principal``
(``rest_operations.PRINCIPAL``) with ``sub`` and ``role``. A token that is not valid raises ``InvalidToken``,
answered 401 with ``WWW-Authenticate: Bearer ... error="invalid_token"`` (``problems``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from connexion.security import NO_VALUE, BearerSecurityHandler  # type: ignore[import-untyped]

from gateway.adapters.rest_operations import PRINCIPAL
from gateway.domain import Principal

Authenticate = Callable[[str], Awaitable[Principal]]


def bearer_handler(authenticate: Authenticate) -> type[Any]:
    """The security handler class for ``AsyncApp(security_map={"bearer": ...})``."""

    async def token_info(token: str) -> dict[str, Any]:
        principal = await authenticate(token)
        return {"sub": str(principal.user_id), "role": principal.role.value, PRINCIPAL: principal}

    class JwtBearerHandler(BearerSecurityHandler):  # type: ignore[misc]
        def get_fn(self, security_scheme: dict[str, Any], required_scopes: list[str]) -> Callable[..., Any]:
            check = self.check_bearer_token(token_info)

            def verify(request: Any) -> Any:
                auth_type, token = self.get_auth_header_value(request)
                if auth_type != "bearer":
                    return NO_VALUE
                return check(request, token)

            return verify

    return JwtBearerHandler

"""Access tokens: short-lived JWTs (PyJWT, HS256) with iss, aud, exp, iat, nbf, sub, role and jti.

Verification accepts HS256 only (so ``alg: none`` and every other algorithm are refused), requires every
claim this module issues, checks issuer, audience and the time window (with a small leeway for clock skew
between gateway replicas), and turns every failure into ``InvalidToken`` with a reason for the client.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import jwt

from ecommerce.rest.constraints import TOKEN_ACCESS_TOKEN_MAX_LENGTH
from gateway.domain import InvalidToken, IssuedToken, Role, User
from gateway.ports import TokenClaims

ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32
REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "nbf", "sub", "jti"]

_REASONS: list[tuple[type[jwt.PyJWTError], str]] = [
    (jwt.ExpiredSignatureError, "The token has expired."),
    (jwt.ImmatureSignatureError, "The token is not valid yet."),
    (jwt.InvalidAudienceError, "The token is not meant for this API (audience)."),
    (jwt.InvalidIssuerError, "The token was not issued by this API (issuer)."),
    (jwt.InvalidAlgorithmError, f"The token's algorithm is not accepted (only {ALGORITHM})."),
    (jwt.InvalidSignatureError, "The token's signature is not valid."),
    (jwt.MissingRequiredClaimError, "The token lacks a required claim."),
]


class JwtTokens:
    def __init__(
        self,
        secret: bytes,
        *,
        issuer: str,
        audience: str,
        ttl_seconds: int,
        leeway_seconds: int,
        clock: Callable[[], datetime],
    ) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the JWT secret must be at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl_seconds
        self._leeway = leeway_seconds
        self._clock = clock

    def issue(self, user: User) -> IssuedToken:
        now = int(self._clock().timestamp())
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user.id),
            "role": user.role.value,
            "iat": now,
            "nbf": now,
            "exp": now + self._ttl,
            "jti": uuid4().hex,
        }
        return IssuedToken(jwt.encode(claims, self._secret, algorithm=ALGORITHM), self._ttl)

    def verify(self, token: str) -> TokenClaims:
        if len(token) > TOKEN_ACCESS_TOKEN_MAX_LENGTH:
            raise InvalidToken(
                f"The token is too long (more than {TOKEN_ACCESS_TOKEN_MAX_LENGTH} characters)."
            )
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": REQUIRED_CLAIMS, "strict_aud": True},
            )
        except jwt.PyJWTError as error:
            reason = next((text for kind, text in _REASONS if isinstance(error, kind)), None)
            raise InvalidToken(reason or "The token is malformed.") from None
        try:
            return TokenClaims(
                user_id=UUID(str(claims["sub"])),
                role=Role(str(claims.get("role"))),
                token_id=str(claims["jti"]),
                expires_at=int(claims["exp"]),
            )
        except (ValueError, TypeError):
            raise InvalidToken("The token's subject or role is malformed.") from None

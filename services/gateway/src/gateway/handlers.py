"""Use cases of the gateway's accounts: register, log in, authenticate a bearer token, ensure the admin."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import uuid4

from gateway.domain import (
    EmailAlreadyRegistered,
    InvalidCredentials,
    InvalidToken,
    IssuedToken,
    Principal,
    Role,
    User,
    normalize_email,
)
from gateway.ports import PasswordHasher, TokenCodec, Users

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Accounts:
    """Wired by ``bootstrap`` to the user store, the password hasher and the token codec."""

    def __init__(
        self, users: Users, hasher: PasswordHasher, tokens: TokenCodec, clock: Clock = utc_now
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._tokens = tokens
        self._clock = clock

    async def register(self, email: str, password: str, role: Role = Role.CUSTOMER) -> User:
        """A new account; ``EmailAlreadyRegistered`` if the address is taken."""
        email = normalize_email(email)
        if await self._users.by_email(email) is not None:  # spares the hashing; the store still decides
            raise EmailAlreadyRegistered()
        user = User(uuid4(), email, role, await self._hasher.hash(password), self._clock())
        await self._users.add(user)
        log.info("user registered", extra={"user_id": str(user.id), "role": user.role.value})
        return user

    async def login(self, email: str, password: str) -> IssuedToken:
        """A token for the account; ``InvalidCredentials`` alike for an unknown email or a wrong password."""
        user = await self._users.by_email(normalize_email(email))
        if not await self._hasher.verify(user.password_hash if user else None, password) or user is None:
            raise InvalidCredentials()
        if self._hasher.needs_rehash(user.password_hash):
            await self._users.set_password_hash(user.id, await self._hasher.hash(password))
        return self._tokens.issue(user)

    async def authenticate(self, token: str) -> Principal:
        """The caller a bearer token stands for; ``InvalidToken`` when it is not valid or its user is gone."""
        claims = self._tokens.verify(token)
        user = await self._users.by_id(claims.user_id)
        if user is None:
            raise InvalidToken("The token's user does not exist.")
        # The account, not the token, is authoritative for the role: a demotion takes effect at once.
        return Principal(user.id, user.role, user.email)

    async def ensure_admin(self, email: str, password: str) -> None:
        """Creates the configured administrator, or makes the existing account with that email one."""
        user = await self._users.by_email(normalize_email(email))
        if user is None:
            try:
                await self.register(email, password, Role.ADMIN)
                return
            except EmailAlreadyRegistered:  # another replica created it meanwhile
                user = await self._users.by_email(normalize_email(email))
        if user is not None and user.role is not Role.ADMIN:
            await self._users.set_role(user.id, Role.ADMIN)
            log.warning("existing account promoted to admin", extra={"user_id": str(user.id)})

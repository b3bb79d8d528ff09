"""Use cases of the gateway's accounts: register, log in, authenticate a bearer token, ensure the admin."""

from __future__ import annotations

import logging
from uuid import UUID, uuid4

from ecommerce_runtime.clock import Clock, utc_now
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


class RecentAccounts:
    """The accounts that authenticated lately, so that a request with a valid token needs no database
    round trip: an entry is trusted for ``seconds``, after which the account is read again (a role change
    or a deleted account takes effect within that time). At most ``capacity`` entries, oldest out first."""

    def __init__(self, seconds: float, clock: Clock, capacity: int = 10_000) -> None:
        self._seconds = seconds
        self._clock = clock
        self._capacity = capacity
        self._entries: dict[UUID, tuple[Principal, float]] = {}

    def get(self, user_id: UUID) -> Principal | None:
        entry = self._entries.get(user_id)
        if entry is None:
            return None
        principal, until = entry
        if self._clock().timestamp() >= until:
            del self._entries[user_id]
            return None
        return principal

    def remember(self, principal: Principal) -> None:
        if self._seconds <= 0:
            return
        self._entries.pop(principal.user_id, None)
        if len(self._entries) >= self._capacity:
            del self._entries[next(iter(self._entries))]
        self._entries[principal.user_id] = (principal, self._clock().timestamp() + self._seconds)


class Accounts:
    """Wired by ``bootstrap`` to the user store, the password hasher and the token codec."""

    def __init__(
        self,
        users: Users,
        hasher: PasswordHasher,
        tokens: TokenCodec,
        clock: Clock = utc_now,
        *,
        account_cache_seconds: float = 0,
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._tokens = tokens
        self._clock = clock
        self._recent = RecentAccounts(account_cache_seconds, clock)

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
        """The caller a bearer token stands for; ``InvalidToken`` when it is not valid or its user is gone.

        The account, not the token, is authoritative for the role and existence, read at most every
        ``account_cache_seconds`` per user (``RecentAccounts``).
        """
        claims = self._tokens.verify(token)
        principal = self._recent.get(claims.user_id)
        if principal is not None:
            return principal
        user = await self._users.by_id(claims.user_id)
        if user is None:
            raise InvalidToken("The token's user does not exist.")
        principal = Principal(user.id, user.role, user.email)
        self._recent.remember(principal)
        return principal

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

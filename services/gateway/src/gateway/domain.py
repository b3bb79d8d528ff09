"""The gateway's own domain: user accounts, roles and the verified caller. Pure: no I/O, no generated types.

Everything else the gateway serves (orders, payments, notifications) belongs to the services behind it;
the gateway only authenticates the caller and passes who they are along.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


class Role(enum.StrEnum):
    """What a user may do: a customer reaches only their own resources, an admin every resource."""

    CUSTOMER = "customer"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class User:
    """An account. ``email`` is stored normalized (see ``normalize_email``); the password only as a hash."""

    id: UUID
    email: str
    role: Role
    password_hash: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a request, as established from a verified token and the account it names."""

    user_id: UUID
    role: Role
    email: str


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A signed access token and how many seconds it stays valid."""

    access_token: str
    expires_in: int


class AccountError(Exception):
    """A request about accounts that cannot be granted; the message is meant for the client."""


class EmailAlreadyRegistered(AccountError):
    def __init__(self) -> None:
        super().__init__("This email address is already registered.")


class InvalidCredentials(AccountError):
    """Wrong email or wrong password: deliberately not saying which."""

    def __init__(self) -> None:
        super().__init__("Invalid email or password.")


class InvalidToken(AccountError):
    """A bearer token that cannot be accepted; the message says why (expired, wrong audience...)."""


def normalize_email(email: str) -> str:
    """One spelling per address, so ``Ada@Example.com`` and ``ada@example.com`` are the same account."""
    return email.strip().lower()

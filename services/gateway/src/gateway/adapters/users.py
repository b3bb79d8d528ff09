"""The user store over SQLAlchemy Core: one short transaction per call (SQLite or PostgreSQL).

A database that cannot be reached (``database_unreachable``: refused, dropped, overloaded) is answered 503
with ``Retry-After``, logged as a warning: registering, logging in and every authenticated request need
the store, and its outage is a fault to wait out, not a bug (500).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ecommerce_runtime.db import database_unreachable
from gateway.adapters.problems import ApiProblem
from gateway.adapters.tables import users
from gateway.domain import EmailAlreadyRegistered, Role, User

log = logging.getLogger(__name__)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite drops the zone; we write UTC


def _user(row: RowMapping) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        role=Role(row["role"]),
        password_hash=row["password_hash"],
        created_at=_utc(row["created_at"]),
    )


class SqlUsers:
    def __init__(self, engine: AsyncEngine, *, retry_after_seconds: int) -> None:
        self._engine = engine
        self._retry_after = retry_after_seconds

    @contextlib.contextmanager
    def _reachable(self) -> Iterator[None]:
        """Turns an unreachable database into the 503 problem; other errors pass unchanged."""
        try:
            yield
        except Exception as error:
            if not database_unreachable(error):
                raise
            log.warning("user store unavailable: %r", error)
            raise ApiProblem(
                503,
                f"The gateway's user store is unavailable; retry in {self._retry_after} s.",
                {"Retry-After": str(self._retry_after)},
            ) from None

    async def add(self, user: User) -> None:
        values = {
            "id": user.id,
            "email": user.email,
            "role": user.role.value,
            "password_hash": user.password_hash,
            "created_at": user.created_at,
        }
        try:
            with self._reachable():
                async with self._engine.begin() as conn:
                    await conn.execute(insert(users).values(**values))
        except IntegrityError:
            raise EmailAlreadyRegistered() from None

    async def by_email(self, email: str) -> User | None:
        return await self._one(select(users).where(users.c.email == email))

    async def by_id(self, user_id: UUID) -> User | None:
        return await self._one(select(users).where(users.c.id == user_id))

    async def set_password_hash(self, user_id: UUID, password_hash: str) -> None:
        with self._reachable():
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(users).where(users.c.id == user_id).values(password_hash=password_hash)
                )

    async def set_role(self, user_id: UUID, role: Role) -> None:
        with self._reachable():
            async with self._engine.begin() as conn:
                await conn.execute(update(users).where(users.c.id == user_id).values(role=role.value))

    async def _one(self, query: object) -> User | None:
        with self._reachable():
            async with self._engine.connect() as conn:
                row = (await conn.execute(query)).mappings().first()  # type: ignore[call-overload]
        return _user(row) if row else None

"""The user store over SQLAlchemy Core: one short transaction per call (SQLite or PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.adapters.tables import users
from gateway.domain import EmailAlreadyRegistered, Role, User


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
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, user: User) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(users).values(
                        id=user.id,
                        email=user.email,
                        role=user.role.value,
                        password_hash=user.password_hash,
                        created_at=user.created_at,
                    )
                )
        except IntegrityError:
            raise EmailAlreadyRegistered() from None

    async def by_email(self, email: str) -> User | None:
        return await self._one(select(users).where(users.c.email == email))

    async def by_id(self, user_id: UUID) -> User | None:
        return await self._one(select(users).where(users.c.id == user_id))

    async def set_password_hash(self, user_id: UUID, password_hash: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))

    async def set_role(self, user_id: UUID, role: Role) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(update(users).where(users.c.id == user_id).values(role=role.value))

    async def _one(self, query: object) -> User | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()  # type: ignore[call-overload]
        return _user(row) if row else None

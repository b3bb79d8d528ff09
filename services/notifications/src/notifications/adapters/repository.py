"""The Notification Service's repository over SQLAlchemy Core, and its unit of work (the runtime's)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import RowMapping, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ecommerce_runtime import unit_of_work
from ecommerce_runtime.pagination import Cursor
from notifications.adapters import tables
from notifications.domain import Channel, DeliveryStatus, Notification, TemplateKind


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)  # SQLite drops the zone; we write UTC


def _notification(row: RowMapping) -> Notification:
    created_at = _utc(row["created_at"])
    assert created_at is not None  # NOT NULL
    return Notification(
        id=row["id"],
        event_id=row["event_id"],
        user_id=row["user_id"],
        order_id=row["order_id"],
        channel=Channel(row["channel"]),
        template=TemplateKind(row["template"]),
        recipient=row["recipient"],
        subject=row["subject"],
        body_text=row["body_text"],
        body_html=row["body_html"],
        created_at=created_at,
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
        sent_at=_utc(row["sent_at"]),
        next_attempt_at=_utc(row["next_attempt_at"]),
    )


def _delivery_state(notification: Notification) -> dict[str, object]:
    return {
        "status": notification.status.value,
        "attempts": notification.attempts,
        "last_error": notification.last_error,
        "sent_at": notification.sent_at,
        "next_attempt_at": notification.next_attempt_at,
    }


class SqlNotifications:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, notification: Notification) -> bool:
        insert = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        statement = (
            insert(tables.notifications)
            .values(
                id=notification.id,
                user_id=notification.user_id,
                order_id=notification.order_id,
                event_id=notification.event_id,
                channel=notification.channel.value,
                template=notification.template.value,
                recipient=notification.recipient,
                subject=notification.subject,
                body_text=notification.body_text,
                body_html=notification.body_html,
                created_at=notification.created_at,
                **_delivery_state(notification),
            )
            .on_conflict_do_nothing(index_elements=["event_id", "channel"])
        )
        result = await self._conn.execute(statement)
        return bool(result.rowcount == 1)

    async def due(self, now: datetime, limit: int) -> list[Notification]:
        n = tables.notifications
        query = (
            select(n)
            .where(n.c.status == DeliveryStatus.PENDING.value, n.c.next_attempt_at <= now)
            .order_by(n.c.next_attempt_at, n.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite holds its write lock instead
        )
        return [_notification(row) for row in (await self._conn.execute(query)).mappings()]

    async def save_claimed(self, notification: Notification, *, expected_attempts: int) -> bool:
        n = tables.notifications
        result = await self._conn.execute(
            update(n)
            .where(
                n.c.id == notification.id,
                n.c.status == DeliveryStatus.PENDING.value,
                n.c.attempts == expected_attempts,
            )
            .values(**_delivery_state(notification))
        )
        return bool(result.rowcount == 1)

    async def newest_first(
        self, *, user_id: UUID | None, order_id: UUID | None, after: Cursor | None, limit: int
    ) -> list[Notification]:
        n = tables.notifications
        query = select(n).order_by(n.c.created_at.desc(), n.c.id.desc()).limit(limit)
        if user_id is not None:
            query = query.where(n.c.user_id == user_id)
        if order_id is not None:
            query = query.where(n.c.order_id == order_id)
        if after is not None:
            query = query.where(
                or_(
                    n.c.created_at < after.created_at,
                    and_(n.c.created_at == after.created_at, n.c.id < after.id),
                )
            )
        return [_notification(row) for row in (await self._conn.execute(query)).mappings()]


class SqlUnitOfWork(unit_of_work.SqlUnitOfWork[None]):
    """``UnitOfWork`` of the Notification Service: the runtime's (inbox, no outbox) and its repository."""

    notifications: SqlNotifications

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine, inbox=tables.inbox)

    def open_repositories(self, conn: AsyncConnection) -> None:
        self.notifications = SqlNotifications(conn)

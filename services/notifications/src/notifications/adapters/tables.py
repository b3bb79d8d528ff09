"""The Notification Service's tables (its own database; no other service reads them)."""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)

from ecommerce_runtime.inbox import inbox_table

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, nullable=False),
    Column("order_id", Uuid, nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("template", String(32), nullable=False),
    Column("recipient", String(254), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    # One notification per event and channel, however often the event is delivered.
    UniqueConstraint("event_id", "channel"),
    CheckConstraint("status IN ('PENDING', 'SENT', 'FAILED')", name="status_known"),
    CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    Index("ix_notifications_user_newest", "user_id", "created_at", "id"),
    Index("ix_notifications_order_newest", "order_id", "created_at", "id"),
    Index("ix_notifications_newest", "created_at", "id"),
    # What the mailer polls: only PENDING rows are indexed, so the index stays as small as the backlog.
    Index(
        "ix_notifications_due",
        "next_attempt_at",
        postgresql_where=text("status = 'PENDING'"),
        sqlite_where=text("status = 'PENDING'"),
    ),
)

inbox = inbox_table(metadata)

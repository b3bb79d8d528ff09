"""The Payment Service's tables (its own database; no other service reads them)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    text,
)

from ecommerce_runtime.inbox import inbox_table
from ecommerce_runtime.outbox import outbox_table

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

payments = Table(
    "payments",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("order_id", Uuid, nullable=False, unique=True),  # one payment per order, ever
    Column("user_id", Uuid, nullable=False),
    Column("customer_email", String(254), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("payment_token", String(64), nullable=True),  # NULL for a tombstone (cancelled before created)
    Column("status", String(16), nullable=False),
    Column("provider_reference", String(128), nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("failure_reason", String(32), nullable=True),
    Column("refund_reference", String(128), nullable=True),
    Column("order_cancelled", Boolean, nullable=False),
    Column("charge_in_flight", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
    # The recovery loop looks for payments that still need the provider (PENDING, refund owed).
    Index("ix_payments_status_updated", "status", "updated_at"),
)

provider_ledger = Table(
    "provider_ledger",
    metadata,
    # The simulated provider's own books: every call it answered, one row each. A real provider keeps these
    # on its side; the simulator keeps them here so that tests and e2e runs can count real charges.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(128), nullable=False),
    Column("operation", String(16), nullable=False),  # charge | refund
    Column("outcome", String(16), nullable=False),  # succeeded | declined | unavailable
    Column("reference", String(128), nullable=True),  # of the charge or refund made
    Column("decline_reason", String(32), nullable=True),
    Column("charge_reference", String(128), nullable=True),  # what a refund gave back
    Column("token", String(64), nullable=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_provider_ledger_key", "idempotency_key"),
    # One final answer per key: the same key can never charge or refund twice, even across replicas.
    Index(
        "uq_provider_ledger_final_answer",
        "idempotency_key",
        unique=True,
        postgresql_where=text("outcome <> 'unavailable'"),
        sqlite_where=text("outcome <> 'unavailable'"),
    ),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)

"""The Payment Service's repository over SQLAlchemy Core, and its unit of work (the runtime's)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import RowMapping, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ecommerce_runtime import unit_of_work
from payments.adapters import tables
from payments.adapters.events import to_message
from payments.domain import FailureReason, Money, Payment, PaymentEvent, PaymentStatus
from payments.ports import DuplicatePayment


def utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite drops the zone; we write UTC


def _columns(payment: Payment) -> dict[str, Any]:
    return {
        "user_id": payment.user_id,
        "customer_email": payment.customer_email,
        "amount_minor": payment.amount.amount_minor,
        "currency": payment.amount.currency,
        "payment_token": payment.payment_token,
        "status": payment.status.value,
        "provider_reference": payment.provider_reference,
        "attempts": payment.attempts,
        "failure_reason": payment.failure_reason.value if payment.failure_reason else None,
        "refund_reference": payment.refund_reference,
        "order_cancelled": payment.order_cancelled,
        "charge_in_flight": payment.charge_in_flight,
        "updated_at": payment.updated_at,
    }


def _payment(row: RowMapping) -> Payment:
    return Payment(
        id=row["id"],
        order_id=row["order_id"],
        user_id=row["user_id"],
        customer_email=row["customer_email"],
        amount=Money(row["amount_minor"], row["currency"]),
        payment_token=row["payment_token"],
        status=PaymentStatus(row["status"]),
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
        attempts=row["attempts"],
        provider_reference=row["provider_reference"],
        failure_reason=FailureReason(row["failure_reason"]) if row["failure_reason"] else None,
        refund_reference=row["refund_reference"],
        order_cancelled=row["order_cancelled"],
        charge_in_flight=row["charge_in_flight"],
    )


class SqlPayments:
    def __init__(self, conn: AsyncConnection, track: Callable[[Payment], None]) -> None:
        self._conn = conn
        self._track = track

    async def add(self, payment: Payment) -> None:
        insert = tables.payments.insert().values(
            id=payment.id, order_id=payment.order_id, created_at=payment.created_at, **_columns(payment)
        )
        try:
            await self._conn.execute(insert)
        except IntegrityError as error:  # the order's payment, committed meanwhile by a concurrent handler
            raise DuplicatePayment(f"order {payment.order_id} has a payment already") from error
        self._track(payment)

    async def for_order(self, order_id: UUID, *, lock: bool = False) -> Payment | None:
        query = select(tables.payments).where(tables.payments.c.order_id == order_id)
        if lock:
            query = query.with_for_update()  # PostgreSQL; on SQLite BEGIN IMMEDIATE holds the write lock
        row = (await self._conn.execute(query)).mappings().first()
        return _payment(row) if row else None

    async def save(self, payment: Payment) -> None:
        p = tables.payments
        await self._conn.execute(update(p).where(p.c.id == payment.id).values(**_columns(payment)))
        self._track(payment)

    async def unsettled(self, *, untouched_since: datetime, limit: int) -> list[UUID]:
        p = tables.payments
        query = (
            select(p.c.order_id)
            .where(
                or_(
                    p.c.status == PaymentStatus.PENDING.value,
                    and_(p.c.status == PaymentStatus.SUCCEEDED.value, p.c.order_cancelled.is_(True)),
                ),
                p.c.updated_at < untouched_since,
            )
            .order_by(p.c.updated_at)
            .limit(limit)
        )
        return list((await self._conn.execute(query)).scalars())


class SqlUnitOfWork(unit_of_work.SqlUnitOfWork[PaymentEvent]):
    """``UnitOfWork`` of the Payment Service: the runtime's, with its repository."""

    payments: SqlPayments

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine, inbox=tables.inbox, outbox=unit_of_work.Outbox(tables.outbox, to_message))

    def open_repositories(self, conn: AsyncConnection) -> None:
        self.payments = SqlPayments(conn, self.track)

"""In-memory fakes of the Notification Service's ports, with real transaction semantics (a unit of work
sees a copy of the store and writes it back only on commit), a scriptable mail server and a clock."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, Self
from uuid import UUID, uuid4

from ecommerce.events import models
from ecommerce.events.channels import Event, channel_of
from ecommerce_runtime.inbox import EventRef
from ecommerce_runtime.messages import IncomingEvent
from ecommerce_runtime.pagination import Cursor
from notifications.domain import DeliveryStatus, Notification
from notifications.ports import DeliveryError, MailServerUnavailable

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


@dataclass
class FakeStore:
    notifications: dict[UUID, Notification] = field(default_factory=dict)
    inbox: set[UUID] = field(default_factory=set)
    commits: int = 0

    def only(self) -> Notification:
        (notification,) = self.notifications.values()
        return notification


class FakeNotifications:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def add(self, notification: Notification) -> bool:
        key = (notification.event_id, notification.channel)
        if any((n.event_id, n.channel) == key for n in self.store.notifications.values()):
            return False
        self.store.notifications[notification.id] = copy.deepcopy(notification)
        return True

    async def due(self, now: datetime, limit: int) -> list[Notification]:
        due = [n for n in self.store.notifications.values() if n.is_due(now)]
        due.sort(key=lambda n: (n.next_attempt_at or now, n.id))
        return [copy.deepcopy(n) for n in due[:limit]]

    async def save_claimed(self, notification: Notification, *, expected_attempts: int) -> bool:
        stored = self.store.notifications.get(notification.id)
        if (
            stored is None
            or stored.status is not DeliveryStatus.PENDING
            or stored.attempts != expected_attempts
        ):
            return False
        self.store.notifications[notification.id] = copy.deepcopy(notification)
        return True

    async def newest_first(
        self, *, user_id: UUID | None, order_id: UUID | None, after: Cursor | None, limit: int
    ) -> list[Notification]:
        found = sorted(self.store.notifications.values(), key=lambda n: (n.created_at, n.id), reverse=True)
        found = [n for n in found if user_id is None or n.user_id == user_id]
        found = [n for n in found if order_id is None or n.order_id == order_id]
        if after is not None:
            found = [n for n in found if (n.created_at, n.id) < (after.created_at, after.id)]
        return found[:limit]


class FakeUnitOfWork:
    def __init__(self, store: FakeStore) -> None:
        self._committed_store = store

    async def __aenter__(self) -> Self:
        self._working = copy.deepcopy(self._committed_store)
        self.notifications = FakeNotifications(self._working)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def commit(self) -> None:
        self._working.commits += 1
        vars(self._committed_store).update(vars(copy.deepcopy(self._working)))

    async def first_delivery(self, event: EventRef) -> bool:
        if event.event_id in self._working.inbox:
            return False
        self._working.inbox.add(event.event_id)
        return True


class FakeMailer:
    """A mail server that accepts everything unless told otherwise.

    ``down``: sessions cannot be opened. ``answers``: recipient -> error the server answers for them.
    ``drop_after``: the connection is lost after that many accepted messages. ``before_send``: awaited
    before each message (to pause a send, or to request a stop in the middle of a batch).
    """

    def __init__(self) -> None:
        self.down = False
        self.answers: dict[str, DeliveryError | Exception] = {}
        self.drop_after: int | None = None
        self.before_send: Callable[[Notification], object] | None = None
        self.accepted: list[Notification] = []
        self.sessions = 0

    @asynccontextmanager
    async def session(self) -> AsyncIterator[FakeMailer]:
        if self.down:
            raise MailServerUnavailable("connection refused")
        self.sessions += 1
        yield self

    async def send(self, notification: Notification) -> None:
        if self.before_send is not None:
            result = self.before_send(notification)
            if asyncio.iscoroutine(result):
                await result
        if self.drop_after is not None and len(self.accepted) >= self.drop_after:
            raise MailServerUnavailable("connection lost")
        error = self.answers.get(notification.recipient)
        if error is not None:
            raise error
        self.accepted.append(notification)

    def accepted_ids(self) -> list[UUID]:
        return [n.id for n in self.accepted]


class Clock:
    """A clock that only moves when told to (``advance``), so backoff deadlines are exact."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class TickingClock(Clock):
    """A clock that advances one millisecond per reading: records get distinct, ordered timestamps."""

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


def order_created(order_id: UUID, user_id: UUID, email: str = "ada@example.com") -> models.OrderCreated:
    return models.OrderCreated(
        order_id=order_id,
        user_id=user_id,
        customer_email=email,
        items=[
            models.OrderLine(
                sku="MUG-001",
                name="Enamel mug",
                quantity=2,
                unit_price=models.Money(amount_minor=1250, currency="EUR"),
                line_total=models.Money(amount_minor=2500, currency="EUR"),
            )
        ],
        total=models.Money(amount_minor=2500, currency="EUR"),
        payment_token="tok_success",
        created_at=NOW,
    )


def order_paid(order_id: UUID, user_id: UUID, email: str = "ada@example.com") -> models.OrderPaid:
    return models.OrderPaid(
        order_id=order_id,
        user_id=user_id,
        customer_email=email,
        payment_id=uuid4(),
        total=models.Money(amount_minor=2500, currency="EUR"),
        paid_at=NOW,
    )


def order_cancelled(
    order_id: UUID,
    user_id: UUID,
    email: str = "ada@example.com",
    *,
    reason: Literal["customer_request", "payment_declined"] = "customer_request",
    previous_status: Literal["PENDING", "PAID"] = "PENDING",
) -> models.OrderCancelled:
    return models.OrderCancelled(
        order_id=order_id,
        user_id=user_id,
        customer_email=email,
        reason=reason,
        previous_status=previous_status,
        total=models.Money(amount_minor=2500, currency="EUR"),
        cancelled_at=NOW,
    )


def payment_failed(order_id: UUID, user_id: UUID, email: str = "ada@example.com") -> models.PaymentFailed:
    return models.PaymentFailed(
        payment_id=uuid4(),
        order_id=order_id,
        user_id=user_id,
        customer_email=email,
        amount=models.Money(amount_minor=2500, currency="EUR"),
        reason="card_declined",
        message="Your card was declined by the bank.",
        attempts=1,
        failed_at=NOW,
    )


def payment_refunded(order_id: UUID, user_id: UUID, email: str = "ada@example.com") -> models.PaymentRefunded:
    return models.PaymentRefunded(
        payment_id=uuid4(),
        order_id=order_id,
        user_id=user_id,
        customer_email=email,
        amount=models.Money(amount_minor=2500, currency="EUR"),
        provider_reference="sim_re_1",
        refunded_at=NOW,
    )


def the_five_events(order_id: UUID, user_id: UUID, email: str = "ada@example.com") -> list[Event]:
    """One event of each type a customer hears about, for one order."""
    return [
        order_created(order_id, user_id, email),
        order_paid(order_id, user_id, email),
        order_cancelled(order_id, user_id, email, previous_status="PAID"),
        payment_failed(order_id, user_id, email),
        payment_refunded(order_id, user_id, email),
    ]


def incoming(payload: Event, event_id: UUID | None = None) -> IncomingEvent:
    """``payload`` as the consumer hands it to the handler."""
    channel = channel_of(payload)
    return IncomingEvent(
        event_id=event_id or uuid4(),
        event_type=channel.event_type,
        payload=payload,
        correlation_id=str(payload.order_id),
        occurred_at=NOW,
        producer=channel.producer,
        traceparent=TRACEPARENT,
        delivery_count=1,
    )

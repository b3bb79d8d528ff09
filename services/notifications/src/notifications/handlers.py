"""Use cases of the Notification Service.

Recording and sending are separate on purpose, so an SMTP outage never holds up the broker:

- ``record`` (called by the event consumer) renders the message and stores it PENDING, once per event and
  channel (the inbox and the table's unique rule), then the event is acked.
- ``send_due`` (called by the mailer loop) claims due notifications, sends them through one mail-server
  session and records each outcome; see ``notifications.mailer`` for the loop and the delivery guarantees.
- ``list_notifications`` answers the gRPC API: a customer sees only their own notifications.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID, uuid4

from ecommerce_runtime.callers import Caller
from ecommerce_runtime.clock import Clock, utc_now
from ecommerce_runtime.inbox import EventRef
from ecommerce_runtime.pagination import Cursor, Page, page_of, page_size
from notifications.domain import Notice, Notification, RetryPolicy
from notifications.ports import (
    DeliveryError,
    Mailer,
    MailServerUnavailable,
    MessageRejected,
    Renderer,
    UnitOfWorkFactory,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """How the mailer works through the queue of PENDING notifications."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    batch_size: int = 20
    lease: timedelta = timedelta(minutes=5)
    """How long a claimed batch is hidden from other mailers; must outlast sending the whole batch."""


class NotificationHandlers:
    """The use cases, wired to their ports and a clock by ``bootstrap``."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        renderer: Renderer,
        mailer: Mailer,
        clock: Clock = utc_now,
        delivery: DeliverySettings = DeliverySettings(),
    ) -> None:
        self._uow = uow
        self._renderer = renderer
        self._mailer = mailer
        self._clock = clock
        self._delivery = delivery
        self.on_commit: Callable[[], None] = lambda: None
        """Called after a new notification was committed (wakes the mailer)."""

    async def record(self, event: EventRef, notice: Notice) -> bool:
        """Stores the notification for ``event``; False if the event was recorded before."""
        message = self._renderer.render(notice)
        notification = Notification.compose(
            notification_id=uuid4(),
            event_id=event.event_id,
            notice=notice,
            message=message,
            now=self._clock(),
        )
        async with self._uow() as uow:
            if not await uow.first_delivery(event):
                return False
            # The inbox already deduplicates; the unique (event, channel) rule is the second line of defence
            # (an inbox row purged, or a replayed event), so a duplicate is quietly not stored again.
            added = await uow.notifications.add(notification)
            await uow.commit()
        if not added:
            log.info("notification for event %s exists already", event.event_id)
            return False
        self.on_commit()
        log.info(
            "notification recorded",
            extra={
                "notification_id": str(notification.id),
                "event_id": str(event.event_id),
                "template": notification.template.value,
            },
        )
        return True

    async def send_due(self, stopping: Callable[[], bool] = lambda: False) -> int:
        """Claims one batch of due notifications and sends it; returns how many were claimed.

        ``stopping`` is checked before each message: once it is true, the message in flight is finished
        and the rest of the batch is given back untried.
        """
        unsent = deque(await self._claim())
        claimed = len(unsent)
        if not unsent:
            return 0  # no connection to the mail server when there is nothing to send
        outcomes: list[Notification] = []
        try:
            async with self._mailer.session() as session:
                while unsent and not stopping():
                    # Off the list before sending: if this task dies mid-send, the message keeps its lease
                    # (the server may have it) and is retried only when the lease runs out.
                    notification = unsent.popleft()
                    outcomes.append(notification)
                    try:
                        await session.send(notification)
                    except MailServerUnavailable as error:
                        self._failed(notification, error, permanent=False)
                        raise
                    except Exception as error:  # a DeliveryError, or a message that cannot even be built
                        if not isinstance(error, DeliveryError):
                            log.exception("building or sending notification %s failed", notification.id)
                        self._failed(notification, error, permanent=isinstance(error, MessageRejected))
                    else:
                        self._delivered(notification)
        except MailServerUnavailable as error:
            while unsent:
                notification = unsent.popleft()
                outcomes.append(notification)
                self._failed(notification, error, permanent=False)
        finally:
            # One transaction for the batch: every outcome, and the untried rest given back.
            await self._record(outcomes, unsent)
        return claimed

    async def _claim(self) -> list[Notification]:
        now = self._clock()
        claimed = []
        async with self._uow() as uow:
            for notification in await uow.notifications.due(now, self._delivery.batch_size):
                notification.claim(now, self._delivery.lease)
                # The row lock (SKIP LOCKED) keeps other mailers off; the attempt check catches one anyway.
                expected = notification.attempts - 1
                if await uow.notifications.save_claimed(notification, expected_attempts=expected):
                    claimed.append(notification)
            await uow.commit()
        return claimed

    def _delivered(self, notification: Notification) -> None:
        notification.delivered(self._clock())
        log.info(
            "email sent",
            extra={
                "notification_id": str(notification.id),
                "template": notification.template.value,
                "attempts": notification.attempts,
            },
        )

    def _failed(self, notification: Notification, error: Exception, *, permanent: bool) -> None:
        notification.delivery_failed(
            f"{type(error).__name__}: {error}", self._clock(), self._delivery.retry, permanent=permanent
        )
        log.warning(
            "email not sent: %s",
            error,
            extra={
                "notification_id": str(notification.id),
                "attempts": notification.attempts,
                "status": notification.status.value,
                "next_attempt_at": notification.next_attempt_at,
            },
        )

    async def _record(self, outcomes: list[Notification], untried: Iterable[Notification]) -> None:
        """Writes the batch's outcomes (SENT, backed off, FAILED) and gives the untried rest back (their
        attempts restored), in one transaction. A claim another mailer took over meanwhile is not
        overwritten (the attempt count says so) and is reported."""
        now = self._clock()
        given_back = list(untried)
        for notification in given_back:
            notification.release(now)
        async with self._uow() as uow:
            lost = [
                n
                for n in outcomes
                if not await uow.notifications.save_claimed(n, expected_attempts=n.attempts)
            ]
            for notification in given_back:
                await uow.notifications.save_claimed(
                    notification, expected_attempts=notification.attempts + 1
                )
            await uow.commit()
        for notification in lost:
            log.error(
                "notification %s was claimed by another mailer while this one was sending it "
                "(the lease is too short for the batch); the customer may get it twice",
                notification.id,
            )

    async def list_notifications(
        self, caller: Caller, *, order_id: UUID | None, size: int, token: str
    ) -> Page[Notification]:
        """The caller's notifications (every customer's for an admin), newest first."""
        limit = page_size(size)
        scope = f"notifications:{caller.user_id}:{'admin' if caller.is_admin else ''}:{order_id or ''}"
        async with self._uow() as uow:
            found = await uow.notifications.newest_first(
                user_id=None if caller.is_admin else caller.user_id,
                order_id=order_id,
                after=Cursor.from_token(token, scope),
                limit=limit + 1,
            )
        return page_of(found, limit, scope, lambda n: Cursor(n.created_at, n.id).position())

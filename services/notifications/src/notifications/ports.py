"""The ports the use cases need: the notification store behind a unit of work, the templates and the mail
server. Adapters implement them with SQLAlchemy, ``string.Template`` files and aiosmtplib; unit tests with
in-memory fakes."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol
from uuid import UUID

from ecommerce_runtime import unit_of_work
from ecommerce_runtime.pagination import Cursor
from notifications.domain import Notice, Notification, RenderedMessage


class NotificationRepository(Protocol):
    async def add(self, notification: Notification) -> bool:
        """Stores a new notification; False (nothing stored) if its (event, channel) already has one."""
        ...

    async def due(self, now: datetime, limit: int) -> list[Notification]:
        """PENDING notifications due at ``now``, oldest due first, locked until the unit of work ends.

        Rows another unit of work holds are skipped, so concurrent mailers claim disjoint batches.
        """
        ...

    async def save_claimed(self, notification: Notification, *, expected_attempts: int) -> bool:
        """Writes the delivery state back if the row is still PENDING with ``expected_attempts``.

        False means another mailer claimed it meanwhile (this one's lease ran out); nothing is written.
        """
        ...

    async def newest_first(
        self, *, user_id: UUID | None, order_id: UUID | None, after: Cursor | None, limit: int
    ) -> list[Notification]:
        """Newest first; every user's when ``user_id`` is None; one order's when ``order_id`` is set."""
        ...


class UnitOfWork(unit_of_work.UnitOfWork, Protocol):
    """One transaction over the notifications (``unit_of_work.UnitOfWork``)."""

    @property
    def notifications(self) -> NotificationRepository: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


class Renderer(Protocol):
    def render(self, notice: Notice) -> RenderedMessage:
        """Subject, plain-text and HTML body of ``notice`` (values escaped in the HTML)."""
        ...


class DeliveryError(Exception):
    """A message did not reach the mail server. The subclass says whether trying again can help."""


class MailServerUnavailable(DeliveryError):
    """No usable connection (refused, timed out, dropped, TLS or login failed): nothing more can be sent
    through this session; every message waiting for it should be tried again later."""


class MessageDeferred(DeliveryError):
    """The server refused this message for now (a 4xx reply); the session is still usable."""


class MessageRejected(DeliveryError):
    """The server refused this message for good (a 5xx reply: unknown mailbox, policy); never retried."""


class MailSession(Protocol):
    async def send(self, notification: Notification) -> None:
        """Returns once the mail server accepted the message; raises a ``DeliveryError`` otherwise."""
        ...


class Mailer(Protocol):
    def session(self) -> AbstractAsyncContextManager[MailSession]:
        """A connection to the mail server for a batch; entering raises ``MailServerUnavailable``."""
        ...

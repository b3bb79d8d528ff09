"""The mailer loop: sends PENDING notifications as they fall due, independently of the event consumer.

Delivery guarantees (see also ``handlers.NotificationHandlers.send_due``):

- A notification is claimed before it is sent: in a short transaction its attempt is counted and its
  ``next_attempt_at`` pushed past a lease, so other mailers (replicas) skip it. On PostgreSQL the due rows
  are selected ``FOR UPDATE SKIP LOCKED``, so concurrent claims never overlap; on SQLite the write lock of
  ``BEGIN IMMEDIATE`` serializes them. No transaction is held open while talking to the mail server.
- The outcomes of a batch are written in one transaction as soon as the batch is through (a batch is at
  most ``NOTIFICATIONS_MAILER_BATCH_SIZE`` messages to one server): SENT, or backed off exponentially
  (``RetryPolicy``) while the server is unreachable or answers 4xx, or FAILED after a 5xx or the last
  allowed attempt. An SMTP outage therefore costs one connection attempt per due batch, not a busy loop.
- Never sent twice per (event, channel), with one unavoidable exception: a crash (or a lost database)
  between the server accepting a message and its batch's outcomes being committed. The claim's lease then runs
  out and the message goes again. Both copies carry the same ``Message-ID`` (derived from the notification
  id), so the duplicate is recognisable, and mail systems that deduplicate by Message-ID drop it.
- On stop, the message being sent is finished and its outcome recorded; the rest of the claimed batch is
  given back untried (its attempts restored), so a restart or another replica sends it at once.
"""

from __future__ import annotations

import asyncio
import logging

from ecommerce_runtime.backoff import Backoff
from ecommerce_runtime.lifecycle import Wakeup
from notifications.handlers import NotificationHandlers

log = logging.getLogger(__name__)
IDLE_SESSION_POLL_SECONDS = 30.0
"""How often a session other than the first looks for work unasked (a safety net: it is woken when due)."""


class MailerLoop:
    """Runs ``send_due`` in ``sessions`` concurrent mail-server sessions until stopped: at once while there
    is work, else every ``poll_interval``.

    A new notification wakes one session (in turn); a session that claimed a full batch wakes the next, so
    a backlog is shared out while a trickle costs one claim per notification. Only the first session polls
    every ``poll_interval`` (for rows other replicas' consumers recorded); the others wait to be woken, so
    an idle service costs one claim per interval.
    """

    def __init__(
        self,
        handlers: NotificationHandlers,
        *,
        sessions: int = 1,
        batch_size: int = 20,
        poll_interval: float = 1.0,
        max_backoff: float = 30.0,
    ) -> None:
        self._handlers = handlers
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._backoff = Backoff(first=poll_interval, cap=max(poll_interval, max_backoff))
        self._wakeups = [Wakeup() for _ in range(max(1, sessions))]
        self._turn = 0

    def notify(self) -> None:
        """Wakes one session now (a new notification was recorded)."""
        self._wakeups[self._turn].notify()
        self._turn = (self._turn + 1) % len(self._wakeups)

    async def run(self, stop: asyncio.Event) -> None:
        polls = [self._poll_interval, *[IDLE_SESSION_POLL_SECONDS] * (len(self._wakeups) - 1)]
        await asyncio.gather(
            *(self._session(stop, w, poll) for w, poll in zip(self._wakeups, polls, strict=True))
        )
        log.info("mailer stopped")

    async def _session(self, stop: asyncio.Event, wakeup: Wakeup, poll_interval: float) -> None:
        failures = 0
        while not stop.is_set():
            wakeup.arm()  # before looking for work, so a notify() during the pass is not lost
            try:
                claimed = await self._handlers.send_due(stopping=stop.is_set)
                failures = 0
            except Exception as error:  # the database is unreachable: back off, the rows wait
                failures += 1
                delay = self._backoff.delay(failures)
                log.warning(
                    "mailer: cannot reach the notification store (%r); retrying in %.1fs", error, delay
                )
                await wakeup.sleep(stop, delay)
                continue
            if claimed >= self._batch_size:
                self.notify()  # likely more: share it
            elif claimed == 0:
                await wakeup.sleep(stop, poll_interval)

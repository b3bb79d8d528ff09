"""Use cases with in-memory fakes: recording is idempotent per event; the mailer sends due notifications,
backs off while the mail server is down, gives up when it must, and never sends one twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from notifications_fakes import (
    Clock,
    FakeMailer,
    FakeStore,
    FakeUnitOfWork,
    TickingClock,
    incoming,
    order_created,
    order_paid,
    the_five_events,
)

from ecommerce_runtime.callers import Caller
from ecommerce_runtime.pagination import InvalidPageRequest
from notifications.adapters.email_templates import EmailTemplates
from notifications.adapters.messaging import notice_of
from notifications.domain import DeliveryStatus, Notification, RetryPolicy, TemplateKind
from notifications.handlers import DeliverySettings, NotificationHandlers
from notifications.ports import MessageDeferred, MessageRejected

TEMPLATES = EmailTemplates()
POLICY = RetryPolicy(max_attempts=4, first_delay=timedelta(seconds=5), max_delay=timedelta(seconds=30))
LEASE = timedelta(minutes=5)
ADA, BOB = Caller(uuid4()), Caller(uuid4())
ADMIN = Caller(uuid4(), is_admin=True)


def handlers_for(
    store: FakeStore, mailer: FakeMailer, clock: Clock | None = None, batch_size: int = 20
) -> NotificationHandlers:
    return NotificationHandlers(
        lambda: FakeUnitOfWork(store),
        TEMPLATES,
        mailer,
        clock or Clock(),
        DeliverySettings(retry=POLICY, batch_size=batch_size, lease=LEASE),
    )


async def record_orders(handlers: NotificationHandlers, *emails: str) -> None:
    """Records an order.created for each address."""
    for email in emails:
        event = incoming(order_created(uuid4(), ADA.user_id, email))
        notice = notice_of(event.payload)
        assert notice is not None
        assert await handlers.record(event, notice)


def by_recipient(store: FakeStore) -> dict[str, Notification]:
    return {n.recipient: n for n in store.notifications.values()}


async def test_recording_stores_one_rendered_pending_notification_and_wakes_the_mailer() -> None:
    store, woken = FakeStore(), []
    handlers = handlers_for(store, FakeMailer())
    handlers.on_commit = lambda: woken.append(True)
    order_id = uuid4()
    event = incoming(order_paid(order_id, ADA.user_id))
    notice = notice_of(event.payload)
    assert notice is not None

    assert await handlers.record(event, notice) is True

    stored = store.only()
    assert (stored.event_id, stored.order_id, stored.user_id) == (event.event_id, order_id, ADA.user_id)
    assert (stored.template, stored.recipient, stored.status) == (
        TemplateKind.ORDER_PAID,
        "ada@example.com",
        DeliveryStatus.PENDING,
    )
    assert stored.subject == f"Your order {order_id.hex[:8]} is confirmed — €25.00"
    assert "€25.00" in stored.body_text
    assert stored.body_html.startswith("<!DOCTYPE html>")
    assert stored.attempts == 0
    assert store.inbox == {event.event_id}
    assert woken == [True]


async def test_the_same_event_delivered_five_times_is_recorded_once() -> None:
    store, woken = FakeStore(), []
    handlers = handlers_for(store, FakeMailer())
    handlers.on_commit = lambda: woken.append(True)
    event = incoming(order_created(uuid4(), ADA.user_id))
    notice = notice_of(event.payload)
    assert notice is not None

    results = [await handlers.record(event, notice) for _ in range(5)]

    assert results == [True, False, False, False, False]
    assert len(store.notifications) == 1
    assert woken == [True]


async def test_the_unique_rule_holds_even_when_the_inbox_forgot_the_event() -> None:
    store = FakeStore()
    handlers = handlers_for(store, FakeMailer())
    event = incoming(order_created(uuid4(), ADA.user_id))
    notice = notice_of(event.payload)
    assert notice is not None
    await handlers.record(event, notice)
    store.inbox.clear()  # a purged inbox, or an event replayed from elsewhere

    assert await handlers.record(event, notice) is False
    assert len(store.notifications) == 1


async def test_each_event_of_an_order_gets_its_own_notification() -> None:
    store = FakeStore()
    handlers = handlers_for(store, FakeMailer())
    for payload in the_five_events(uuid4(), ADA.user_id):
        event = incoming(payload)
        notice = notice_of(event.payload)
        assert notice is not None
        await handlers.record(event, notice)
    assert sorted(n.template for n in store.notifications.values()) == sorted(TemplateKind)


async def test_due_notifications_are_sent_once_and_marked_sent() -> None:
    store, mailer, clock = FakeStore(), FakeMailer(), Clock()
    handlers = handlers_for(store, mailer, clock)
    await record_orders(handlers, "ada@example.com", "bob@example.com")

    assert await handlers.send_due() == 2
    assert await handlers.send_due() == 0

    assert sorted(n.recipient for n in mailer.accepted) == ["ada@example.com", "bob@example.com"]
    assert mailer.sessions == 1  # one SMTP session for the batch
    for notification in store.notifications.values():
        assert (notification.status, notification.attempts, notification.sent_at) == (
            DeliveryStatus.SENT,
            1,
            clock.now,
        )
        assert notification.next_attempt_at is None


async def test_while_the_mail_server_is_down_every_attempt_is_recorded_and_backed_off() -> None:
    store, mailer, clock = FakeStore(), FakeMailer(), Clock()
    handlers = handlers_for(store, mailer, clock)
    await record_orders(handlers, "ada@example.com", "bob@example.com")
    mailer.down = True

    assert await handlers.send_due() == 2
    for notification in store.notifications.values():
        assert (notification.status, notification.attempts) == (DeliveryStatus.PENDING, 1)
        assert notification.last_error == "MailServerUnavailable: connection refused"
        assert notification.next_attempt_at == clock.now + timedelta(seconds=5)

    assert await handlers.send_due() == 0  # not due again before the backoff ends
    clock.advance(timedelta(seconds=5))
    assert await handlers.send_due() == 2
    assert {n.next_attempt_at for n in store.notifications.values()} == {clock.now + timedelta(seconds=10)}

    mailer.down = False
    clock.advance(timedelta(seconds=10))
    assert await handlers.send_due() == 2
    assert {(n.status, n.attempts) for n in store.notifications.values()} == {(DeliveryStatus.SENT, 3)}
    assert len(mailer.accepted) == 2


async def test_after_the_last_allowed_attempt_the_notification_fails_for_good() -> None:
    store, mailer, clock = FakeStore(), FakeMailer(), Clock()
    handlers = handlers_for(store, mailer, clock)
    await record_orders(handlers, "ada@example.com")
    mailer.down = True

    for _ in range(POLICY.max_attempts):
        assert await handlers.send_due() == 1
        clock.advance(POLICY.max_delay)

    notification = store.only()
    assert (notification.status, notification.attempts, notification.next_attempt_at) == (
        DeliveryStatus.FAILED,
        POLICY.max_attempts,
        None,
    )
    mailer.down = False
    assert await handlers.send_due() == 0
    assert mailer.accepted == []


async def test_a_4xx_for_one_recipient_defers_it_while_the_others_go_out() -> None:
    store, mailer, clock = FakeStore(), FakeMailer(), Clock()
    handlers = handlers_for(store, mailer, clock)
    await record_orders(handlers, "ada@example.com", "full@example.com", "bob@example.com")
    mailer.answers["full@example.com"] = MessageDeferred("452 mailbox full")

    await handlers.send_due()

    stored = by_recipient(store)
    assert stored["ada@example.com"].status is DeliveryStatus.SENT
    assert stored["bob@example.com"].status is DeliveryStatus.SENT
    deferred = stored["full@example.com"]
    assert (deferred.status, deferred.attempts) == (DeliveryStatus.PENDING, 1)
    assert deferred.last_error == "MessageDeferred: 452 mailbox full"
    assert deferred.next_attempt_at == clock.now + timedelta(seconds=5)


async def test_a_5xx_fails_the_notification_at_once() -> None:
    store, mailer = FakeStore(), FakeMailer()
    handlers = handlers_for(store, mailer)
    await record_orders(handlers, "nobody@example.com")
    mailer.answers["nobody@example.com"] = MessageRejected("550 no such mailbox")

    await handlers.send_due()

    notification = store.only()
    assert (notification.status, notification.attempts) == (DeliveryStatus.FAILED, 1)
    assert notification.last_error == "MessageRejected: 550 no such mailbox"


async def test_a_message_that_cannot_be_built_counts_its_attempts_instead_of_looping() -> None:
    store, mailer, clock = FakeStore(), FakeMailer(), Clock()
    handlers = handlers_for(store, mailer, clock)
    await record_orders(handlers, "odd@example.com")
    mailer.answers["odd@example.com"] = ValueError("header cannot be encoded")

    for _ in range(POLICY.max_attempts):
        await handlers.send_due()
        clock.advance(POLICY.max_delay)

    assert store.only().status is DeliveryStatus.FAILED
    assert store.only().last_error == "ValueError: header cannot be encoded"


async def test_a_connection_lost_mid_batch_backs_off_the_rest_and_keeps_what_was_sent() -> None:
    store, mailer = FakeStore(), FakeMailer()
    handlers = handlers_for(store, mailer, TickingClock())
    await record_orders(handlers, "a@example.com", "b@example.com", "c@example.com")
    mailer.drop_after = 1

    await handlers.send_due()

    statuses = sorted((n.status.value, n.attempts) for n in store.notifications.values())
    assert statuses == [("PENDING", 1), ("PENDING", 1), ("SENT", 1)]
    assert len(mailer.accepted) == 1


async def test_stopping_finishes_the_message_in_flight_and_gives_the_rest_back() -> None:
    store, mailer, clock = FakeStore(), FakeMailer(), Clock()
    handlers = handlers_for(store, mailer, clock)
    await record_orders(handlers, "a@example.com", "b@example.com", "c@example.com")
    stop = asyncio.Event()
    mailer.before_send = lambda _: stop.set()  # the stop arrives while the first message is being sent

    assert await handlers.send_due(stopping=stop.is_set) == 3

    assert len(mailer.accepted) == 1
    sent = store.notifications[mailer.accepted[0].id]
    assert (sent.status, sent.attempts) == (DeliveryStatus.SENT, 1)
    rest = [n for n in store.notifications.values() if n.id != sent.id]
    assert [(n.status, n.attempts, n.next_attempt_at) for n in rest] == [
        (DeliveryStatus.PENDING, 0, clock.now)
    ] * 2  # untried, due at once for the next mailer


async def test_a_claimed_notification_is_invisible_to_another_mailer_until_its_lease_ends() -> None:
    store, clock = FakeStore(), Clock()
    slow, other = FakeMailer(), FakeMailer()
    first, second = handlers_for(store, slow, clock), handlers_for(store, other, clock)
    await record_orders(first, "ada@example.com")
    sending, release = asyncio.Event(), asyncio.Event()

    async def hold(_: Notification) -> None:
        sending.set()
        await release.wait()

    slow.before_send = hold
    in_flight = asyncio.create_task(first.send_due())
    await sending.wait()

    assert await second.send_due() == 0  # the replica skips the claimed row
    release.set()
    await in_flight
    clock.advance(LEASE * 2)
    assert await second.send_due() == 0  # and once SENT, it is never due again
    assert len(slow.accepted) == 1
    assert other.accepted == []


async def test_a_crash_after_the_claim_retries_after_the_lease_with_the_attempt_counted() -> None:
    store, mailer, clock = FakeStore(), FakeMailer(), Clock()
    handlers = handlers_for(store, mailer, clock)
    await record_orders(handlers, "ada@example.com")

    async def crash(_: Notification) -> None:
        raise asyncio.CancelledError  # the process dies while talking to the server

    mailer.before_send = crash
    with pytest.raises(asyncio.CancelledError):
        await handlers.send_due()
    assert (store.only().attempts, store.only().next_attempt_at) == (1, clock.now + LEASE)
    mailer.before_send = None

    assert await handlers.send_due() == 0  # still leased
    clock.advance(LEASE)
    assert await handlers.send_due() == 1
    assert (store.only().status, store.only().attempts) == (DeliveryStatus.SENT, 2)


async def test_a_batch_is_at_most_batch_size() -> None:
    store, mailer = FakeStore(), FakeMailer()
    handlers = handlers_for(store, mailer, TickingClock(), batch_size=2)
    await record_orders(handlers, *(f"user{i}@example.com" for i in range(5)))

    assert [await handlers.send_due() for _ in range(4)] == [2, 2, 1, 0]
    assert len(mailer.accepted) == 5


async def _record_for(
    handlers: NotificationHandlers, caller: Caller, count: int, order_id: UUID | None = None
) -> list[UUID]:
    ids = []
    for _ in range(count):
        event = incoming(order_created(order_id or uuid4(), caller.user_id))
        notice = notice_of(event.payload)
        assert notice is not None
        await handlers.record(event, notice)
        ids.append(event.event_id)
    return ids


async def test_customers_see_only_their_own_notifications_newest_first_and_admins_see_all() -> None:
    store = FakeStore()
    handlers = handlers_for(store, FakeMailer(), TickingClock())
    ada_events = await _record_for(handlers, ADA, 3)
    bob_events = await _record_for(handlers, BOB, 2)

    ada = await handlers.list_notifications(ADA, order_id=None, size=0, token="")
    assert [n.event_id for n in ada.items] == ada_events[::-1]
    bob = await handlers.list_notifications(BOB, order_id=None, size=0, token="")
    assert [n.event_id for n in bob.items] == bob_events[::-1]
    stranger = await handlers.list_notifications(Caller(uuid4()), order_id=None, size=0, token="")
    assert stranger.items == []
    admin = await handlers.list_notifications(ADMIN, order_id=None, size=0, token="")
    assert len(admin.items) == 5


async def test_notifications_are_paged_and_filtered_by_order() -> None:
    store = FakeStore()
    handlers = handlers_for(store, FakeMailer(), TickingClock())
    order_id = uuid4()
    mine = await _record_for(handlers, ADA, 3, order_id)
    await _record_for(handlers, ADA, 4)

    seen, token = [], ""
    while True:
        page = await handlers.list_notifications(ADA, order_id=None, size=2, token=token)
        seen += [n.id for n in page.items]
        if not (token := page.next_page_token):
            break
    assert len(seen) == len(set(seen)) == 7

    one_order = await handlers.list_notifications(ADA, order_id=order_id, size=10, token="")
    assert [n.event_id for n in one_order.items] == mine[::-1]
    assert one_order.next_page_token == ""


@pytest.mark.parametrize(
    ("size", "token", "message"),
    [
        (101, "", "page_size must be between 1 and 100"),
        (-1, "", "page_size must be between 1 and 100"),
        (0, "not-a-token!", "not a token this service issued"),
        (0, "e30", "not a token this service issued"),
    ],
)
async def test_bad_page_requests_are_refused(size: int, token: str, message: str) -> None:
    handlers = handlers_for(FakeStore(), FakeMailer())
    with pytest.raises(InvalidPageRequest, match=message):
        await handlers.list_notifications(ADA, order_id=None, size=size, token=token)


async def test_a_page_token_works_only_for_the_caller_and_filter_it_was_issued_for() -> None:
    store = FakeStore()
    handlers = handlers_for(store, FakeMailer(), TickingClock())
    await _record_for(handlers, ADA, 3)
    token = (await handlers.list_notifications(ADA, order_id=None, size=1, token="")).next_page_token
    for caller, order_id in ((BOB, None), (ADA, uuid4()), (Caller(ADA.user_id, is_admin=True), None)):
        with pytest.raises(InvalidPageRequest, match="different filter"):
            await handlers.list_notifications(caller, order_id=order_id, size=1, token=token)

"""The messaging adapter: each event a customer hears about becomes the right notice; anything else is
dead-lettered; a database outage is retried."""

from __future__ import annotations

from uuid import uuid4

import pytest
from notifications_fakes import (
    FakeMailer,
    FakeStore,
    incoming,
    order_cancelled,
    order_created,
    payment_failed,
    the_five_events,
)
from sqlalchemy.exc import OperationalError

from ecommerce.events import models
from ecommerce_runtime.bus import PermanentError
from notifications.adapters.email_templates import EmailTemplates
from notifications.adapters.messaging import customer_events, notice_of
from notifications.domain import Money, NoticeLine, TemplateKind
from notifications.handlers import NotificationHandlers

ORDER, USER = uuid4(), uuid4()


def test_each_event_maps_to_its_template_with_the_customer_and_the_order() -> None:
    kinds = []
    for payload in the_five_events(ORDER, USER, "grace@example.com"):
        notice = notice_of(payload)
        assert notice is not None
        assert (notice.order_id, notice.user_id, notice.recipient) == (ORDER, USER, "grace@example.com")
        kinds.append(notice.kind)
    assert kinds == list(TemplateKind)


def test_an_order_notice_lists_the_lines_and_the_total() -> None:
    notice = notice_of(order_created(ORDER, USER))
    assert notice is not None
    assert notice.lines == (NoticeLine("Enamel mug", 2, Money(2500, "EUR")),)
    assert notice.values["total"] == "€25.00"


@pytest.mark.parametrize(
    ("reason", "previous", "says"),
    [
        ("customer_request", "PENDING", "as you asked"),
        ("payment_declined", "PENDING", "payment was declined"),
    ],
)
def test_a_cancellation_carries_its_reason(reason: str, previous: str, says: str) -> None:
    notice = notice_of(order_cancelled(ORDER, USER, reason=reason, previous_status=previous))  # type: ignore[arg-type]
    assert notice is not None
    assert says in notice.values["reason"]


def test_a_cancellation_after_payment_promises_the_refund() -> None:
    notice = notice_of(order_cancelled(ORDER, USER, previous_status="PAID"))
    assert notice is not None
    assert "will be refunded" in notice.values["refund"]


def test_a_payment_failure_carries_the_customer_readable_message() -> None:
    notice = notice_of(payment_failed(ORDER, USER))
    assert notice is not None
    assert notice.values["message"] == "Your card was declined by the bank."


def _handlers(uow_factory: object) -> NotificationHandlers:
    return NotificationHandlers(uow_factory, EmailTemplates(), FakeMailer())  # type: ignore[arg-type]


async def test_an_event_customers_do_not_hear_about_is_dead_lettered() -> None:
    succeeded = models.PaymentSucceeded(
        payment_id=uuid4(),
        order_id=ORDER,
        user_id=USER,
        customer_email="ada@example.com",
        amount=models.Money(amount_minor=1, currency="EUR"),
        provider_reference="x",
        attempts=1,
        succeeded_at=order_created(ORDER, USER).created_at,
    )
    store = FakeStore()
    handle = customer_events(_handlers(lambda: None))
    with pytest.raises(PermanentError, match=r"does not handle payment\.succeeded"):
        await handle(incoming(succeeded))
    assert store.notifications == {}


async def test_a_database_outage_is_left_to_the_consumer_to_retry() -> None:
    class Unreachable:
        async def __aenter__(self) -> None:
            raise OperationalError("connect", {}, ConnectionRefusedError("refused"))

        async def __aexit__(self, *exc_info: object) -> None:
            return None

    handle = customer_events(_handlers(Unreachable))
    with pytest.raises(OperationalError):  # the consumer retries it (``db.UNREACHABLE``), not a dead letter
        await handle(incoming(order_created(ORDER, USER)))

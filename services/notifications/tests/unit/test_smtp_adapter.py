"""The SMTP adapter without a network: the message it builds, the client options per TLS mode, and how
each kind of server answer is sorted into retry-later, give-up or server-unavailable."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from typing import cast
from uuid import uuid4

import aiosmtplib
import pytest

from notifications.adapters.smtp import SmtpConfig, SmtpSession, build_message, client_options, parse_sender
from notifications.domain import Notice, Notification, RenderedMessage, TemplateKind
from notifications.ports import DeliveryError, MailServerUnavailable, MessageDeferred, MessageRejected

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
SENDER = "E-commerce <no-reply@shop.example>"


def notification(recipient: str = "ada@example.com") -> Notification:
    notice = Notice(TemplateKind.ORDER_PAID, uuid4(), uuid4(), recipient, {})
    message = RenderedMessage(
        "Your order 0b4f3c1e is confirmed — €25.00", "Paid: €25.00\n", "<p>Paid: <b>€25.00</b></p>\n"
    )
    return Notification.compose(
        notification_id=uuid4(), event_id=uuid4(), notice=notice, message=message, now=NOW
    )


def test_the_email_has_a_text_and_an_html_alternative_and_a_message_id_from_the_notification() -> None:
    n = notification()
    message = build_message(n, SENDER, NOW)

    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)  # as the server receives it
    assert parsed.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in parsed.iter_parts()]
    assert parts == ["text/plain", "text/html"]  # the last one is the preferred one
    assert parsed["Subject"] == "Your order 0b4f3c1e is confirmed — €25.00"
    assert parsed["To"] == "ada@example.com"
    assert parsed["From"] == SENDER
    assert parsed["Message-ID"] == f"<{n.id}@shop.example>"
    assert parsed["X-Notification-Id"] == str(n.id)
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Date"] is not None
    text = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert text.get_content() == "Paid: €25.00\n"
    assert html.get_content() == "<p>Paid: <b>€25.00</b></p>\n"


def test_a_resend_has_the_same_message_id() -> None:
    n = notification()
    first, again = build_message(n, SENDER, NOW), build_message(n, SENDER, datetime.now(UTC))
    assert first["Message-ID"] == again["Message-ID"]
    assert build_message(notification(), SENDER, NOW)["Message-ID"] != first["Message-ID"]


@pytest.mark.parametrize(
    ("tls", "use_tls", "start_tls"),
    [("none", False, False), ("starttls", False, True), ("tls", True, False)],
)
def test_tls_modes_map_to_the_client_options(tls: str, use_tls: bool, start_tls: bool) -> None:
    config = SmtpConfig(host="mail.example", port=587, username="u", password="p", tls=tls)  # type: ignore[arg-type]
    options = client_options(config)
    assert (options["use_tls"], options["start_tls"]) == (use_tls, start_tls)
    assert (options["hostname"], options["port"], options["username"], options["password"]) == (
        "mail.example",
        587,
        "u",
        "p",
    )


def test_the_envelope_sender_is_the_address_of_the_from_header() -> None:
    assert SmtpConfig(sender=SENDER).sender_address == "no-reply@shop.example"
    with pytest.raises(ValueError, match="is not one email address"):
        parse_sender("a@example.com, b@example.com")


class RefusingClient:
    """Stands in for ``aiosmtplib.SMTP`` and answers ``send_message`` with ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def send_message(self, *args: object, **kwargs: object) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "expected", "message"),
    [
        (
            aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(550, "5.1.1 no such user", "ada@example.com")]
            ),
            MessageRejected,
            "recipient refused: 550 5.1.1 no such user",
        ),
        (
            aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(452, "4.2.2 mailbox full", "ada@example.com")]
            ),
            MessageDeferred,
            "recipient deferred: 452 4.2.2 mailbox full",
        ),
        (aiosmtplib.SMTPDataError(554, "5.7.1 spam"), MessageRejected, "answered 554 5.7.1 spam"),
        (aiosmtplib.SMTPDataError(451, "4.3.0 try later"), MessageDeferred, "answered 451"),
        (aiosmtplib.SMTPResponseException(421, "closing"), MessageDeferred, "answered 421"),
        (aiosmtplib.SMTPSenderRefused(553, "bad sender", "x"), MailServerUnavailable, "refused the sender"),
        (aiosmtplib.SMTPNotSupported("SMTPUTF8 needed"), MessageRejected, "cannot take this message"),
        (aiosmtplib.SMTPServerDisconnected("gone"), MailServerUnavailable, "lost the mail server"),
        (aiosmtplib.SMTPReadTimeoutError("slow"), MailServerUnavailable, "lost the mail server"),
        (ConnectionResetError("reset"), MailServerUnavailable, "lost the mail server"),
    ],
)
async def test_server_answers_are_sorted_by_what_a_retry_can_do(
    error: Exception, expected: type[DeliveryError], message: str
) -> None:
    session = SmtpSession(cast(aiosmtplib.SMTP, RefusingClient(error)), SmtpConfig(sender=SENDER))
    with pytest.raises(expected, match=message) as raised:
        await session.send(notification())
    assert type(raised.value) is expected

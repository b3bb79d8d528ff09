"""Sending notifications by email with aiosmtplib: one SMTP session per batch, errors sorted by what a
retry can do.

Each notification becomes a ``multipart/alternative`` message (plain text, then HTML) whose ``Message-ID``
is derived from the notification id, so a copy sent again after a crash is recognisable as the same message.

How the server's answers are sorted (``ports``):

- no connection, a dropped one, a timeout, a refused login or STARTTLS, a refused sender: the session is
  unusable and the problem is not the message's -> ``MailServerUnavailable`` (retried with backoff);
- a 4xx reply to the message or its recipient -> ``MessageDeferred`` (retried with backoff);
- a 5xx reply to the message or its recipient, or an extension the message needs but the server lacks
  -> ``MessageRejected`` (FAILED at once).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from typing import Literal, TypedDict

import aiosmtplib

from notifications.domain import Notification
from notifications.ports import MailServerUnavailable, MessageDeferred, MessageRejected

TlsMode = Literal["none", "starttls", "tls"]


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str = "127.0.0.1"
    port: int = 1025
    username: str | None = None
    password: str | None = None
    tls: TlsMode = "none"
    sender: str = "E-commerce <no-reply@ecommerce.localhost>"
    """The From header; its address is also the envelope sender and names the Message-ID's domain."""
    timeout: float = 15.0

    @property
    def sender_address(self) -> str:
        return parse_sender(self.sender).addr_spec


def parse_sender(value: str) -> Address:
    """The one address in a From value such as ``Shop <shop@example.com>``; ``ValueError`` otherwise."""
    found = getaddresses([value])
    local, _, domain = found[0][1].rpartition("@") if len(found) == 1 else ("", "", "")
    if not local or not domain or any(c.isspace() or c in "<>,;" for c in local + domain):
        raise ValueError(f"{value!r} is not one email address (for example 'Shop <shop@example.com>')")
    return Address(display_name=found[0][0], username=local, domain=domain)


class ClientOptions(TypedDict):
    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool
    timeout: float


def client_options(config: SmtpConfig) -> ClientOptions:
    """aiosmtplib's arguments for ``config``. ``none`` also turns off opportunistic STARTTLS, so that
    "none" means plain SMTP whatever the server offers."""
    return ClientOptions(
        hostname=config.host,
        port=config.port,
        username=config.username,
        password=config.password,
        use_tls=config.tls == "tls",
        start_tls=config.tls == "starttls",
        timeout=config.timeout,
    )


def message_id(notification: Notification, sender: Address) -> str:
    """The same for every attempt at one notification, so a duplicate is recognisable. Kept short (the
    bare id): a header longer than 78 characters gets folded on the wire."""
    return f"<{notification.id}@{sender.domain}>"


def build_message(notification: Notification, sender: str, now: datetime) -> EmailMessage:
    """The email of ``notification``: plain text and HTML alternatives, From ``sender``."""
    from_address = parse_sender(sender)
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = notification.recipient
    message["Subject"] = notification.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(notification, from_address)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: autoresponders must not answer it
    message["X-Notification-Id"] = str(notification.id)
    message.set_content(notification.body_text)
    message.add_alternative(notification.body_html, subtype="html")
    return message


class SmtpSession:
    """One connected client; ``send`` sorts failures into the ports' delivery errors."""

    def __init__(self, client: aiosmtplib.SMTP, config: SmtpConfig) -> None:
        self._client = client
        self._config = config

    async def send(self, notification: Notification) -> None:
        message = build_message(notification, self._config.sender, datetime.now().astimezone())
        try:
            await self._client.send_message(
                message, sender=self._config.sender_address, recipients=[notification.recipient]
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [refused.code for refused in error.recipients]
            reply = "; ".join(f"{r.code} {r.message}" for r in error.recipients)
            if codes and all(code >= 500 for code in codes):
                raise MessageRejected(f"recipient refused: {reply}") from error
            raise MessageDeferred(f"recipient deferred: {reply}") from error
        except (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPAuthenticationError) as error:
            raise MailServerUnavailable(
                f"the server refused the sender: {error.code} {error.message}"
            ) from error
        except aiosmtplib.SMTPResponseException as error:
            kind = MessageRejected if error.code >= 500 else MessageDeferred
            raise kind(f"the server answered {error.code} {error.message}") from error
        except aiosmtplib.SMTPNotSupported as error:
            raise MessageRejected(f"the server cannot take this message: {error}") from error
        except (aiosmtplib.SMTPException, OSError) as error:
            raise MailServerUnavailable(f"lost the mail server: {error!r}") from error


class SmtpMailer:
    """The ``Mailer`` port over aiosmtplib."""

    def __init__(self, config: SmtpConfig) -> None:
        self._config = config

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[SmtpSession]:
        config = self._config
        client = aiosmtplib.SMTP(**client_options(config))
        try:
            await client.connect()  # EHLO, STARTTLS and login as configured
        except aiosmtplib.SMTPAuthenticationError as error:
            raise MailServerUnavailable(
                f"the mail server at {config.host}:{config.port} refused the login "
                f"({error.code} {error.message}); check NOTIFICATIONS_SMTP_USERNAME/PASSWORD"
            ) from error
        except (aiosmtplib.SMTPException, OSError) as error:
            raise MailServerUnavailable(
                f"cannot reach the mail server at {config.host}:{config.port} ({config.tls}): {error!r}"
            ) from error
        try:
            yield SmtpSession(client, config)
        finally:
            if client.is_connected:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await client.quit()
            client.close()

"""``python -m devstack.mailsink``: a local SMTP server that keeps every message, so the stack runs without
a real mail server.

    python -m devstack.mailsink [--host 127.0.0.1] [--port 1025] [--maildir var/mail]

It accepts every message (no TLS, no login) and stores each as a ``.eml`` file in the maildir. The
notification service's tests use ``MailSink`` as their SMTP server.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Self, cast

from aiosmtpd.smtp import SMTP, Envelope, Session

from ecommerce_runtime.lifecycle import stop_on_signals
from ecommerce_runtime.logs import configure_logging

log = logging.getLogger("devstack.mailsink")


@dataclass(frozen=True, slots=True)
class ReceivedEmail:
    """One message as the sink received it: the SMTP envelope and the parsed message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    path: Path | None

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"] or "").strip()  # a long one arrives folded

    def body(self, subtype: str) -> str:
        """The ``text/<subtype>`` part's content with ``\\n`` line ends ('' if the message has none)."""
        part = self.message.get_body(preferencelist=(subtype,))
        content = cast(EmailMessage, part).get_content() if part is not None else ""
        return str(content).replace("\r\n", "\n")  # SMTP carries CRLF


class _Handler:
    """aiosmtpd's handler interface: ``handle_RCPT`` per recipient, ``handle_DATA`` once per message."""

    def __init__(self, sink: MailSink) -> None:
        self._sink = sink

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        refusal = self._sink.refusals.get(address)
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        raw = content.encode() if isinstance(content, str) else content or b""
        await self._sink.store(envelope.mail_from or "", tuple(envelope.rcpt_tos), raw)
        return "250 Message accepted for delivery"


class MailSink:
    """An SMTP server on ``host:port`` (0 picks a free port) in the running event loop.

    ``refusals`` maps a recipient address to the reply that refuses it (``"550 5.1.1 no such user"``), so
    tests can see what a real server's refusal does.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1025,
        maildir: Path | None = None,
        refusals: dict[str, str] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.maildir = maildir
        self.refusals = dict(refusals or {})
        self.received: list[ReceivedEmail] = []
        self._server: asyncio.Server | None = None
        self._connections: set[SMTP] = set()
        self._sequence = itertools.count(1)

    async def start(self) -> None:
        """Starts listening; raises ``OSError`` when the port is taken."""
        if self.maildir is not None:
            self.maildir.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._connect, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("dev SMTP sink listening on %s:%d, storing to %s", self.host, self.port, self.maildir)

    def _connect(self) -> SMTP:
        connection = SMTP(_Handler(self), hostname="dev-smtp.localhost", loop=asyncio.get_running_loop())
        self._connections.add(connection)
        return connection

    async def stop(self) -> None:
        """Stops listening and drops the connections still open."""
        if self._server is None:
            return
        self._server.close()
        for connection in self._connections:
            if connection.transport is not None:
                connection.transport.close()
        self._connections.clear()
        await self._server.wait_closed()
        self._server = None
        await asyncio.sleep(0)  # let the dropped sessions' tasks see their cancellation

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def store(self, mail_from: str, rcpt_tos: tuple[str, ...], raw: bytes) -> ReceivedEmail:
        message = message_from_bytes(raw, policy=policy.default)
        path = None
        if self.maildir is not None:
            path = self.maildir / f"{time.time_ns()}-{next(self._sequence):06d}.eml"
            await asyncio.to_thread(_write_atomically, path, raw)
        received = ReceivedEmail(mail_from, rcpt_tos, message, path)
        self.received.append(received)
        log.info(
            "received %s from %s to %s: %s",
            received.message_id or "<no Message-ID>",
            mail_from,
            ", ".join(rcpt_tos),
            message["Subject"],
            extra={"file": str(path) if path else None},
        )
        return received


def _write_atomically(path: Path, raw: bytes) -> None:
    partial = path.with_suffix(".part")  # a mail client watching the folder never sees half a message
    partial.write_bytes(raw)
    partial.replace(path)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.mailsink",
        description="A local SMTP sink for development: accepts every message and stores it as an .eml file.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=1025, help="port to listen on (default %(default)s)")
    parser.add_argument(
        "--maildir",
        type=Path,
        default=Path("var/mail"),
        help="where to store .eml files (default %(default)s)",
    )
    return parser.parse_args(argv)


async def _serve(sink: MailSink) -> None:
    stop = stop_on_signals()
    await sink.start()
    try:
        await stop.wait()
    finally:
        await sink.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    configure_logging("mailsink", "INFO")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every connection at INFO
    try:
        asyncio.run(_serve(MailSink(args.host, args.port, args.maildir)))
    except OSError as error:
        print(f"mailsink: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A minimal AMQP 0-9-1 client on a raw socket, for what a normal client cannot do: send a message whose
properties no client can decode, and read queues that hold one.

aiormq (under aio-pika) decodes every content header it receives and drops the whole connection when one
does not decode, so neither the fault that sends an undecodable message nor the audit that reads the
dead-letter queues afterwards may use it. Here frames are split by their length prefix; method frames are
decoded with pamqp, and a content header pamqp cannot decode is kept as raw bytes instead of ending the
connection. No heartbeats (the connections live for seconds), one channel, publisher confirms.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Final, Self, TypeVar
from urllib.parse import unquote, urlsplit

from pamqp import base, commands, constants, frame, header
from pamqp.body import ContentBody
from pamqp.exceptions import UnmarshalingException

PLACEHOLDER_TIMESTAMP: Final = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
UNDECODABLE_TIMESTAMP: Final = 0xFFFF_FFFF_FFFF_FFFF
"""A ``timestamp`` property past any date: pamqp reads it as milliseconds, still years beyond 9999."""

NOT_FOUND: Final = 404
FrameT = TypeVar("FrameT", bound=base.Frame)


class ChannelClosedError(ConnectionError):
    """The broker closed the channel (the connection is still open)."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"the broker closed the channel: {code} {text}")
        self.code = code


@dataclass(frozen=True, slots=True)
class RawMessage:
    """A message taken from a queue: its properties, or ``None`` when they do not decode."""

    properties: commands.Basic.Properties | None
    body: bytes
    routing_key: str

    def header(self, name: str) -> str | None:
        value = (self.properties.headers or {}).get(name) if self.properties is not None else None
        if isinstance(value, bytes):
            value = value.decode(errors="replace")
        return value if isinstance(value, str) else None


class AmqpWire:
    """One connection and one channel to the vhost of an ``amqp://`` URL."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def connect(cls, amqp_url: str) -> AmqpWire:
        parts = urlsplit(amqp_url)
        reader, writer = await asyncio.open_connection(parts.hostname or "127.0.0.1", parts.port or 5672)
        wire = cls(reader, writer)
        try:
            await wire._handshake(
                unquote(parts.username or "guest"),
                unquote(parts.password or "guest"),
                unquote(parts.path[1:]) or "/",
            )
        except BaseException:
            writer.close()
            raise
        return wire

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _handshake(self, user: str, password: str, vhost: str) -> None:
        self._writer.write(frame.marshal(header.ProtocolHeader(), 0))
        await self._expect(commands.Connection.Start)
        self._send(commands.Connection.StartOk(response=f"\0{user}\0{password}"))
        tune = await self._expect(commands.Connection.Tune)
        self._send(commands.Connection.TuneOk(tune.channel_max, tune.frame_max, 0))
        self._send(commands.Connection.Open(virtual_host=vhost))
        await self._expect(commands.Connection.OpenOk)
        await self._open_channel()

    async def _open_channel(self) -> None:
        self._send(commands.Channel.Open())
        await self._expect(commands.Channel.OpenOk)
        self._send(commands.Confirm.Select())
        await self._expect(commands.Confirm.SelectOk)

    def _send(self, method: base.Frame, channel: int = 1) -> None:
        self._writer.write(frame.marshal(method, channel if method.name.split(".")[0] != "Connection" else 0))

    async def _read_frame(self) -> tuple[int, bytes]:
        """(frame type, payload) of the next frame that is not a heartbeat."""
        while True:
            kind, _, size = struct.unpack(">BHI", await self._reader.readexactly(7))
            payload = await self._reader.readexactly(size + 1)
            if payload[-1] != constants.FRAME_END:
                raise ConnectionError("AMQP frame without its end marker")
            if kind != constants.FRAME_HEARTBEAT:
                return kind, payload[:-1]

    async def _read_method(self) -> base.Frame:
        kind, payload = await self._read_frame()
        if kind != constants.FRAME_METHOD:
            raise ConnectionError(f"expected a method frame, got frame type {kind}")
        _, _, method = frame.unmarshal(struct.pack(">BHI", kind, 0, len(payload)) + payload + b"\xce")
        assert isinstance(method, base.Frame)
        if isinstance(method, commands.Channel.Close):
            self._send(commands.Channel.CloseOk())
            raise ChannelClosedError(method.reply_code or 0, method.reply_text)
        if isinstance(method, commands.Connection.Close):
            raise ConnectionError(
                f"the broker closed the connection: {method.reply_code} {method.reply_text}"
            )
        return method

    async def _expect(self, kind: type[FrameT]) -> FrameT:
        method = await self._read_method()
        if not isinstance(method, kind):
            raise ConnectionError(f"expected {kind.name}, got {method.name}")
        return method

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: commands.Basic.Properties,
        *,
        undecodable_timestamp: bool = False,
    ) -> None:
        """Publish and wait for the broker's confirm. ``undecodable_timestamp`` replaces the ``timestamp``
        property on the wire by ``UNDECODABLE_TIMESTAMP``, which the broker stores as it is."""
        if undecodable_timestamp:
            properties.timestamp = PLACEHOLDER_TIMESTAMP
        content = frame.marshal(header.ContentHeader(0, len(body), properties), 1)
        if undecodable_timestamp:
            placeholder = struct.pack(">Q", int(PLACEHOLDER_TIMESTAMP.timestamp()))
            if content.count(placeholder) != 1:
                raise ValueError("cannot locate the timestamp in the encoded properties")
            content = content.replace(placeholder, struct.pack(">Q", UNDECODABLE_TIMESTAMP))
        self._send(commands.Basic.Publish(exchange=exchange, routing_key=routing_key))
        self._writer.write(content + frame.marshal(ContentBody(body), 1))
        answer = await self._read_method()
        if not isinstance(answer, commands.Basic.Ack):
            raise ConnectionError(f"the broker did not confirm the publish: {answer.name}")

    async def get(self, queue: str) -> RawMessage | None:
        """Take (and acknowledge) the next message of ``queue``; ``None`` when it is empty."""
        self._send(commands.Basic.Get(queue=queue, no_ack=True))
        answer = await self._read_method()
        if isinstance(answer, commands.Basic.GetEmpty):
            return None
        if not isinstance(answer, commands.Basic.GetOk):
            raise ConnectionError(f"unexpected answer to Basic.Get: {answer.name}")
        kind, payload = await self._read_frame()
        if kind != constants.FRAME_HEADER:
            raise ConnectionError(f"expected a content header, got frame type {kind}")
        (size,) = struct.unpack(">Q", payload[4:12])
        properties: commands.Basic.Properties | None = None
        with contextlib.suppress(UnmarshalingException, ValueError, OverflowError):
            content_header = header.ContentHeader()
            content_header.unmarshal(payload)
            properties = content_header.properties
        body = b""
        while len(body) < size:
            kind, chunk = await self._read_frame()
            if kind != constants.FRAME_BODY:
                raise ConnectionError(f"expected a content body, got frame type {kind}")
            body += chunk
        return RawMessage(properties, body, answer.routing_key or "")

    async def drain(self, queue: str) -> list[RawMessage]:
        """Every message ``queue`` holds now, taken off it."""
        messages = []
        while (message := await self.get(queue)) is not None:
            messages.append(message)
        return messages

    async def tap(self, exchange: str) -> str:
        """A queue of this connection's own that gets a copy of every message of ``exchange``."""
        self._send(commands.Queue.Declare(exclusive=True, auto_delete=True))
        queue = str((await self._expect(commands.Queue.DeclareOk)).queue)
        self._send(commands.Queue.Bind(queue=queue, exchange=exchange, routing_key="#"))
        await self._expect(commands.Queue.BindOk)
        return queue

    async def count(self, queue: str) -> int:
        """Messages ready in ``queue`` (not those delivered and unacknowledged); 0 if it does not exist."""
        self._send(commands.Queue.Declare(queue=queue, passive=True))
        try:
            answer = await self._expect(commands.Queue.DeclareOk)
        except ChannelClosedError as error:
            if error.code != NOT_FOUND:
                raise
            await self._open_channel()
            return 0
        return answer.message_count or 0

    async def close(self) -> None:
        with contextlib.suppress(ConnectionError, OSError, asyncio.IncompleteReadError):
            self._send(commands.Connection.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0))
            await asyncio.wait_for(self._expect(commands.Connection.CloseOk), 5)
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

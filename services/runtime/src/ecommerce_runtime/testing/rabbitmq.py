"""RabbitMQ for the tests of every service: a throw-away vhost, the broker's view of queues, an outage.

- ``temporary_vhost``: a uniquely named vhost, so test runs never see each other's queues.
- ``list_queues``: each queue's type, arguments and message count as the broker reports them.
- ``take_messages``, ``wait_for_message_count``: wait for messages in a queue.
- ``BrokerProxy``: a TCP proxy a test can cut and restore, to see what clients do when the broker vanishes.

Tests run against the real broker (``DESIGN.md`` section 8). A vhost is the broker's unit of isolation:
exchanges, queues and bindings live inside one, and deleting it deletes them all. Creating one needs
``rabbitmqctl`` (the management HTTP API is not enabled on this machine), which administers the local node
whatever host ``AMQP_TEST_URL`` names; each call costs about a second of Erlang start-up, so suites share a
vhost per module and clean queues between tests.

A missing broker is a failure with instructions, never a skip: a test that silently does not run proves
nothing (``DESIGN.md`` section 9).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from aio_pika.abc import AbstractConnection, AbstractIncomingMessage, AbstractQueue

DEFAULT_TEST_URL = "amqp://guest:guest@127.0.0.1:5672/"

_START_HINT = "start it with `rabbitmq-server -detached` (or point AMQP_TEST_URL at a running broker)"


class RabbitMQUnavailableError(RuntimeError):
    """The test broker cannot be reached or administered; the message says how to start it."""


def broker_base_url() -> str:
    """The AMQP URL of the test broker's default vhost: env ``AMQP_TEST_URL`` or the local default."""
    return os.environ.get("AMQP_TEST_URL", DEFAULT_TEST_URL)


def vhost_url(base_url: str, vhost: str) -> str:
    """``base_url`` with its path replaced by ``vhost`` (URL-quoted, so ``/`` and ``%`` survive)."""
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), "", ""))


async def _ensure_reachable(base_url: str) -> None:
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5672
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=5)
    except (OSError, TimeoutError) as exc:
        raise RabbitMQUnavailableError(
            f"RabbitMQ is not reachable at {host}:{port} ({exc!r}): {_START_HINT}"
        ) from exc
    writer.close()
    await writer.wait_closed()


async def _rabbitmqctl(*args: str) -> str:
    try:
        process = await asyncio.create_subprocess_exec(
            "rabbitmqctl",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError as exc:
        raise RabbitMQUnavailableError(
            f"rabbitmqctl is not on PATH: install RabbitMQ and {_START_HINT}"
        ) from exc
    stdout, stderr = await process.communicate()
    if process.returncode != 0:
        output = (stderr or stdout).decode(errors="replace").strip()
        raise RabbitMQUnavailableError(
            f"`rabbitmqctl {' '.join(args)}` failed (exit {process.returncode}): {output}\n"
            f"If the node is down, {_START_HINT}"
        )
    return stdout.decode()


@asynccontextmanager
async def temporary_vhost() -> AsyncIterator[str]:
    """Create a uniquely named vhost the ``guest`` user may use, yield its AMQP URL, delete it afterwards.

    Raises ``RabbitMQUnavailableError`` (saying how to start the broker) when RabbitMQ is unreachable.
    """
    base_url = broker_base_url()
    await _ensure_reachable(base_url)
    vhost = f"test-{uuid.uuid4().hex}"
    await _rabbitmqctl("add_vhost", vhost)
    try:
        await _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield vhost_url(base_url, vhost)
    finally:
        await _rabbitmqctl("delete_vhost", vhost)


@dataclass(frozen=True, slots=True)
class QueueDetails:
    """What the broker itself reports about a queue (``rabbitmqctl list_queues``)."""

    name: str
    type: str
    arguments: dict[str, object]
    messages: int


async def list_queues(amqp_url: str) -> dict[str, QueueDetails]:
    """Every queue of the vhost of ``amqp_url`` as the broker reports it, by name."""
    vhost = unquote(urlsplit(amqp_url).path[1:]) or "/"
    output = await _rabbitmqctl(
        "list_queues", "-p", vhost, "name", "type", "arguments", "messages", "--formatter", "json", "--quiet"
    )
    # Arguments come as [name, AMQP type, value] triples.
    return {
        row["name"]: QueueDetails(
            name=row["name"],
            type=row["type"],
            arguments={name: value for name, _, value in row["arguments"]},
            messages=row["messages"],
        )
        for row in json.loads(output)
    }


async def take_messages(
    queue: AbstractQueue, count: int, *, within: float = 10.0
) -> list[AbstractIncomingMessage]:
    """Take (and ack) exactly ``count`` messages from ``queue``, polling until they are there.

    Fails with ``TimeoutError`` if fewer arrive ``within`` seconds -- a bound that only turns a hang into a
    failure, not a speed assertion.
    """
    taken: list[AbstractIncomingMessage] = []
    async with asyncio.timeout(within):
        while len(taken) < count:
            message = await queue.get(no_ack=True, fail=False)
            if message is None:
                await asyncio.sleep(0.02)
            else:
                taken.append(message)
    return taken


async def wait_for_message_count(
    connection: AbstractConnection, queue: str, count: int, *, within: float = 10.0
) -> None:
    """Wait until ``queue`` holds exactly ``count`` ready messages; ``TimeoutError`` after ``within`` seconds.

    Polled, not read once: acks, nacks and the returns of a closed channel reach a quorum queue
    asynchronously (the broker answers ``channel.close-ok`` before the queue has taken the messages back).
    The passive declare goes through aiormq because aio-pika's ``RobustChannel.declare_queue(passive=True)``
    answers a repeated call from its cache, with the message count of the first.
    """
    channel = await connection.channel()
    try:
        underlay = await channel.get_underlay_channel()
        async with asyncio.timeout(within):
            while True:
                declared = await underlay.queue_declare(queue, passive=True)
                if declared.message_count == count:
                    return
                await asyncio.sleep(0.02)
    finally:
        await channel.close()


class BrokerProxy:
    """A TCP proxy in front of the broker that a test can cut, to see what clients do when RabbitMQ vanishes.

    ``cut()`` drops every proxied connection and refuses new ones, like a broker that went down without a
    goodbye (killing the machine's shared broker would do that to everyone's tests); ``restore()`` lets
    connections through again, on the same port, like a broker that came back.
    """

    def __init__(self, amqp_url: str) -> None:
        parts = urlsplit(amqp_url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 5672)
        self._url_parts = parts
        self._server: asyncio.Server | None = None
        self._port = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._pumps: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        """Start listening on a free local port; return the AMQP URL that goes through the proxy."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self._port)
        self._port = self._server.sockets[0].getsockname()[1]
        userinfo = self._url_parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{self._port}" if userinfo else f"127.0.0.1:{self._port}"
        return urlunsplit(self._url_parts._replace(netloc=netloc))

    async def restore(self) -> None:
        """Accept connections again on the same port after ``cut()``."""
        await self.start()

    async def cut(self) -> None:
        """Stop accepting and drop every open connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in self._writers:
            writer.transport.abort()
        for pump in self._pumps:
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            broker_reader, broker_writer = await asyncio.open_connection(*self._target)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, broker_writer}
        for reader, writer in ((client_reader, broker_writer), (broker_reader, client_writer)):
            pump = asyncio.create_task(self._pump(reader, writer))
            self._pumps.add(pump)
            pump.add_done_callback(self._pumps.discard)

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()

"""Connecting to RabbitMQ: one robust connection per process, and an error that says where it tried.

``connect_robust`` reconnects after a broker restart or a network cut and restores the channels, exchanges,
queues, bindings and consumers declared through it, so services need no reconnection loop of their own. The
first connection must succeed, though: ``connect`` raises an error naming the URL (password masked, since
the message ends up in logs), and ``run_connected`` keeps trying with backoff, so a service can start (and
take requests into its outbox) before its broker does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from ecommerce_runtime.backoff import Backoff
from ecommerce_runtime.bus import undecodable

undecodable.install()  # before any connection reads a frame: a bad message must cost only itself

logger = logging.getLogger(__name__)


class BrokerUnavailableError(ConnectionError):
    """RabbitMQ could not be reached (or refused the credentials or the vhost) at start."""


def mask_url(amqp_url: str) -> str:
    """``amqp_url`` with its password replaced by ``***``, fit for logs and error messages."""
    parts = urlsplit(amqp_url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return amqp_url
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))


async def connect(amqp_url: str, *, connect_timeout: float = 10.0) -> AbstractRobustConnection:
    """Open a robust connection to ``amqp_url``; else ``BrokerUnavailableError`` naming the URL."""
    try:
        return await aio_pika.connect_robust(amqp_url, timeout=connect_timeout)
    except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
        raise BrokerUnavailableError(
            f"cannot connect to RabbitMQ at {mask_url(amqp_url)}: {exc!r}. "
            "Is the broker running (`rabbitmq-server -detached`) and is the URL (AMQP_URL) right?"
        ) from exc


async def run_connected(
    amqp_url: str,
    stop: asyncio.Event,
    session: Callable[[AbstractRobustConnection], Awaitable[None]],
    *,
    max_delay: float = 30.0,
) -> None:
    """Connects to the broker and runs ``session`` on the connection, which is closed afterwards.

    While the broker is unreachable it retries with capped exponential backoff, until ``stop`` is set (then
    it returns without running ``session``). Once connected, the robust connection reconnects by itself;
    ``session`` is expected to run until ``stop`` is set.
    """
    backoff = Backoff(first=0.5, cap=max_delay)
    failures = 0
    while not stop.is_set():
        try:
            connection = await connect(amqp_url)
        except BrokerUnavailableError as error:
            failures += 1
            delay = backoff.delay(failures)
            logger.warning("broker unavailable, retrying in %.1fs: %s", delay, error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            continue
        try:
            await session(connection)
        finally:
            await connection.close()
        return

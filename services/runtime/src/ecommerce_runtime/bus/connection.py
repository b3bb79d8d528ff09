"""Connecting to RabbitMQ: one robust connection per process, and an error that says where it tried.

``connect_robust`` reconnects after a broker restart or a network cut and restores the channels, exchanges,
queues, bindings and consumers declared through it, so services need no reconnection loop of their own. The
first connection must succeed, though: a service that cannot reach its broker at start stops with a message
naming the URL (password masked, since the message ends up in logs).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS


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

"""Moving a message to a dead-letter queue by hand, and reading why a message is there.

Two roads lead to a DLQ. The broker dead-letters a message that exceeded the queue's delivery limit and
records why in ``x-death`` / ``x-first-death-reason`` (``delivery_limit``). The consumer dead-letters poison
and ``PermanentError`` itself, because AMQP's reject carries no reason: it publishes a copy of the original
message (body and properties) straight to the DLQ with ``x-dead-letter-reason``, ``x-original-routing-key``
and ``x-failed-service`` headers, waits for the broker's confirm, and only then acks the original. A crash in
between leaves the original unacked, so it comes back: a duplicate in the DLQ is possible, a loss is not.

Copies drop two properties on purpose: ``expiration`` (a TTL would let the copy vanish from the DLQ or the
queue unseen) and ``user_id`` (the broker rejects a publish whose ``user_id`` is not the connection's user).
A message that came without a ``message_id`` stays without one: aiormq stamps a random id on every message
published without it (``aiormq/channel.py``, ``Channel.basic_publish``), which would give a message that was
dead-lettered *for* lacking an id a made-up one -- and let it pass as valid after a replay.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractMessage

from ecommerce_runtime.bus.publisher import publish_confirmed

REASON_HEADER: Final = "x-dead-letter-reason"
ORIGINAL_ROUTING_KEY_HEADER: Final = "x-original-routing-key"
FAILED_SERVICE_HEADER: Final = "x-failed-service"

# What the broker and the consumer add on the way to a DLQ; a replayed message sheds them and starts afresh.
_DEAD_LETTER_HEADER_PREFIXES: Final = ("x-dead-letter-", "x-death", "x-first-death-", "x-last-death-")
_BROKER_COUNTERS: Final = ("x-delivery-count",)


class _PropertiesWithoutMessageId(aiormq.spec.Basic.Properties):
    """Properties whose ``message_id`` stays unset even when aiormq assigns one before publishing."""

    @property
    def message_id(self) -> None:
        return None

    @message_id.setter
    def message_id(self, value: object) -> None:
        pass


class _Copy(aio_pika.Message):
    """A message that, like its original, may have no ``message_id`` at all."""

    @property
    def properties(self) -> aiormq.spec.Basic.Properties:
        properties = super().properties
        if self.message_id is not None:
            return properties
        kept = {name: getattr(properties, name) for name in properties.__slots__ if name != "message_id"}
        return _PropertiesWithoutMessageId(**kept)


def copy_message(message: AbstractMessage, headers: Mapping[str, Any]) -> aio_pika.Message:
    """A publishable copy of ``message`` with ``headers``: persistent, no ``expiration``, no ``user_id``, and
    no ``message_id`` if the original had none."""
    return _Copy(
        message.body,
        headers=dict(headers),
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        priority=message.priority,
        correlation_id=message.correlation_id,
        reply_to=message.reply_to,
        message_id=message.message_id,
        timestamp=message.timestamp,
        type=message.type,
        app_id=message.app_id,
    )


def without_dead_letter_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """``headers`` minus dead-letter bookkeeping (``x-death``, ``x-dead-letter-*``...) and delivery count."""
    return {
        name: value
        for name, value in headers.items()
        if not name.startswith(_DEAD_LETTER_HEADER_PREFIXES) and name not in _BROKER_COUNTERS
    }


def dead_letter_reason(headers: Mapping[str, Any]) -> str:
    """Why a message is in a DLQ: the consumer's reason, else the broker's first death reason."""
    for name in (REASON_HEADER, "x-first-death-reason"):
        value = headers.get(name)
        if isinstance(value, bytes):
            value = value.decode(errors="replace")
        if isinstance(value, str) and value:
            return value
    return "unknown"


async def publish_to_dlq(
    channel: AbstractChannel,
    message: AbstractMessage,
    *,
    dlq: str,
    reason: str,
    original_routing_key: str,
    service: str,
    confirm_timeout: float,
) -> None:
    """Publish a copy of ``message`` to ``dlq`` with the reason headers; return after the broker's confirm.

    ``channel`` must have been opened with publisher confirms; raises ``PublishError`` otherwise.
    """
    headers = {
        **(message.headers or {}),
        REASON_HEADER: reason,
        ORIGINAL_ROUTING_KEY_HEADER: original_routing_key,
        FAILED_SERVICE_HEADER: service,
    }
    await publish_confirmed(
        channel.default_exchange, copy_message(message, headers), dlq, confirm_timeout=confirm_timeout
    )

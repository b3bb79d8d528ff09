"""Reading an event off the wire: AMQP properties + JSON body -> ``IncomingEvent``, or a poison verdict.

A message is poison when no retry can ever make it succeed: its body is not JSON or does not match the
channel's schema, its type is missing or not in the spec, or it lacks the envelope the contract requires
(``message_id`` as a UUID -- the consumers' dedup key -- plus ``timestamp``, ``app_id``, ``correlation_id``).
Poison is dead-lettered at once with ``PoisonMessageError.reason`` instead of being retried, so one bad
message never blocks or slows the queue.

A missing or malformed ``traceparent`` is not poison: like W3C trace context says, the consumer starts a new
trace instead.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any, Final

import pydantic
from aio_pika.abc import AbstractMessage

from ecommerce.events.channels import CHANNELS
from ecommerce_runtime.bus.undecodable import UNDECODABLE_HEADER
from ecommerce_runtime.messages import IncomingEvent, new_traceparent, parse_payload

DELIVERY_COUNT_HEADER: Final = "x-delivery-count"
_TRACEPARENT: Final = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_MAX_REASON: Final = 500


class PoisonMessageError(Exception):
    """The message can never be handled; ``reason`` is short, human-readable and starts with its kind."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason if len(reason) <= _MAX_REASON else reason[: _MAX_REASON - 3] + "..."


def delivery_count(headers: Mapping[str, Any]) -> int:
    """Which attempt this delivery is (1 = first), from the quorum queue's ``x-delivery-count`` header.

    The broker omits the header (or sends 0) on the first delivery and counts every return to the queue
    (nack with requeue, or the consumer's channel closing with the message unacked).
    """
    count = headers.get(DELIVERY_COUNT_HEADER)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        return 1
    return count + 1


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) and value else None


def _describe(error: pydantic.ValidationError) -> str:
    errors = error.errors(include_url=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        return f"not-json: {first['msg']}"
    location = ".".join(str(part) for part in first["loc"]) or "<body>"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"schema-invalid: {location}: {first['msg']}{more}"


def decode_event(message: AbstractMessage) -> IncomingEvent:
    """The event ``message`` carries; raises ``PoisonMessageError`` if it can never be handled."""
    undecodable = (message.headers or {}).get(UNDECODABLE_HEADER)
    if undecodable is not None:
        raise PoisonMessageError(f"undecodable-properties: {_text(undecodable)}")
    raw_id = _text(message.message_id)
    if raw_id is None:
        raise PoisonMessageError("missing-message-id: the message_id property is absent")
    try:
        event_id = uuid.UUID(raw_id)
    except ValueError:
        raise PoisonMessageError(f"bad-message-id: {raw_id[:64]!r} is not a UUID") from None

    event_type = _text(message.type)
    if event_type is None:
        raise PoisonMessageError("missing-type: the type property is absent")
    channel = CHANNELS.get(event_type)
    if channel is None:
        raise PoisonMessageError(f"unknown-type: {event_type[:64]!r} is not an event type of the spec")

    occurred_at, producer, correlation_id = (
        message.timestamp,
        _text(message.app_id),
        _text(message.correlation_id),
    )
    if occurred_at is None or producer is None or correlation_id is None:
        missing = [
            name
            for name, value in (
                ("timestamp", occurred_at),
                ("app_id", producer),
                ("correlation_id", correlation_id),
            )
            if value is None
        ]
        raise PoisonMessageError(f"envelope-invalid: missing {', '.join(missing)}")

    try:
        payload = parse_payload(event_type, message.body)
    except pydantic.ValidationError as exc:
        raise PoisonMessageError(_describe(exc)) from None

    headers = message.headers or {}
    traceparent = _text(headers.get("traceparent"))
    if traceparent is None or not _TRACEPARENT.match(traceparent):
        traceparent = new_traceparent()
    return IncomingEvent(
        event_id=event_id,
        event_type=channel.event_type,
        payload=payload,
        correlation_id=correlation_id,
        occurred_at=occurred_at,
        producer=producer,
        traceparent=traceparent,
        delivery_count=delivery_count(headers),
    )

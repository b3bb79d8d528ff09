"""The envelope of an event: what the outbox stores, the bus publishes and a consumer receives.

The AMQP properties carry it (``specs/asyncapi.yaml``, schema ``Envelope``): ``message_id`` = event id,
``type`` = event type, ``timestamp``, ``app_id`` = producing service, ``correlation_id`` = order id,
``content_type`` = application/json, persistent delivery, and a W3C ``traceparent`` header.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from ecommerce.events.channels import CHANNELS, Event, EventType, channel_of

CONTENT_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """An event ready to publish: its payload already validated against the channel's model."""

    event_id: UUID
    event_type: EventType
    routing_key: str
    body: bytes
    correlation_id: str
    occurred_at: datetime
    producer: str
    traceparent: str


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """An event received from the broker, its payload parsed into the channel's model."""

    event_id: UUID
    event_type: EventType
    payload: Event
    correlation_id: str
    occurred_at: datetime
    producer: str
    traceparent: str
    delivery_count: int


def new_traceparent() -> str:
    """A fresh W3C trace context (version 00, sampled) for an operation that starts a trace."""
    return f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"


def outgoing(
    event: Event,
    *,
    event_id: UUID,
    occurred_at: datetime,
    producer: str,
    correlation_id: str,
    traceparent: str,
) -> OutgoingMessage:
    """The message for ``event``; raises ``ValueError`` if ``producer`` does not own its channel."""
    channel = channel_of(event)
    if channel.producer != producer:
        raise ValueError(
            f"{producer} cannot publish {channel.event_type}: the spec gives it to {channel.producer}"
        )
    # Validate again: a model built with model_construct() or mutated after creation must not slip through.
    body = channel.model.model_validate(event.model_dump()).model_dump_json().encode()
    return OutgoingMessage(
        event_id=event_id,
        event_type=channel.event_type,
        routing_key=channel.routing_key,
        body=body,
        correlation_id=correlation_id,
        occurred_at=occurred_at,
        producer=producer,
        traceparent=traceparent,
    )


def parse_payload(event_type: str, body: bytes) -> Event:
    """The payload of an incoming message as its model.

    Raises ``KeyError`` for an event type the spec does not define and ``pydantic.ValidationError`` for a
    body that is not valid JSON or does not match the schema.
    """
    return CHANNELS[event_type].model.model_validate_json(body)

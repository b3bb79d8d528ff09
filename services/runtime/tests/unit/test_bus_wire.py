"""What goes on the wire: envelope properties, queue arguments, dead-letter headers, masked URLs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import aio_pika
import aiormq
import pytest

from ecommerce_runtime.bus import (
    DEAD_LETTER_EXCHANGE,
    amqp_message,
    dead_letter_reason,
    mask_url,
    queue_arguments,
)
from ecommerce_runtime.bus.dead_letter import copy_message, without_dead_letter_headers
from ecommerce_runtime.messages import OutgoingMessage


def test_an_outgoing_message_carries_the_envelope_as_properties(
    make_order_created: Callable[..., OutgoingMessage],
) -> None:
    outgoing = make_order_created()
    message = amqp_message(outgoing)

    assert message.body == outgoing.body
    assert message.message_id == str(outgoing.event_id)
    assert message.type == "order.created"
    assert message.timestamp == outgoing.occurred_at
    assert message.app_id == "orders"
    assert message.correlation_id == outgoing.correlation_id
    assert message.content_type == "application/json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.headers == {"traceparent": outgoing.traceparent}


@pytest.mark.parametrize(
    "change",
    [{"routing_key": "order.created.v2"}, {"event_type": "order.shipped", "routing_key": "order.shipped"}],
)
def test_an_event_the_spec_does_not_define_cannot_be_published(
    make_order_created: Callable[..., OutgoingMessage], change: dict[str, str]
) -> None:
    with pytest.raises(ValueError, match="is not a channel of the spec"):
        amqp_message(replace(make_order_created(), **change))  # type: ignore[arg-type]


def test_a_service_queue_is_a_quorum_queue_with_a_delivery_limit_and_a_dead_letter_exchange() -> None:
    assert queue_arguments("orders.events", 3) == {
        "x-queue-type": "quorum",
        "x-delivery-limit": 3,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": "orders.events",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    assert queue_arguments("orders.events")["x-delivery-limit"] == 5
    with pytest.raises(ValueError, match="delivery_limit"):
        queue_arguments("orders.events", -1)


def test_replay_sheds_the_dead_letter_bookkeeping_and_keeps_the_rest() -> None:
    headers = {
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "x-death": [{"count": 1, "reason": "delivery_limit"}],
        "x-first-death-reason": "delivery_limit",
        "x-first-death-queue": "orders.events",
        "x-first-death-exchange": "",
        "x-dead-letter-reason": "schema-invalid: x",
        "x-delivery-count": 0,
        "x-original-routing-key": "payment.succeeded",
        "x-failed-service": "orders",
        "x-tenant": "kept",
    }
    assert without_dead_letter_headers(headers) == {
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "x-original-routing-key": "payment.succeeded",
        "x-failed-service": "orders",
        "x-tenant": "kept",
    }


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"x-dead-letter-reason": "poison", "x-first-death-reason": "delivery_limit"}, "poison"),
        ({"x-first-death-reason": "delivery_limit"}, "delivery_limit"),
        ({"x-first-death-reason": b"rejected"}, "rejected"),
        ({}, "unknown"),
    ],
)
def test_the_reason_a_message_was_dead_lettered(headers: dict[str, object], reason: str) -> None:
    assert dead_letter_reason(headers) == reason


def test_a_copy_keeps_the_properties_but_not_the_ttl_or_user_id() -> None:
    original = aio_pika.Message(
        b"{}",
        message_id=str(uuid.uuid4()),
        type="order.created",
        timestamp=datetime(2026, 11, 29, tzinfo=UTC),
        app_id="orders",
        correlation_id="c",
        content_type="application/json",
        content_encoding="utf-8",
        priority=3,
        reply_to="r",
        expiration=60,
        user_id="someone-else",
        headers={"traceparent": "t"},
    )
    copy = copy_message(original, {"x-dead-letter-reason": "why"})

    assert copy.body == original.body
    for name in ("message_id", "type", "timestamp", "app_id", "correlation_id", "content_type"):
        assert getattr(copy, name) == getattr(original, name), name
    assert (copy.content_encoding, copy.priority, copy.reply_to) == ("utf-8", 3, "r")
    assert copy.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert copy.expiration is None
    assert copy.user_id is None
    assert copy.headers == {"x-dead-letter-reason": "why"}


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("amqp://guest:s3cret@broker:5672/vh", "amqp://guest:***@broker:5672/vh"),
        ("amqps://svc:p%40ss@10.0.0.1/", "amqps://svc:***@10.0.0.1/"),
        ("amqp://guest@broker/", "amqp://guest@broker/"),
        ("amqp://broker/", "amqp://broker/"),
    ],
)
def test_a_url_in_a_message_never_shows_the_password(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_a_copy_of_a_message_without_message_id_stays_without_one() -> None:
    copy = copy_message(aio_pika.Message(b"{}", type="order.created"), {})
    properties = copy.properties
    properties.message_id = "4d91f3cc29be4f629769b30022a5a3a7"  # what aiormq's basic_publish does

    encoded = properties.marshal()  # 14 properties: one 16-bit flag word, then the values
    on_the_wire = aiormq.spec.Basic.Properties()
    on_the_wire.unmarshal(int.from_bytes(encoded[:2], "big"), encoded[2:])
    assert on_the_wire.message_id is None
    assert on_the_wire.message_type == "order.created"

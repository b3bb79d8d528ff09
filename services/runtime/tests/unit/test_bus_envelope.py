"""Decoding the envelope: a valid message becomes an IncomingEvent; every kind of poison gets its reason."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aio_pika
import pytest

from ecommerce.events import models
from ecommerce_runtime.bus import PoisonMessageError, decode_event

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACEPARENT_PATTERN = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")
EVENT_ID = uuid.UUID("0b4f3c1e-8d4a-4f8e-9a51-2f1f6e9c7a10")
OCCURRED_AT = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


@pytest.fixture
def message(order_created_body: Callable[..., bytes]) -> Callable[..., aio_pika.Message]:
    """An ``order.created`` message as it arrives, with any property or the body replaced."""

    def make(body: bytes | None = None, **properties: Any) -> aio_pika.Message:
        fields: dict[str, Any] = {
            "message_id": str(EVENT_ID),
            "type": "order.created",
            "timestamp": OCCURRED_AT,
            "app_id": "orders",
            "correlation_id": "5d2c1b0a-9e8f-4a7b-8c6d-5e4f3a2b1c0d",
            "content_type": "application/json",
            "delivery_mode": aio_pika.DeliveryMode.PERSISTENT,
            "headers": {"traceparent": TRACEPARENT},
        }
        fields.update(properties)
        return aio_pika.Message(order_created_body() if body is None else body, **fields)

    return make


def test_a_valid_message_becomes_an_incoming_event(message: Callable[..., aio_pika.Message]) -> None:
    event = decode_event(message())

    assert event.event_id == EVENT_ID
    assert event.event_type == "order.created"
    assert isinstance(event.payload, models.OrderCreated)
    assert event.payload.total.amount_minor == 2500
    assert event.correlation_id == "5d2c1b0a-9e8f-4a7b-8c6d-5e4f3a2b1c0d"
    assert event.occurred_at == OCCURRED_AT
    assert event.producer == "orders"
    assert event.traceparent == TRACEPARENT
    assert event.delivery_count == 1


@pytest.mark.parametrize(
    ("headers", "attempt"),
    [
        ({}, 1),  # first delivery from a consumer: no header
        ({"x-delivery-count": 0}, 1),  # first delivery via basic.get on 3.10: header present, 0
        ({"x-delivery-count": 1}, 2),
        ({"x-delivery-count": 4}, 5),
        ({"x-delivery-count": "garbage"}, 1),
    ],
)
def test_delivery_count_is_the_attempt_number(
    message: Callable[..., aio_pika.Message], headers: dict[str, Any], attempt: int
) -> None:
    event = decode_event(message(headers={"traceparent": TRACEPARENT, **headers}))
    assert event.delivery_count == attempt


@pytest.mark.parametrize("headers", [{}, {"traceparent": "not-a-trace"}, {"traceparent": 42}])
def test_a_missing_or_malformed_traceparent_starts_a_new_trace(
    message: Callable[..., aio_pika.Message], headers: dict[str, Any]
) -> None:
    event = decode_event(message(headers=headers))
    assert TRACEPARENT_PATTERN.match(event.traceparent)


def test_a_traceparent_received_as_bytes_is_kept(message: Callable[..., aio_pika.Message]) -> None:
    event = decode_event(message(headers={"traceparent": TRACEPARENT.encode()}))
    assert event.traceparent == TRACEPARENT


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"body": b"not json"}, "not-json: Invalid JSON: expected ident at line 1 column 2"),
        ({"body": b"\xff\xfe\x00"}, "not-json: Invalid JSON: expected value at line 1 column 1"),
        ({"body": b""}, "not-json: Invalid JSON: EOF while parsing a value at line 1 column 0"),
        ({"body": b"[]"}, "schema-invalid: <body>: Input should be an object"),
        ({"message_id": None}, "missing-message-id: the message_id property is absent"),
        ({"message_id": "order-1"}, "bad-message-id: 'order-1' is not a UUID"),
        ({"type": None}, "missing-type: the type property is absent"),
        ({"type": "order.shipped"}, "unknown-type: 'order.shipped' is not an event type of the spec"),
        ({"timestamp": None}, "envelope-invalid: missing timestamp"),
        ({"app_id": None, "correlation_id": ""}, "envelope-invalid: missing app_id, correlation_id"),
    ],
)
def test_poison_is_classified_with_a_readable_reason(
    message: Callable[..., aio_pika.Message], change: dict[str, Any], reason: str
) -> None:
    with pytest.raises(PoisonMessageError) as caught:
        decode_event(message(**change))
    assert caught.value.reason == reason


def test_a_schema_violation_names_the_field_and_the_rule(
    message: Callable[..., aio_pika.Message], order_created_body: Callable[..., bytes]
) -> None:
    body = order_created_body(total={"amount_minor": -1, "currency": "EUR"})
    with pytest.raises(PoisonMessageError) as caught:
        decode_event(message(body))
    assert caught.value.reason == (
        "schema-invalid: total.amount_minor: Input should be greater than or equal to 0"
    )


def test_several_schema_violations_report_the_first_and_count_the_rest(
    message: Callable[..., aio_pika.Message], order_created_body: Callable[..., bytes]
) -> None:
    body = order_created_body(customer_email="nope", items=[], unexpected=True)
    with pytest.raises(PoisonMessageError) as caught:
        decode_event(message(body))
    reason = caught.value.reason
    assert reason.startswith("schema-invalid: customer_email: value is not a valid email address"), reason
    assert reason.endswith("(+2 more)"), reason


def test_a_body_valid_for_another_event_type_is_schema_invalid(
    message: Callable[..., aio_pika.Message],
) -> None:
    with pytest.raises(PoisonMessageError) as caught:
        decode_event(message(type="payment.succeeded"))
    assert caught.value.reason.startswith("schema-invalid: payment_id: Field required")


def test_a_reason_is_capped_so_it_fits_a_header() -> None:
    reason = PoisonMessageError("schema-invalid: " + "x" * 2000).reason
    assert len(reason) == 500
    assert reason.startswith("schema-invalid: xxx")
    assert reason.endswith("...")

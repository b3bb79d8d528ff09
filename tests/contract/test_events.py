"""Every AsyncAPI message has a generated model and a channel; the models accept the spec's examples
and reject what the spec forbids, with an error that names the field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from ecommerce.events import models
from ecommerce.events.channels import CHANNELS, EXCHANGE, SUBSCRIPTIONS, channel_of

SPEC: dict[str, Any] = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "specs" / "asyncapi.yaml").read_text()
)
MESSAGES: dict[str, Any] = SPEC["components"]["messages"]
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]


def _payload_schema(message: dict[str, Any]) -> str:
    return str(message["payload"]["$ref"]).rsplit("/", 1)[-1]


def _example(event_type: str) -> dict[str, Any]:
    message = next(m for m in MESSAGES.values() if m["name"] == event_type)
    example: dict[str, Any] = copy.deepcopy(SCHEMAS[_payload_schema(message)]["examples"][0])
    return example


EVENT_TYPES = sorted(m["name"] for m in MESSAGES.values())


def test_every_message_has_a_channel_with_its_model() -> None:
    assert sorted(CHANNELS) == EVENT_TYPES
    for message in MESSAGES.values():
        channel = CHANNELS[message["name"]]
        assert channel.routing_key == message["name"] == channel.event_type
        assert channel.model is getattr(models, _payload_schema(message))


def test_the_exchange_and_queues_come_from_the_spec() -> None:
    bindings = {ch["bindings"]["amqp"]["exchange"]["name"] for ch in SPEC["channels"].values()}
    assert bindings == {EXCHANGE}
    receive_ops = [op for op in SPEC["operations"].values() if op["action"] == "receive"]
    assert {op["x-queue"] for op in receive_ops} == {s.queue for s in SUBSCRIPTIONS.values()}
    assert sum(len(s.event_types) for s in SUBSCRIPTIONS.values()) == len(receive_ops)
    assert SUBSCRIPTIONS["payments"].event_types == ("order.created", "order.cancelled")


def test_every_message_is_produced_by_the_service_that_owns_it() -> None:
    assert {t: c.producer for t, c in CHANNELS.items()} == {
        "order.created": "orders",
        "order.paid": "orders",
        "order.cancelled": "orders",
        "payment.succeeded": "payments",
        "payment.failed": "payments",
        "payment.refunded": "payments",
    }


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_the_spec_example_is_valid_and_round_trips(event_type: str) -> None:
    model = CHANNELS[event_type].model
    event = model.model_validate(_example(event_type))
    assert model.model_validate_json(event.model_dump_json()) == event
    assert channel_of(event).event_type == event_type


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_an_extra_field_is_rejected(event_type: str) -> None:
    payload = _example(event_type) | {"discount": 5}
    with pytest.raises(ValidationError, match=r"discount\n  Extra inputs are not permitted"):
        CHANNELS[event_type].model.model_validate(payload)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_a_missing_field_is_rejected(event_type: str) -> None:
    payload = _example(event_type)
    del payload["order_id"]
    with pytest.raises(ValidationError, match=r"order_id\n  Field required"):
        CHANNELS[event_type].model.model_validate(payload)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("order_id", "not-a-uuid", "Input should be a valid UUID"),
        ("customer_email", "nobody", "value is not a valid email address"),
        ("created_at", "yesterday", "Input should be a valid datetime"),
        ("created_at", "2026-11-29T10:00:00", "Input should have timezone info"),
        ("total", {"amount_minor": -1, "currency": "EUR"}, "greater than or equal to 0"),
        ("total", {"amount_minor": 1, "currency": "eur"}, "String should match pattern"),
        ("items", [], "List should have at least 1 item"),
        ("payment_token", 42, "Input should be a valid string"),
    ],
)
def test_a_wrong_value_is_rejected_naming_the_field(field: str, value: object, message: str) -> None:
    payload = _example("order.created") | {field: value}
    with pytest.raises(ValidationError) as raised:
        models.OrderCreated.model_validate(payload)
    (error,) = raised.value.errors()
    assert error["loc"][0] == field
    assert message in str(raised.value)


def test_enumerations_are_closed() -> None:
    payload = _example("payment.failed") | {"reason": "cosmic_rays"}
    with pytest.raises(ValidationError, match="card_declined"):
        models.PaymentFailed.model_validate(payload)


def test_envelope_requires_every_amqp_property() -> None:
    envelope = {
        "message_id": "7e6d5c4b-3a29-4817-8615-a4b3c2d1e0f9",
        "type": "order.created",
        "timestamp": "2026-11-29T10:00:00Z",
        "app_id": "orders",
        "correlation_id": "0b4f3c1e-8d4a-4f8e-9a51-2f1f6e9c7a10",
        "content_type": "application/json",
        "delivery_mode": 2,
        "headers": {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "x-death": []},
    }
    assert models.Envelope.model_validate(envelope).headers.traceparent.startswith("00-")
    for name in ("message_id", "app_id", "correlation_id", "headers"):
        broken = {k: v for k, v in envelope.items() if k != name}
        with pytest.raises(ValidationError, match=name):
            models.Envelope.model_validate(broken)
    with pytest.raises(ValidationError, match="delivery_mode"):
        models.Envelope.model_validate(envelope | {"delivery_mode": 1})

"""The generated surface: one method per operation of the spec, sync and async; the models' rules."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml
from sdk_fakes import CATALOG, FakeAPI

import ecommerce_sdk
from ecommerce_sdk import AsyncClient, Client, types

SPEC: dict[str, Any] = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "specs" / "openapi.yaml").read_text()
)
OPERATION_IDS = sorted(
    op["operationId"] for item in SPEC["paths"].values() for op in item.values() if "operationId" in op
)
ORDER: dict[str, Any] = SPEC["components"]["schemas"]["Order"]["example"]


def test_the_version_is_the_specs() -> None:
    assert ecommerce_sdk.__version__ == SPEC["info"]["version"]


@pytest.mark.parametrize("operation_id", OPERATION_IDS)
async def test_every_operation_is_a_method_of_both_clients(
    operation_id: str, client: Client, async_client: AsyncClient
) -> None:
    resource, verb = operation_id.split(".")
    sync = getattr(getattr(client, resource), verb)
    async_ = getattr(getattr(async_client, resource), verb)

    assert inspect.signature(sync).parameters == inspect.signature(async_).parameters
    is_list = verb == "list"
    assert inspect.iscoroutinefunction(async_) is not is_list
    assert not inspect.iscoroutinefunction(sync)
    assert sync.__doc__
    assert sync.__doc__ == async_.__doc__


def test_the_documented_signatures(client: Client) -> None:
    create = inspect.signature(client.orders.create)
    assert list(create.parameters) == ["items", "payment_token", "idempotency_key", "timeout"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in create.parameters.values())
    get = inspect.signature(client.orders.get).parameters["order_id"]
    assert get.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert list(inspect.signature(client.notifications.list).parameters) == [
        "order_id",
        "page_size",
        "page_token",
        "timeout",
    ]


def test_response_models_ignore_fields_a_newer_server_adds() -> None:
    order = types.Order.model_validate({**ORDER, "loyalty_points": 12, "total": {**ORDER["total"], "tax": 1}})

    assert str(order.id) == ORDER["id"]
    assert not hasattr(order, "loyalty_points")


def test_request_models_stay_strict() -> None:
    with pytest.raises(pydantic.ValidationError, match="extra"):
        types.CreateOrderRequest.model_validate(
            {"items": [{"sku": "MUG-001", "quantity": 1}], "payment_token": "tok_success", "total": 0}
        )


def test_requests_are_validated_before_anything_is_sent(client: Client, api: FakeAPI) -> None:
    with pytest.raises(pydantic.ValidationError, match="quantity"):
        client.orders.create(items=[{"sku": "MUG-001", "quantity": 0}], payment_token="tok_success")

    assert api.requests == []


def test_models_and_dicts_both_make_an_order(client: Client) -> None:
    line = types.OrderLineInput(sku="MUG-001", quantity=2)

    from_model = client.orders.create(items=[line], payment_token="tok_success")
    from_dict = client.orders.create(items=({"sku": "MUG-001", "quantity": 2},), payment_token="tok_success")

    assert from_model.items[0].line_total == from_dict.items[0].line_total
    assert from_model.total.amount_minor == 2 * CATALOG[2]["unit_price"]["amount_minor"]


def test_emails_are_plain_strings_so_no_email_validator_is_needed() -> None:
    assert types.User.model_fields["email"].annotation is str
    assert types.RegisterRequest.model_fields["password"].annotation is str


def test_returned_models_carry_their_request_id_but_compare_by_data(client: Client) -> None:
    order = client.orders.create(items=[{"sku": "MUG-001", "quantity": 1}], payment_token="tok_declined")
    first = client.orders.get(order.id)
    second = client.orders.get(order.id)

    assert (order.request_id, first.request_id, second.request_id) == ("req-1", "req-2", "req-3")
    assert first == second
    assert first != order  # the payment was settled in between
    assert types.Order.model_validate(ORDER).request_id is None

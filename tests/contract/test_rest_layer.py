"""The generated REST layer: one Protocol per operationId, and a route table that turns what connexion
passes into typed handler calls and renders the replies.

``FakeOperations`` below is also the type-checked consumer of every generated REST type: if an operation in
the spec changes, its method here stops matching the Protocol and ``make typecheck`` fails.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from uuid import UUID, uuid4

import pytest
import yaml

from ecommerce.rest import models, operations
from ecommerce.rest.operations import InvalidParameter, Operations, Reply, TokenInfo
from ecommerce.rest.routes import OPERATION_IDS, route_table

SPEC: dict[str, Any] = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "specs" / "openapi.yaml").read_text()
)
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
EUR = models.Money(amount_minor=1250, currency="EUR")
ORDER_ID = UUID("0b4f3c1e-8d4a-4f8e-9a51-2f1f6e9c7a10")


def _order(order_id: UUID, status: Literal["PENDING", "PAID", "CANCELLED"] = "PENDING") -> models.Order:
    line = models.OrderLine(sku="MUG-001", name="Mug", quantity=1, unit_price=EUR, line_total=EUR)
    return models.Order(id=order_id, status=status, items=[line], total=EUR, created_at=NOW, updated_at=NOW)


class FakeOperations:
    """Records each call; answers with fixed models."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def auth_register(self, *, body: models.RegisterRequest) -> Reply[models.User]:
        self.calls.append(("auth.register", {"body": body}))
        return Reply(201, models.User(id=uuid4(), email=body.email, role="customer", created_at=NOW))

    async def auth_login(self, *, body: models.LoginRequest) -> Reply[models.Token]:
        self.calls.append(("auth.login", {"body": body}))
        return Reply(200, models.Token(access_token="t", token_type="Bearer", expires_in=900))

    async def products_list(self, *, page_size: int, page_token: str | None) -> Reply[models.ProductPage]:
        self.calls.append(("products.list", {"page_size": page_size, "page_token": page_token}))
        return Reply(200, models.ProductPage(items=[]))

    async def products_get(self, *, sku: str) -> Reply[models.Product]:
        self.calls.append(("products.get", {"sku": sku}))
        product = models.Product(sku=sku, name="Mug", description="", unit_price=EUR, stock_available=3)
        return Reply(200, product)

    async def orders_create(
        self, *, token: TokenInfo, body: models.CreateOrderRequest, idempotency_key: str
    ) -> Reply[models.Order]:
        self.calls.append(
            ("orders.create", {"token": token, "body": body, "idempotency_key": idempotency_key})
        )
        return Reply(201, _order(ORDER_ID), {"Location": f"/v1/orders/{ORDER_ID}"})

    async def orders_list(
        self,
        *,
        token: TokenInfo,
        page_size: int,
        page_token: str | None,
        status: Literal["PENDING", "PAID", "CANCELLED"] | None,
    ) -> Reply[models.OrderPage]:
        self.calls.append(
            ("orders.list", {"page_size": page_size, "page_token": page_token, "status": status})
        )
        return Reply(200, models.OrderPage(items=[_order(ORDER_ID, status or "PAID")], next_page_token="n"))

    async def orders_get(self, *, token: TokenInfo, order_id: UUID) -> Reply[models.Order]:
        self.calls.append(("orders.get", {"order_id": order_id}))
        return Reply(200, _order(order_id))

    async def orders_cancel(self, *, token: TokenInfo, order_id: UUID) -> Reply[models.Order]:
        self.calls.append(("orders.cancel", {"order_id": order_id}))
        return Reply(200, _order(order_id, "CANCELLED"))

    async def orders_payment(self, *, token: TokenInfo, order_id: UUID) -> Reply[models.Payment]:
        self.calls.append(("orders.payment", {"order_id": order_id}))
        payment = models.Payment(
            id=uuid4(),
            order_id=order_id,
            status="SUCCEEDED",
            amount=EUR,
            attempts=1,
            created_at=NOW,
            updated_at=NOW,
        )
        return Reply(200, payment)

    async def notifications_list(
        self, *, token: TokenInfo, page_size: int, page_token: str | None, order_id: UUID | None
    ) -> Reply[models.NotificationPage]:
        self.calls.append(("notifications.list", {"page_size": page_size, "order_id": order_id}))
        return Reply(200, models.NotificationPage(items=[]))

    async def health_live(self) -> Reply[models.Health]:
        self.calls.append(("health.live", {}))
        return Reply(200, models.Health(status="ok"))

    async def health_ready(self) -> Reply[models.Readiness]:
        self.calls.append(("health.ready", {}))
        checks = models.ReadinessChecks(orders="SERVING", payments="NOT_SERVING", notifications="UNKNOWN")
        return Reply(503, models.Readiness(status="not_ready", checks=checks))


HEADERS: dict[str, str] = {}
TOKEN = {"sub": "5d2c1b0a-9e8f-4a7b-8c6d-5e4f3a2b1c0d", "role": "customer"}


@pytest.fixture
def fake() -> FakeOperations:
    return FakeOperations()


@pytest.fixture
def routes(fake: FakeOperations) -> Mapping[str, Any]:
    operations: Operations = fake  # the static check that FakeOperations implements every Protocol
    HEADERS.clear()
    return route_table(operations, lambda: HEADERS)


def _spec_operation_ids() -> set[str]:
    return {
        op["operationId"] for item in SPEC["paths"].values() for op in item.values() if "operationId" in op
    }


def test_route_table_and_protocols_cover_every_operation_id(routes: Mapping[str, Any]) -> None:
    spec_ids = _spec_operation_ids()
    assert set(OPERATION_IDS) == spec_ids == set(routes)
    protocols = {name for name, obj in vars(operations).items() if inspect.isclass(obj) and name[0].isupper()}
    for operation_id in spec_ids:
        assert "".join(p.capitalize() for p in operation_id.replace(".", "_").split("_")) in protocols
        assert operation_id.replace(".", "_") in dir(Operations)


async def test_create_order_parses_the_body_and_reads_the_idempotency_header(
    routes: Mapping[str, Any], fake: FakeOperations
) -> None:
    HEADERS["Idempotency-Key"] = "key-12345678"
    body = {"items": [{"sku": "MUG-001", "quantity": 2}], "payment_token": "tok_success"}

    rendered, status, headers = await routes["orders.create"](body=body, token_info=TOKEN)

    assert status == 201
    assert headers == {"Content-Type": "application/json", "Location": f"/v1/orders/{ORDER_ID}"}
    assert rendered["id"] == str(ORDER_ID)
    assert rendered["total"] == {"amount_minor": 1250, "currency": "EUR"}
    assert "cancellation_reason" not in rendered  # absent, not null, when not cancelled
    (name, args), *_ = fake.calls
    assert name == "orders.create"
    assert args["idempotency_key"] == "key-12345678"
    assert args["token"] == TOKEN
    assert args["body"] == models.CreateOrderRequest(
        items=[models.OrderLineInput(sku="MUG-001", quantity=2)], payment_token="tok_success"
    )


async def test_path_uuids_are_parsed(routes: Mapping[str, Any], fake: FakeOperations) -> None:
    for operation_id in ("orders.get", "orders.cancel", "orders.payment"):
        rendered, status, _ = await routes[operation_id](token_info=TOKEN, order_id=str(ORDER_ID))
        assert status == 200
    assert [args["order_id"] for _, args in fake.calls] == [ORDER_ID] * 3
    assert rendered["order_id"] == str(ORDER_ID)


async def test_a_malformed_uuid_is_an_invalid_parameter_and_reaches_no_handler(
    routes: Mapping[str, Any], fake: FakeOperations
) -> None:
    with pytest.raises(InvalidParameter) as raised:
        await routes["orders.get"](token_info=TOKEN, order_id="not-a-uuid")
    assert raised.value.name == "order_id"
    assert "'not-a-uuid' is not a UUID" in raised.value.detail
    with pytest.raises(InvalidParameter, match="order_id"):
        await routes["notifications.list"](token_info=TOKEN, order_id="zzz")
    assert fake.calls == []


async def test_a_body_the_models_reject_is_an_invalid_parameter(
    routes: Mapping[str, Any], fake: FakeOperations
) -> None:
    with pytest.raises(InvalidParameter) as raised:
        await routes["auth.register"](body={"email": "not-an-email", "password": "correct horse battery"})
    assert raised.value.name == "email"
    assert "email" in raised.value.detail
    assert fake.calls == []


async def test_query_defaults_and_filters_reach_the_handler(
    routes: Mapping[str, Any], fake: FakeOperations
) -> None:
    await routes["orders.list"](token_info=TOKEN)
    await routes["orders.list"](token_info=TOKEN, page_size=5, page_token="abc", status="CANCELLED")
    await routes["products.list"]()
    assert [args for _, args in fake.calls] == [
        {"page_size": 20, "page_token": None, "status": None},
        {"page_size": 5, "page_token": "abc", "status": "CANCELLED"},
        {"page_size": 20, "page_token": None},
    ]


async def test_a_reply_status_other_than_200_is_kept(routes: Mapping[str, Any]) -> None:
    rendered, status, headers = await routes["health.ready"]()
    assert status == 503
    assert rendered == {
        "status": "not_ready",
        "checks": {"orders": "SERVING", "payments": "NOT_SERVING", "notifications": "UNKNOWN"},
    }
    assert headers == {"Content-Type": "application/json"}


async def test_public_operations_take_no_token(routes: Mapping[str, Any]) -> None:
    for operation_id in ("auth.register", "auth.login", "products.list", "products.get", "health.live"):
        assert "token_info" not in inspect.signature(routes[operation_id]).parameters, operation_id
    for operation_id in ("orders.create", "orders.get", "orders.list", "notifications.list"):
        assert "token_info" in inspect.signature(routes[operation_id]).parameters, operation_id

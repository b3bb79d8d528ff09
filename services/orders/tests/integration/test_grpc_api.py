"""The gRPC API of the running Order Service: status codes with clear messages for bad input, nothing
written when a request is refused, another customer's order indistinguishable from an unknown one,
and the standard health and reflection services."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast
from uuid import uuid4

import grpc
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from sqlalchemy import func, select

from ecommerce.common.v1 import common_pb2
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from orders.adapters import tables
from orders.bootstrap import OrderService, OrdersSettings, bootstrap

ADA = common_pb2.Caller(user_id=str(uuid4()), role=common_pb2.ROLE_CUSTOMER)
BOB = common_pb2.Caller(user_id=str(uuid4()), role=common_pb2.ROLE_CUSTOMER)
ADMIN = common_pb2.Caller(user_id=str(uuid4()), role=common_pb2.ROLE_ADMIN)


@pytest_asyncio.fixture
async def service(database_url: str, catalog_file: Path, vhost_url: str) -> AsyncIterator[OrderService]:
    settings = OrdersSettings(
        database_url=database_url, grpc_bind="127.0.0.1:0", catalog_file=catalog_file, amqp_url=vhost_url
    )
    service = bootstrap(settings)
    await service.start()
    yield service
    await service.stop()


@pytest_asyncio.fixture
async def channel(service: OrderService) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        yield channel


async def _written(service: OrderService) -> tuple[int, ...]:
    async with service.engine.connect() as conn:
        counts = [
            (await conn.execute(select(func.count()).select_from(t))).scalar_one()
            for t in (tables.orders, tables.order_lines, tables.idempotency_keys, tables.outbox)
        ]
        stock = (await conn.execute(select(func.sum(tables.products.c.stock_available)))).scalar_one()
        return (*counts, stock)


def _create(**changes: object) -> orders_pb2.CreateOrderRequest:
    request = orders_pb2.CreateOrderRequest(
        caller=ADA,
        idempotency_key="key-" + uuid4().hex[:12],
        items=[orders_pb2.OrderLineInput(sku="MUG-001", quantity=1)],
        payment_token="tok_success",
        customer_email="ada@example.com",
    )
    for field, value in changes.items():
        if field == "items":
            del request.items[:]
            request.items.extend(value)  # type: ignore[arg-type]
        elif field == "caller":
            request.caller.CopyFrom(value)  # type: ignore[arg-type]
        else:
            setattr(request, field, value)
    return request


Line = orders_pb2.OrderLineInput


@pytest.mark.parametrize(
    ("changes", "code", "message"),
    [
        ({"items": []}, grpc.StatusCode.INVALID_ARGUMENT, "at least one item"),
        (
            {"items": [Line(sku="MUG-001", quantity=0)]},
            grpc.StatusCode.INVALID_ARGUMENT,
            "quantity must be between",
        ),
        ({"items": [Line(sku="MUG-001", quantity=-2)]}, grpc.StatusCode.INVALID_ARGUMENT, "got -2"),
        ({"items": [Line(sku="MUG-001", quantity=101)]}, grpc.StatusCode.INVALID_ARGUMENT, "got 101"),
        (
            {"items": [Line(sku="NOPE-404", quantity=1)]},
            grpc.StatusCode.NOT_FOUND,
            "product NOPE-404 does not exist",
        ),
        (
            {"items": [Line(sku="LTD-001", quantity=11)]},
            grpc.StatusCode.FAILED_PRECONDITION,
            "not enough stock",
        ),
        ({"idempotency_key": "short"}, grpc.StatusCode.INVALID_ARGUMENT, "idempotency_key must be"),
        ({"payment_token": "TOK!"}, grpc.StatusCode.INVALID_ARGUMENT, "payment_token must be"),
        ({"customer_email": "nobody"}, grpc.StatusCode.INVALID_ARGUMENT, "customer_email must be"),
        (
            {"caller": common_pb2.Caller(user_id="42", role=common_pb2.ROLE_CUSTOMER)},
            grpc.StatusCode.INVALID_ARGUMENT,
            "caller.user_id must be a UUID",
        ),
        (
            {"caller": common_pb2.Caller(user_id=str(uuid4()))},
            grpc.StatusCode.INVALID_ARGUMENT,
            "caller.role",
        ),
    ],
)
async def test_bad_create_requests_get_a_clear_status_and_write_nothing(
    service: OrderService,
    channel: grpc.aio.Channel,
    changes: dict[str, object],
    code: grpc.StatusCode,
    message: str,
) -> None:
    before = await _written(service)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await orders_pb2_grpc.OrderServiceStub(channel).CreateOrder(_create(**changes))
    assert raised.value.code() == code
    assert message in (raised.value.details() or "")
    assert await _written(service) == before


async def test_reusing_a_key_for_another_request_is_already_exists(channel: grpc.aio.Channel) -> None:
    stub = orders_pb2_grpc.OrderServiceStub(channel)
    first = _create()
    await stub.CreateOrder(first)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreateOrder(_create(idempotency_key=first.idempotency_key, payment_token="tok_declined"))
    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
    replay = await stub.CreateOrder(first)
    assert replay.replayed is True


async def test_another_customers_order_answers_like_an_unknown_one(
    service: OrderService, channel: grpc.aio.Channel
) -> None:
    stub = orders_pb2_grpc.OrderServiceStub(channel)
    order = (await stub.CreateOrder(_create())).order
    unknown = str(uuid4())
    before = await _written(service)

    details = []
    for order_id in (order.id, unknown):
        for call in (
            stub.GetOrder(orders_pb2.GetOrderRequest(caller=BOB, order_id=order_id)),
            stub.CancelOrder(orders_pb2.CancelOrderRequest(caller=BOB, order_id=order_id)),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await call
            assert raised.value.code() == grpc.StatusCode.NOT_FOUND
            details.append((raised.value.details() or "").replace(order_id, "<id>"))
    assert len(set(details)) == 1
    assert (await stub.ListOrders(orders_pb2.ListOrdersRequest(caller=BOB))).orders == []
    assert await _written(service) == before
    admin_view = await stub.GetOrder(orders_pb2.GetOrderRequest(caller=ADMIN, order_id=order.id))
    assert admin_view.order.id == order.id


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (orders_pb2.ListOrdersRequest(caller=ADA, page_size=101), "page_size must be between 1 and 100"),
        (orders_pb2.ListOrdersRequest(caller=ADA, page_size=-1), "page_size must be between 1 and 100"),
        (orders_pb2.ListOrdersRequest(caller=ADA, page_token="garbage!"), "page_token"),
        (orders_pb2.ListOrdersRequest(caller=ADA, status=42), "not an order status"),  # type: ignore[arg-type]
    ],
)
async def test_bad_list_requests_are_invalid_argument(
    channel: grpc.aio.Channel, request_: orders_pb2.ListOrdersRequest, message: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await orders_pb2_grpc.OrderServiceStub(channel).ListOrders(request_)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in (raised.value.details() or "")


async def test_malformed_order_ids_are_invalid_argument(channel: grpc.aio.Channel) -> None:
    stub = orders_pb2_grpc.OrderServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.GetOrder(orders_pb2.GetOrderRequest(caller=ADA, order_id="not-a-uuid"))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "order_id must be a UUID" in (raised.value.details() or "")


async def test_cancelling_twice_is_failed_precondition(channel: grpc.aio.Channel) -> None:
    stub = orders_pb2_grpc.OrderServiceStub(channel)
    order = (await stub.CreateOrder(_create())).order
    await stub.CancelOrder(orders_pb2.CancelOrderRequest(caller=ADA, order_id=order.id))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CancelOrder(orders_pb2.CancelOrderRequest(caller=ADA, order_id=order.id))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "already cancelled" in (raised.value.details() or "")


async def test_catalog_is_served_and_paged(channel: grpc.aio.Channel) -> None:
    stub = orders_pb2_grpc.OrderServiceStub(channel)
    first = await stub.ListProducts(orders_pb2.ListProductsRequest(page_size=2))
    rest = await stub.ListProducts(
        orders_pb2.ListProductsRequest(page_size=2, page_token=first.next_page_token)
    )
    assert [p.sku for p in [*first.products, *rest.products]] == ["LTD-001", "MUG-001", "TEE-042"]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.GetProduct(orders_pb2.GetProductRequest(sku="NOPE-404"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_health_and_reflection(channel: grpc.aio.Channel) -> None:
    health: Any = health_pb2_grpc.HealthStub(channel)  # the health stubs' types describe sync channels only
    reply = await health.Check(health_pb2.HealthCheckRequest(service="ecommerce.orders.v1.OrderService"))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    # The whole server turns SERVING once the payment-event consumer consumes.
    for _ in range(300):
        if (await health.Check(health_pb2.HealthCheckRequest(service=""))).status == reply.status:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the server never reported ready")

    reflection: Any = reflection_pb2_grpc.ServerReflectionStub(cast(grpc.Channel, channel))  # same
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    async for response in reflection.ServerReflectionInfo(iter([request])):
        names = {s.name for s in response.list_services_response.service}
        assert "ecommerce.orders.v1.OrderService" in names
        assert "grpc.health.v1.Health" in names

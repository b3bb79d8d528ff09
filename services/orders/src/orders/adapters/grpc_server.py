"""The gRPC face of the Order Service: proto messages in, domain calls, proto messages out.

Wire formats (UUIDs, patterns) are checked here; business rules in the domain. Every error is mapped
to a status code once, in ``STATUS``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from datetime import datetime
from typing import Any, TypeAlias

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from ecommerce.common.v1 import common_pb2
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce.rest.constraints import (
    CREATE_ORDER_REQUEST_PAYMENT_TOKEN_PATTERN,
    HEADER_IDEMPOTENCY_KEY_PATTERN,
    USER_EMAIL_MAX_LENGTH,
)
from ecommerce_runtime.callers import caller_of, uuid_field
from ecommerce_runtime.grpc_errors import InvalidArgument, StatusMapper
from ecommerce_runtime.tracing import set_traceparent
from orders.domain import (
    CancellationReason,
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidOrder,
    InvalidTransition,
    LineRequest,
    Money,
    Order,
    OrderNotFound,
    OrderStatus,
    Product,
    UnknownProduct,
)
from orders.handlers import OrderHandlers, PlaceOrder

STATUS = StatusMapper(
    {
        InvalidOrder: grpc.StatusCode.INVALID_ARGUMENT,
        UnknownProduct: grpc.StatusCode.NOT_FOUND,
        OrderNotFound: grpc.StatusCode.NOT_FOUND,
        InsufficientStock: grpc.StatusCode.FAILED_PRECONDITION,
        InvalidTransition: grpc.StatusCode.FAILED_PRECONDITION,
        IdempotencyKeyReused: grpc.StatusCode.ALREADY_EXISTS,
    }
)
# The gateway checked these against the spec already; the same patterns guard the service's own edge.
IDEMPOTENCY_KEY = re.compile(HEADER_IDEMPOTENCY_KEY_PATTERN)
PAYMENT_TOKEN = re.compile(CREATE_ORDER_REQUEST_PAYMENT_TOKEN_PATTERN)
# `format: email` in the spec: a local part of at most 64 characters (RFC 5321) @ a domain; the
# lookahead holds the whole address to the spec's maxLength.
EMAIL = re.compile(rf"^(?=.{{3,{USER_EMAIL_MAX_LENGTH}}}$)[^@\s]{{1,64}}@[^@\s]+$")
STATUS_TO_PB = {
    OrderStatus.PENDING: orders_pb2.ORDER_STATUS_PENDING,
    OrderStatus.PAID: orders_pb2.ORDER_STATUS_PAID,
    OrderStatus.CANCELLED: orders_pb2.ORDER_STATUS_CANCELLED,
}
STATUS_FROM_PB = {pb: status for status, pb in STATUS_TO_PB.items()}
REASON_TO_PB = {
    CancellationReason.CUSTOMER_REQUEST: orders_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST,
    CancellationReason.PAYMENT_DECLINED: orders_pb2.CANCELLATION_REASON_PAYMENT_DECLINED,
}

Context: TypeAlias = grpc.aio.ServicerContext  # the generated stubs parameterize it per method


def _matching(name: str, value: str, pattern: re.Pattern[str], expected: str | None = None) -> str:
    if not pattern.fullmatch(value):
        expected = expected or f"a string matching {pattern.pattern}"
        raise InvalidArgument(f"{name} must be {expected}, got {value[:64]!r}")
    return value


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _money(money: Money) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=money.amount_minor, currency=money.currency)


def order_pb(order: Order) -> orders_pb2.Order:
    return orders_pb2.Order(
        id=str(order.id),
        user_id=str(order.user_id),
        status=STATUS_TO_PB[order.status],
        cancellation_reason=REASON_TO_PB.get(
            order.cancellation_reason, orders_pb2.CANCELLATION_REASON_UNSPECIFIED
        )
        if order.cancellation_reason
        else orders_pb2.CANCELLATION_REASON_UNSPECIFIED,
        items=[
            orders_pb2.OrderLine(
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
                unit_price=_money(line.unit_price),
                line_total=_money(line.line_total),
            )
            for line in order.lines
        ],
        total=_money(order.total),
        create_time=_timestamp(order.created_at),
        update_time=_timestamp(order.updated_at),
    )


def product_pb(product: Product) -> orders_pb2.Product:
    return orders_pb2.Product(
        sku=product.sku,
        name=product.name,
        description=product.description,
        unit_price=_money(product.unit_price),
        stock_available=product.stock_available,
    )


def _adopt_trace(context: Context[Any, Any]) -> None:
    metadata = dict(context.invocation_metadata() or ())
    value = metadata.get("traceparent")
    set_traceparent(value if isinstance(value, str) else None)


class OrderServicer(orders_pb2_grpc.OrderServiceServicer):
    def __init__(self, handlers: OrderHandlers) -> None:
        self._handlers = handlers

    @STATUS
    async def CreateOrder(
        self,
        request: orders_pb2.CreateOrderRequest,
        context: Context[orders_pb2.CreateOrderRequest, Awaitable[orders_pb2.CreateOrderResponse]],
    ) -> orders_pb2.CreateOrderResponse:
        _adopt_trace(context)
        command = PlaceOrder(
            caller=caller_of(request.caller),
            idempotency_key=_matching("idempotency_key", request.idempotency_key, IDEMPOTENCY_KEY),
            customer_email=_matching(
                "customer_email",
                request.customer_email,
                EMAIL,
                f"an email address of at most {USER_EMAIL_MAX_LENGTH} characters",
            ),
            payment_token=_matching("payment_token", request.payment_token, PAYMENT_TOKEN),
            lines=[LineRequest(item.sku, item.quantity) for item in request.items],
        )
        placed = await self._handlers.place_order(command)
        return orders_pb2.CreateOrderResponse(order=order_pb(placed.order), replayed=placed.replayed)

    @STATUS
    async def GetOrder(
        self,
        request: orders_pb2.GetOrderRequest,
        context: Context[orders_pb2.GetOrderRequest, Awaitable[orders_pb2.GetOrderResponse]],
    ) -> orders_pb2.GetOrderResponse:
        caller = caller_of(request.caller)
        order = await self._handlers.get_order(caller, uuid_field("order_id", request.order_id))
        return orders_pb2.GetOrderResponse(order=order_pb(order))

    @STATUS
    async def ListOrders(
        self,
        request: orders_pb2.ListOrdersRequest,
        context: Context[orders_pb2.ListOrdersRequest, Awaitable[orders_pb2.ListOrdersResponse]],
    ) -> orders_pb2.ListOrdersResponse:
        caller = caller_of(request.caller)
        if request.status and request.status not in STATUS_FROM_PB:
            raise InvalidArgument(f"status {request.status} is not an order status")
        page = await self._handlers.list_orders(
            caller,
            status=STATUS_FROM_PB.get(request.status),
            size=request.page_size,
            token=request.page_token,
        )
        return orders_pb2.ListOrdersResponse(
            orders=[order_pb(o) for o in page.items], next_page_token=page.next_page_token
        )

    @STATUS
    async def CancelOrder(
        self,
        request: orders_pb2.CancelOrderRequest,
        context: Context[orders_pb2.CancelOrderRequest, Awaitable[orders_pb2.CancelOrderResponse]],
    ) -> orders_pb2.CancelOrderResponse:
        _adopt_trace(context)
        caller = caller_of(request.caller)
        order = await self._handlers.cancel_order(caller, uuid_field("order_id", request.order_id))
        return orders_pb2.CancelOrderResponse(order=order_pb(order))

    @STATUS
    async def ListProducts(
        self,
        request: orders_pb2.ListProductsRequest,
        context: Context[orders_pb2.ListProductsRequest, Awaitable[orders_pb2.ListProductsResponse]],
    ) -> orders_pb2.ListProductsResponse:
        page = await self._handlers.list_products(size=request.page_size, token=request.page_token)
        return orders_pb2.ListProductsResponse(
            products=[product_pb(p) for p in page.items], next_page_token=page.next_page_token
        )

    @STATUS
    async def GetProduct(
        self,
        request: orders_pb2.GetProductRequest,
        context: Context[orders_pb2.GetProductRequest, Awaitable[orders_pb2.GetProductResponse]],
    ) -> orders_pb2.GetProductResponse:
        return orders_pb2.GetProductResponse(
            product=product_pb(await self._handlers.get_product(request.sku))
        )

"""Every RPC of every internal service makes a grpc.aio round trip through the generated stubs.

The servicers here are test doubles that echo their input; what is under test is the generated code:
messages serialize both ways, the async stubs and servicer bases fit together, status codes travel.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable

import grpc
import grpc.aio
import pytest

from ecommerce.common.v1 import common_pb2
from ecommerce.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from ecommerce.orders.v1 import orders_pb2, orders_pb2_grpc
from ecommerce.payments.v1 import payments_pb2, payments_pb2_grpc

ORDER_ID = "0b4f3c1e-8d4a-4f8e-9a51-2f1f6e9c7a10"
USER_ID = "5d2c1b0a-9e8f-4a7b-8c6d-5e4f3a2b1c0d"
EUR_12_50 = common_pb2.Money(amount_minor=1250, currency="EUR")
CALLER = common_pb2.Caller(user_id=USER_ID, role=common_pb2.ROLE_CUSTOMER)

Context = grpc.aio.ServicerContext


def _order(order_id: str, user_id: str, status: orders_pb2.OrderStatus.ValueType) -> orders_pb2.Order:
    line = orders_pb2.OrderLine(sku="MUG-001", name="Mug", quantity=2, unit_price=EUR_12_50)
    line.line_total.CopyFrom(common_pb2.Money(amount_minor=2500, currency="EUR"))
    order = orders_pb2.Order(id=order_id, user_id=user_id, status=status, items=[line])
    order.total.CopyFrom(line.line_total)
    order.create_time.FromSeconds(1_790_000_000)
    return order


class EchoOrders(orders_pb2_grpc.OrderServiceServicer):
    async def CreateOrder(
        self,
        request: orders_pb2.CreateOrderRequest,
        context: Context[orders_pb2.CreateOrderRequest, Awaitable[orders_pb2.CreateOrderResponse]],
    ) -> orders_pb2.CreateOrderResponse:
        order = _order(ORDER_ID, request.caller.user_id, orders_pb2.ORDER_STATUS_PENDING)
        order.items[0].quantity = request.items[0].quantity
        return orders_pb2.CreateOrderResponse(order=order, replayed=request.idempotency_key == "seen-key")

    async def GetOrder(
        self,
        request: orders_pb2.GetOrderRequest,
        context: Context[orders_pb2.GetOrderRequest, Awaitable[orders_pb2.GetOrderResponse]],
    ) -> orders_pb2.GetOrderResponse:
        if request.order_id != ORDER_ID:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"order {request.order_id} not found")
        return orders_pb2.GetOrderResponse(order=_order(ORDER_ID, USER_ID, orders_pb2.ORDER_STATUS_PAID))

    async def ListOrders(
        self,
        request: orders_pb2.ListOrdersRequest,
        context: Context[orders_pb2.ListOrdersRequest, Awaitable[orders_pb2.ListOrdersResponse]],
    ) -> orders_pb2.ListOrdersResponse:
        orders = [_order(ORDER_ID, request.caller.user_id, request.status)] * request.page_size
        return orders_pb2.ListOrdersResponse(orders=orders, next_page_token=request.page_token + "+1")

    async def CancelOrder(
        self,
        request: orders_pb2.CancelOrderRequest,
        context: Context[orders_pb2.CancelOrderRequest, Awaitable[orders_pb2.CancelOrderResponse]],
    ) -> orders_pb2.CancelOrderResponse:
        order = _order(request.order_id, request.caller.user_id, orders_pb2.ORDER_STATUS_CANCELLED)
        order.cancellation_reason = orders_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST
        return orders_pb2.CancelOrderResponse(order=order)

    async def ListProducts(
        self,
        request: orders_pb2.ListProductsRequest,
        context: Context[orders_pb2.ListProductsRequest, Awaitable[orders_pb2.ListProductsResponse]],
    ) -> orders_pb2.ListProductsResponse:
        product = orders_pb2.Product(sku="MUG-001", name="Mug", unit_price=EUR_12_50, stock_available=7)
        return orders_pb2.ListProductsResponse(products=[product] * request.page_size)

    async def GetProduct(
        self,
        request: orders_pb2.GetProductRequest,
        context: Context[orders_pb2.GetProductRequest, Awaitable[orders_pb2.GetProductResponse]],
    ) -> orders_pb2.GetProductResponse:
        return orders_pb2.GetProductResponse(product=orders_pb2.Product(sku=request.sku, name="Mug"))


class EchoPayments(payments_pb2_grpc.PaymentServiceServicer):
    async def GetPayment(
        self,
        request: payments_pb2.GetPaymentRequest,
        context: Context[payments_pb2.GetPaymentRequest, Awaitable[payments_pb2.GetPaymentResponse]],
    ) -> payments_pb2.GetPaymentResponse:
        payment = payments_pb2.Payment(
            order_id=request.order_id,
            user_id=request.caller.user_id,
            status=payments_pb2.PAYMENT_STATUS_SUCCEEDED,
            amount=EUR_12_50,
            attempts=3,
            provider_reference="sim_ch_1",
        )
        return payments_pb2.GetPaymentResponse(payment=payment)


class EchoNotifications(notifications_pb2_grpc.NotificationServiceServicer):
    async def ListNotifications(
        self,
        request: notifications_pb2.ListNotificationsRequest,
        context: Context[
            notifications_pb2.ListNotificationsRequest, Awaitable[notifications_pb2.ListNotificationsResponse]
        ],
    ) -> notifications_pb2.ListNotificationsResponse:
        note = notifications_pb2.Notification(
            order_id=request.order_id,
            user_id=request.caller.user_id,
            channel=notifications_pb2.CHANNEL_EMAIL,
            template=notifications_pb2.TEMPLATE_ORDER_PAID,
            status=notifications_pb2.DELIVERY_STATUS_SENT,
            recipient="ada@example.com",
        )
        return notifications_pb2.ListNotificationsResponse(notifications=[note], next_page_token="")


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    server = grpc.aio.server()
    orders_pb2_grpc.add_OrderServiceServicer_to_server(EchoOrders(), server)
    payments_pb2_grpc.add_PaymentServiceServicer_to_server(EchoPayments(), server)
    notifications_pb2_grpc.add_NotificationServiceServicer_to_server(EchoNotifications(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as chan:
        yield chan
    await server.stop(grace=None)


def test_the_round_trips_below_cover_every_rpc() -> None:
    rpcs = {
        f"{service.name}.{method.name}"
        for module in (orders_pb2, payments_pb2, notifications_pb2)
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    servicers = {
        "OrderService": EchoOrders,
        "PaymentService": EchoPayments,
        "NotificationService": EchoNotifications,
    }
    covered = {
        f"{service}.{name}"
        for service, servicer in servicers.items()
        for name in vars(servicer)
        if name[0].isupper()
    }
    assert rpcs == covered


async def test_order_service_round_trips(channel: grpc.aio.Channel) -> None:
    stub = orders_pb2_grpc.OrderServiceStub(channel)

    created = await stub.CreateOrder(
        orders_pb2.CreateOrderRequest(
            caller=CALLER,
            idempotency_key="seen-key",
            items=[orders_pb2.OrderLineInput(sku="MUG-001", quantity=3)],
            payment_token="tok_success",
            customer_email="ada@example.com",
        )
    )
    assert created.replayed is True
    assert created.order.user_id == USER_ID
    assert created.order.items[0].quantity == 3
    assert created.order.total == common_pb2.Money(amount_minor=2500, currency="EUR")
    assert created.order.create_time.ToSeconds() == 1_790_000_000

    got = await stub.GetOrder(orders_pb2.GetOrderRequest(caller=CALLER, order_id=ORDER_ID))
    assert got.order.status == orders_pb2.ORDER_STATUS_PAID

    listed = await stub.ListOrders(
        orders_pb2.ListOrdersRequest(
            caller=CALLER, page_size=2, page_token="p", status=orders_pb2.ORDER_STATUS_CANCELLED
        )
    )
    assert [o.status for o in listed.orders] == [orders_pb2.ORDER_STATUS_CANCELLED] * 2
    assert listed.next_page_token == "p+1"

    cancelled = await stub.CancelOrder(orders_pb2.CancelOrderRequest(caller=CALLER, order_id=ORDER_ID))
    assert cancelled.order.cancellation_reason == orders_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST

    products = await stub.ListProducts(orders_pb2.ListProductsRequest(page_size=3))
    assert len(products.products) == 3
    assert products.products[0].unit_price.amount_minor == 1250

    product = await stub.GetProduct(orders_pb2.GetProductRequest(sku="TEE-042"))
    assert product.product.sku == "TEE-042"


async def test_status_codes_travel_through_the_stubs(channel: grpc.aio.Channel) -> None:
    stub = orders_pb2_grpc.OrderServiceStub(channel)
    unknown = "11111111-2222-3333-4444-555555555555"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.GetOrder(orders_pb2.GetOrderRequest(caller=CALLER, order_id=unknown))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert raised.value.details() == f"order {unknown} not found"


async def test_payment_service_round_trips(channel: grpc.aio.Channel) -> None:
    stub = payments_pb2_grpc.PaymentServiceStub(channel)
    reply = await stub.GetPayment(payments_pb2.GetPaymentRequest(caller=CALLER, order_id=ORDER_ID))
    assert reply.payment.order_id == ORDER_ID
    assert reply.payment.status == payments_pb2.PAYMENT_STATUS_SUCCEEDED
    assert reply.payment.attempts == 3
    assert reply.payment.amount == EUR_12_50


async def test_notification_service_round_trips(channel: grpc.aio.Channel) -> None:
    stub = notifications_pb2_grpc.NotificationServiceStub(channel)
    reply = await stub.ListNotifications(
        notifications_pb2.ListNotificationsRequest(caller=CALLER, page_size=10, order_id=ORDER_ID)
    )
    (note,) = reply.notifications
    assert (note.order_id, note.user_id) == (ORDER_ID, USER_ID)
    assert note.template == notifications_pb2.TEMPLATE_ORDER_PAID
    assert note.status == notifications_pb2.DELIVERY_STATUS_SENT
    assert reply.next_page_token == ""

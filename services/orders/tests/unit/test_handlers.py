"""Use cases with in-memory fakes: what is stored and what events are recorded, or that nothing is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from orders_fakes import Clock, FakeStore, FakeUnitOfWork, store_with

from ecommerce.events import models
from ecommerce.events.channels import EventType
from ecommerce_runtime.callers import Caller
from ecommerce_runtime.messages import IncomingEvent
from ecommerce_runtime.pagination import InvalidPageRequest
from orders.domain import (
    CancellationReason,
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidOrder,
    LineRequest,
    OrderCancelled,
    OrderNotFound,
    OrderPaid,
    OrderPlaced,
    OrderStatus,
    UnknownProduct,
)
from orders.handlers import OrderHandlers, PlaceOrder

ADA, BOB = Caller(uuid4()), Caller(uuid4())
ADMIN = Caller(uuid4(), is_admin=True)


def handlers_for(store: FakeStore) -> OrderHandlers:
    return OrderHandlers(lambda: FakeUnitOfWork(store), Clock())


def command(*lines: tuple[str, int], caller: Caller = ADA, key: str = "key-0000001") -> PlaceOrder:
    return PlaceOrder(caller, key, "ada@example.com", "tok_success", [LineRequest(s, q) for s, q in lines])


def payment_event(
    payload: models.PaymentSucceeded | models.PaymentFailed, event_id: UUID | None = None
) -> IncomingEvent:
    event_type: EventType = (
        "payment.succeeded" if isinstance(payload, models.PaymentSucceeded) else "payment.failed"
    )
    return IncomingEvent(
        event_id=event_id or uuid4(),
        event_type=event_type,
        payload=payload,
        correlation_id=str(payload.order_id),
        occurred_at=datetime.now(UTC),
        producer="payments",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        delivery_count=1,
    )


def succeeded(order_id: UUID) -> models.PaymentSucceeded:
    return models.PaymentSucceeded(
        payment_id=uuid4(),
        order_id=order_id,
        user_id=ADA.user_id,
        customer_email="ada@example.com",
        amount=models.Money(amount_minor=1250, currency="EUR"),
        provider_reference="sim_1",
        attempts=1,
        succeeded_at=datetime.now(UTC),
    )


def failed(order_id: UUID) -> models.PaymentFailed:
    return models.PaymentFailed(
        payment_id=uuid4(),
        order_id=order_id,
        user_id=ADA.user_id,
        customer_email="ada@example.com",
        amount=models.Money(amount_minor=1250, currency="EUR"),
        reason="card_declined",
        message="The card was declined.",
        attempts=1,
        failed_at=datetime.now(UTC),
    )


async def test_placing_an_order_reserves_stock_and_records_order_created() -> None:
    store = store_with(("MUG-001", 1250, 10), ("TEE-042", 2400, 5))
    placed = await handlers_for(store).place_order(command(("MUG-001", 3), ("TEE-042", 1)))

    assert placed.replayed is False
    assert placed.order.total.amount_minor == 3 * 1250 + 2400
    assert store.products["MUG-001"].stock_available == 7
    assert store.products["TEE-042"].stock_available == 4
    assert store.orders[placed.order.id].status is OrderStatus.PENDING
    assert [type(e) for e in store.outbox] == [OrderPlaced]


async def test_the_same_key_and_request_returns_the_original_order_without_a_second_reservation() -> None:
    store = store_with(("MUG-001", 1250, 10))
    handlers = handlers_for(store)
    first = await handlers.place_order(command(("MUG-001", 2)))
    again = await handlers.place_order(command(("MUG-001", 2)))

    assert again.replayed is True
    assert again.order.id == first.order.id
    assert store.products["MUG-001"].stock_available == 8
    assert len(store.orders) == 1
    assert len(store.outbox) == 1


async def test_the_same_key_with_another_request_is_refused_and_writes_nothing() -> None:
    store = store_with(("MUG-001", 1250, 10))
    handlers = handlers_for(store)
    await handlers.place_order(command(("MUG-001", 2)))
    before = store.snapshot()

    with pytest.raises(IdempotencyKeyReused, match="already used for a different request"):
        await handlers.place_order(command(("MUG-001", 3)))

    assert store.snapshot() == before


async def test_keys_are_per_user() -> None:
    store = store_with(("MUG-001", 1250, 10))
    handlers = handlers_for(store)
    ada = await handlers.place_order(command(("MUG-001", 1), caller=ADA))
    bob = await handlers.place_order(command(("MUG-001", 1), caller=BOB))
    assert ada.order.id != bob.order.id
    assert bob.replayed is False


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        ((), InvalidOrder),
        ((("MUG-001", 0),), InvalidOrder),
        ((("MUG-001", 101),), InvalidOrder),
        ((("MUG-001", 1), ("NOPE-404", 1)), UnknownProduct),
        ((("MUG-001", 1), ("LTD-001", 3)), InsufficientStock),
    ],
)
async def test_a_refused_order_writes_nothing(
    lines: tuple[tuple[str, int], ...], error: type[Exception]
) -> None:
    store = store_with(("MUG-001", 1250, 10), ("LTD-001", 15000, 2))
    before = store.snapshot()

    with pytest.raises(error):
        await handlers_for(store).place_order(command(*lines))

    assert store.snapshot() == before  # no order, no reserved stock (not even MUG-001's), no key, no event


async def test_cancelling_releases_stock_and_records_order_cancelled() -> None:
    store = store_with(("MUG-001", 1250, 10))
    handlers = handlers_for(store)
    placed = await handlers.place_order(command(("MUG-001", 4)))

    cancelled = await handlers.cancel_order(ADA, placed.order.id)

    assert cancelled.status is OrderStatus.CANCELLED
    assert store.products["MUG-001"].stock_available == 10
    event = store.outbox[-1]
    assert isinstance(event, OrderCancelled)
    assert event.reason is CancellationReason.CUSTOMER_REQUEST
    assert event.previous_status is OrderStatus.PENDING


async def test_another_customers_order_is_not_found_and_untouched() -> None:
    store = store_with(("MUG-001", 1250, 10))
    handlers = handlers_for(store)
    placed = await handlers.place_order(command(("MUG-001", 1)))
    before = store.snapshot()

    for attempt in (handlers.get_order, handlers.cancel_order):
        with pytest.raises(OrderNotFound, match=f"order {placed.order.id} not found"):
            await attempt(BOB, placed.order.id)
    assert (await handlers.list_orders(BOB, status=None, size=0, token="")).items == []
    assert store.snapshot() == before
    assert (await handlers.get_order(ADMIN, placed.order.id)).id == placed.order.id


async def test_payment_succeeded_marks_paid_once_even_when_delivered_twice() -> None:
    store = store_with(("MUG-001", 1250, 10))
    handlers = handlers_for(store)
    placed = await handlers.place_order(command(("MUG-001", 1)))
    event = payment_event(succeeded(placed.order.id))

    await handlers.payment_succeeded(event, placed.order.id, uuid4())
    await handlers.payment_succeeded(event, placed.order.id, uuid4())

    assert store.orders[placed.order.id].status is OrderStatus.PAID
    assert [type(e) for e in store.outbox] == [OrderPlaced, OrderPaid]


async def test_payment_failed_cancels_and_releases_stock() -> None:
    store = store_with(("MUG-001", 1250, 10))
    handlers = handlers_for(store)
    placed = await handlers.place_order(command(("MUG-001", 6)))

    await handlers.payment_failed(payment_event(failed(placed.order.id)), placed.order.id)

    order = store.orders[placed.order.id]
    assert (order.status, order.cancellation_reason) == (
        OrderStatus.CANCELLED,
        CancellationReason.PAYMENT_DECLINED,
    )
    assert store.products["MUG-001"].stock_available == 10


async def test_a_payment_racing_a_customer_cancellation_leaves_the_order_cancelled() -> None:
    store = store_with(("MUG-001", 1250, 10))
    handlers = handlers_for(store)
    placed = await handlers.place_order(command(("MUG-001", 1)))
    await handlers.cancel_order(ADA, placed.order.id)

    await handlers.payment_succeeded(payment_event(succeeded(placed.order.id)), placed.order.id, uuid4())

    assert store.orders[placed.order.id].status is OrderStatus.CANCELLED
    assert not any(isinstance(e, OrderPaid) for e in store.outbox)
    # order.cancelled (previous_status PENDING) is what makes the payment service refund the charge.
    assert isinstance(store.outbox[-1], OrderCancelled)


async def test_a_payment_event_for_an_unknown_order_is_refused() -> None:
    store = store_with(("MUG-001", 1250, 10))
    unknown = uuid4()
    with pytest.raises(OrderNotFound):
        await handlers_for(store).payment_succeeded(payment_event(succeeded(unknown)), unknown, uuid4())
    assert store.inbox == set()


async def test_orders_are_listed_newest_first_page_by_page_and_filtered() -> None:
    store = store_with(("MUG-001", 1250, 100))
    handlers = handlers_for(store)
    ids = [
        (await handlers.place_order(command(("MUG-001", 1), key=f"key-{i:07}"))).order.id for i in range(5)
    ]
    await handlers.cancel_order(ADA, ids[0])

    seen, token = [], ""
    while True:
        page = await handlers.list_orders(ADA, status=None, size=2, token=token)
        seen += [o.id for o in page.items]
        token = page.next_page_token
        if not token:
            break
    assert seen == ids[::-1]
    cancelled = await handlers.list_orders(ADA, status=OrderStatus.CANCELLED, size=10, token="")
    assert [o.id for o in cancelled.items] == [ids[0]]


@pytest.mark.parametrize(("size", "token"), [(101, ""), (-1, ""), (0, "not-a-token"), (0, "e30")])
async def test_bad_page_requests_are_refused(size: int, token: str) -> None:
    handlers = handlers_for(store_with(("MUG-001", 1250, 1)))
    with pytest.raises(InvalidPageRequest):
        await handlers.list_orders(ADA, status=None, size=size, token=token)


async def test_a_page_token_cannot_be_reused_with_another_filter() -> None:
    store = store_with(("MUG-001", 1250, 100))
    handlers = handlers_for(store)
    for i in range(3):
        await handlers.place_order(command(("MUG-001", 1), key=f"key-{i:07}"))
    page = await handlers.list_orders(ADA, status=None, size=1, token="")
    with pytest.raises(InvalidPageRequest, match="different filter"):
        await handlers.list_orders(ADA, status=OrderStatus.PAID, size=1, token=page.next_page_token)
    with pytest.raises(InvalidPageRequest, match="different filter"):
        await handlers.list_orders(BOB, status=None, size=1, token=page.next_page_token)


async def test_products_are_paged_by_sku() -> None:
    store = store_with(*[(f"SKU-{i:03}", 100, 1) for i in range(5)])
    handlers = handlers_for(store)
    first = await handlers.list_products(size=3, token="")
    second = await handlers.list_products(size=3, token=first.next_page_token)
    assert [p.sku for p in first.items + second.items] == [f"SKU-{i:03}" for i in range(5)]
    assert second.next_page_token == ""


async def test_old_idempotency_keys_are_forgotten_after_the_retention() -> None:
    store = store_with(("MUG-001", 1250, 10))
    clock = Clock()
    handlers = OrderHandlers(lambda: FakeUnitOfWork(store), clock)
    await handlers.place_order(command(("MUG-001", 1)))
    assert await handlers.forget_old_idempotency_keys(timedelta(hours=24)) == 0
    clock.now += timedelta(hours=25)
    assert await handlers.forget_old_idempotency_keys(timedelta(hours=24)) == 1
    assert store.keys == {}

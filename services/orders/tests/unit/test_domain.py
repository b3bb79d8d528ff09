"""The order aggregate: placing, pricing, and the state machine."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from orders.domain import (
    CancellationReason,
    InvalidOrder,
    InvalidTransition,
    LineRequest,
    Money,
    Order,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
    OrderStatus,
    Product,
    UnknownProduct,
)

NOW = datetime(2026, 11, 29, tzinfo=UTC)
CATALOG = {
    "MUG-001": Product("MUG-001", "Mug", "", Money(1250, "EUR"), 10),
    "TEE-042": Product("TEE-042", "Tee", "", Money(2400, "EUR"), 10),
    "USD-001": Product("USD-001", "Import", "", Money(999, "USD"), 10),
}


def place(*lines: tuple[str, int]) -> Order:
    return Order.place(
        order_id=uuid4(),
        user_id=uuid4(),
        customer_email="ada@example.com",
        payment_token="tok_success",
        lines=[LineRequest(sku, qty) for sku, qty in lines],
        catalog=CATALOG,
        now=NOW,
    )


def test_an_order_is_priced_from_the_catalog_and_starts_pending() -> None:
    order = place(("MUG-001", 2), ("TEE-042", 1))
    assert order.status is OrderStatus.PENDING
    assert [line.line_total for line in order.lines] == [Money(2500, "EUR"), Money(2400, "EUR")]
    assert order.total == Money(4900, "EUR")
    assert order.events == [OrderPlaced(order)]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "at least one item"),
        ([("MUG-001", 0)], "quantity must be between 1 and 100, got 0"),
        ([("MUG-001", -3)], "quantity must be between 1 and 100, got -3"),
        ([("MUG-001", 101)], "quantity must be between 1 and 100, got 101"),
        ([("MUG-001", 1), ("MUG-001", 2)], "appears twice"),
        ([("mug-001", 1)], "is not a valid SKU"),
        ([(f"SKU-{i:03}", 1) for i in range(51)], "at most 50 items"),
    ],
)
def test_invalid_lines_are_refused_with_a_clear_message(lines: list[tuple[str, int]], message: str) -> None:
    with pytest.raises(InvalidOrder, match=message):
        place(*lines)


def test_an_unknown_sku_is_named() -> None:
    with pytest.raises(UnknownProduct, match="product NOPE-1 does not exist"):
        place(("MUG-001", 1), ("NOPE-1", 1))


def test_items_in_two_currencies_are_refused() -> None:
    with pytest.raises(InvalidOrder, match="one currency"):
        place(("MUG-001", 1), ("USD-001", 1))


def test_pending_to_paid_once() -> None:
    order = place(("MUG-001", 1))
    payment_id = uuid4()
    assert order.mark_paid(payment_id, NOW) is True
    assert order.status is OrderStatus.PAID
    assert order.mark_paid(uuid4(), NOW) is False  # a duplicate changes nothing
    assert order.events[1:] == [OrderPaid(order, payment_id)]


def test_customer_may_cancel_pending_or_paid_but_not_twice() -> None:
    pending, paid = place(("MUG-001", 1)), place(("MUG-001", 1))
    paid.mark_paid(uuid4(), NOW)
    for order, previous in ((pending, OrderStatus.PENDING), (paid, OrderStatus.PAID)):
        order.cancel(CancellationReason.CUSTOMER_REQUEST, NOW)
        assert order.status is OrderStatus.CANCELLED
        assert order.cancellation_reason is CancellationReason.CUSTOMER_REQUEST
        assert order.events[-1] == OrderCancelled(order, CancellationReason.CUSTOMER_REQUEST, previous)
        with pytest.raises(InvalidTransition, match="already cancelled"):
            order.cancel(CancellationReason.CUSTOMER_REQUEST, NOW)


def test_a_declined_payment_cannot_cancel_a_paid_order() -> None:
    order = place(("MUG-001", 1))
    order.mark_paid(uuid4(), NOW)
    with pytest.raises(InvalidTransition, match="declined payment cannot cancel"):
        order.cancel(CancellationReason.PAYMENT_DECLINED, NOW)
    assert order.status is OrderStatus.PAID


def test_a_payment_for_a_cancelled_order_changes_nothing() -> None:
    order = place(("MUG-001", 1))
    order.cancel(CancellationReason.CUSTOMER_REQUEST, NOW)
    assert order.mark_paid(uuid4(), NOW) is False
    assert order.status is OrderStatus.CANCELLED
    assert not any(isinstance(e, OrderPaid) for e in order.events)

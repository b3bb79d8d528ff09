"""The order domain: money, products, orders and their state machine. Pure: no I/O, no generated types.

An order is placed PENDING with its lines priced from the catalog; it becomes PAID when its payment
succeeds, or CANCELLED (customer request, or payment declined). Cancelling releases the stock; a payment
already taken is refunded by the payment service when it sees the cancellation.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

# Plain constants, not generated types: the order's limits are the API's, stated once in the spec.
from ecommerce.rest.constraints import (
    CREATE_ORDER_REQUEST_ITEMS_MAX_ITEMS,
    ORDER_LINE_INPUT_QUANTITY_MAXIMUM,
    ORDER_LINE_INPUT_QUANTITY_MINIMUM,
    ORDER_LINE_INPUT_SKU_PATTERN,
)

MAX_LINES = CREATE_ORDER_REQUEST_ITEMS_MAX_ITEMS
MIN_QUANTITY = ORDER_LINE_INPUT_QUANTITY_MINIMUM
MAX_QUANTITY = ORDER_LINE_INPUT_QUANTITY_MAXIMUM
SKU = re.compile(ORDER_LINE_INPUT_SKU_PATTERN)


class DomainError(Exception):
    """A request the domain refuses; the message is meant for the caller."""


class InvalidOrder(DomainError):
    """The order as asked for breaks a rule (no lines, a quantity out of range, a SKU twice...)."""


class UnknownProduct(DomainError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"product {sku} does not exist")
        self.sku = sku


class InsufficientStock(DomainError):
    def __init__(self, sku: str, requested: int) -> None:
        super().__init__(f"not enough stock of {sku} for {requested} unit(s)")
        self.sku = sku


class OrderNotFound(DomainError):
    def __init__(self, order_id: UUID) -> None:
        super().__init__(f"order {order_id} not found")


class InvalidTransition(DomainError):
    """The order's status does not allow the change (for example cancelling a cancelled order)."""


class IdempotencyKeyReused(DomainError):
    """The idempotency key was used before by the same customer for a different request."""


@dataclass(frozen=True, slots=True)
class Money:
    amount_minor: int
    currency: str

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise InvalidOrder(f"cannot add {other.currency} to {self.currency}")
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def times(self, quantity: int) -> Money:
        return Money(self.amount_minor * quantity, self.currency)


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str
    description: str
    unit_price: Money
    stock_available: int


class OrderStatus(enum.StrEnum):
    PENDING = "PENDING"
    PAID = "PAID"
    CANCELLED = "CANCELLED"


class CancellationReason(enum.StrEnum):
    CUSTOMER_REQUEST = "customer_request"
    PAYMENT_DECLINED = "payment_declined"


@dataclass(frozen=True, slots=True)
class LineRequest:
    """One line as the customer asks for it."""

    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class OrderLine:
    sku: str
    name: str
    quantity: int
    unit_price: Money

    @property
    def line_total(self) -> Money:
        return self.unit_price.times(self.quantity)


# Domain events: what happened to an order, in the order's own terms.
@dataclass(frozen=True, slots=True)
class OrderPlaced:
    order: Order


@dataclass(frozen=True, slots=True)
class OrderPaid:
    order: Order
    payment_id: UUID


@dataclass(frozen=True, slots=True)
class OrderCancelled:
    order: Order
    reason: CancellationReason
    previous_status: OrderStatus


OrderEvent = OrderPlaced | OrderPaid | OrderCancelled


def validate_lines(lines: list[LineRequest]) -> None:
    """Raises ``InvalidOrder`` unless ``lines`` could form an order."""
    if not lines:
        raise InvalidOrder("an order needs at least one item")
    if len(lines) > MAX_LINES:
        raise InvalidOrder(f"an order has at most {MAX_LINES} items, got {len(lines)}")
    seen: set[str] = set()
    for i, line in enumerate(lines):
        if not SKU.fullmatch(line.sku):
            raise InvalidOrder(f"items[{i}].sku {line.sku!r} is not a valid SKU")
        if not MIN_QUANTITY <= line.quantity <= MAX_QUANTITY:
            raise InvalidOrder(
                f"items[{i}].quantity must be between {MIN_QUANTITY} and {MAX_QUANTITY}, got {line.quantity}"
            )
        if line.sku in seen:
            raise InvalidOrder(f"items[{i}].sku {line.sku} appears twice; put the quantity on one line")
        seen.add(line.sku)


@dataclass(eq=False, slots=True)
class Order:
    """The order aggregate. Changes go through its methods, which record domain events."""

    id: UUID
    user_id: UUID
    customer_email: str
    payment_token: str
    lines: list[OrderLine]
    status: OrderStatus
    created_at: datetime
    updated_at: datetime
    cancellation_reason: CancellationReason | None = None
    events: list[OrderEvent] = field(default_factory=list)

    @classmethod
    def place(
        cls,
        *,
        order_id: UUID,
        user_id: UUID,
        customer_email: str,
        payment_token: str,
        lines: list[LineRequest],
        catalog: dict[str, Product],
        now: datetime,
    ) -> Order:
        """A new PENDING order priced from ``catalog``; stock must be reserved by the caller."""
        validate_lines(lines)
        priced = []
        for line in lines:
            product = catalog.get(line.sku)
            if product is None:
                raise UnknownProduct(line.sku)
            priced.append(OrderLine(product.sku, product.name, line.quantity, product.unit_price))
        currencies = {line.unit_price.currency for line in priced}
        if len(currencies) != 1:
            raise InvalidOrder(f"all items of an order must share one currency, got {sorted(currencies)}")
        order = cls(order_id, user_id, customer_email, payment_token, priced, OrderStatus.PENDING, now, now)
        order.events.append(OrderPlaced(order))
        return order

    @property
    def total(self) -> Money:
        total = self.lines[0].line_total
        for line in self.lines[1:]:
            total = total + line.line_total
        return total

    def mark_paid(self, payment_id: UUID, now: datetime) -> bool:
        """PENDING -> PAID. False (no change) when the order is already PAID or CANCELLED.

        A payment that succeeds for an order already cancelled changes nothing here: the payment
        service refunds it when it handles the ``order.cancelled`` event.
        """
        if self.status is not OrderStatus.PENDING:
            return False
        self.status = OrderStatus.PAID
        self.updated_at = now
        self.events.append(OrderPaid(self, payment_id))
        return True

    def cancel(self, reason: CancellationReason, now: datetime) -> None:
        """PENDING or PAID -> CANCELLED; the caller releases the stock."""
        if self.status is OrderStatus.CANCELLED:
            raise InvalidTransition(f"order {self.id} is already cancelled")
        if reason is CancellationReason.PAYMENT_DECLINED and self.status is not OrderStatus.PENDING:
            raise InvalidTransition(f"order {self.id} is {self.status}; a declined payment cannot cancel it")
        previous = self.status
        self.status = OrderStatus.CANCELLED
        self.cancellation_reason = reason
        self.updated_at = now
        self.events.append(OrderCancelled(self, reason, previous))

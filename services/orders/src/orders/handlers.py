"""Use cases of the Order Service: each takes a command, works in one unit of work, and commits.

Authorization is part of every use case: a customer reaches only their own orders, and another
customer's order answers exactly like an unknown one (``OrderNotFound``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID, uuid4

from ecommerce_runtime.callers import Caller
from ecommerce_runtime.clock import Clock, utc_now
from ecommerce_runtime.inbox import EventRef
from ecommerce_runtime.pagination import Cursor, Page, decode_token, page_of, page_size
from orders.domain import (
    CancellationReason,
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidTransition,
    LineRequest,
    Order,
    OrderNotFound,
    OrderStatus,
    Product,
    UnknownProduct,
    validate_lines,
)
from orders.ports import DuplicateKey, IdempotencyRecord, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    caller: Caller
    idempotency_key: str
    customer_email: str
    payment_token: str
    lines: list[LineRequest]

    def fingerprint(self) -> str:
        """Identifies the request behind an idempotency key (the key itself excluded)."""
        canonical = {
            "email": self.customer_email,
            "lines": [[line.sku, line.quantity] for line in self.lines],
            "payment_token": self.payment_token,
        }
        return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Placed:
    order: Order
    replayed: bool


class OrderHandlers:
    """The use cases, wired to a unit-of-work factory and a clock by ``bootstrap``."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock = utc_now) -> None:
        self._uow = uow
        self._clock = clock
        self.on_commit: Callable[[], None] = lambda: None
        """Called after each commit that wrote events (wakes the outbox relay)."""

    async def place_order(self, command: PlaceOrder) -> Placed:
        """Prices the lines from the catalog, reserves stock and records ``order.created``; idempotent.

        One transaction claims the idempotency key and places the order; a key already claimed (a retry,
        or the same request racing this one) is answered as a replay of the order it placed.
        """
        validate_lines(command.lines)
        try:
            return await self._place_once(command)
        except DuplicateKey:
            replay = await self._replay(command)
            if replay is None:  # claimed by a request that then failed and rolled back: try once more
                return await self._place_once(command)
            return replay

    async def _replay(self, command: PlaceOrder) -> Placed | None:
        async with self._uow() as uow:
            record = await uow.idempotency_keys.find(command.caller.user_id, command.idempotency_key)
            if record is None:
                return None
            if record.request_hash != command.fingerprint():
                raise IdempotencyKeyReused(
                    f"idempotency key {command.idempotency_key!r} was already used for a different request"
                )
            order = await uow.orders.get(record.order_id)
            if order is None:  # the key outlives nothing it points to; the order table is never purged
                raise OrderNotFound(record.order_id)
            return Placed(order, replayed=True)

    async def _place_once(self, command: PlaceOrder) -> Placed:
        now, order_id = self._clock(), uuid4()
        async with self._uow() as uow:
            # The key first: a replay stops here, before it touches any stock.
            record = IdempotencyRecord(command.fingerprint(), order_id)
            await uow.idempotency_keys.remember(command.caller.user_id, command.idempotency_key, record, now)
            catalog = await uow.catalog.get_many([line.sku for line in command.lines])
            order = Order.place(
                order_id=order_id,
                user_id=command.caller.user_id,
                customer_email=command.customer_email,
                payment_token=command.payment_token,
                lines=command.lines,
                catalog=catalog,
                now=now,
            )
            # Reserve in SKU order so concurrent orders lock rows in the same order (no deadlocks).
            for line in sorted(command.lines, key=lambda line: line.sku):
                if not await uow.catalog.reserve(line.sku, line.quantity):
                    raise InsufficientStock(line.sku, line.quantity)
            await uow.orders.add(order)
            await uow.commit()
        self.on_commit()
        log.info("order placed", extra={"order_id": str(order.id), "total_minor": order.total.amount_minor})
        return Placed(order, replayed=False)

    async def get_order(self, caller: Caller, order_id: UUID) -> Order:
        async with self._uow() as uow:
            order = await uow.orders.get(order_id)
        if order is None or not caller.can_see(order.user_id):
            raise OrderNotFound(order_id)
        return order

    async def list_orders(
        self, caller: Caller, *, status: OrderStatus | None, size: int, token: str
    ) -> Page[Order]:
        """The caller's orders (every order for an admin), newest first."""
        limit = page_size(size)
        scope = f"orders:{caller.user_id}:{status or ''}"
        async with self._uow() as uow:
            orders = await uow.orders.newest_first(
                user_id=None if caller.is_admin else caller.user_id,
                status=status,
                after=Cursor.from_token(token, scope),
                limit=limit + 1,
            )
        return page_of(orders, limit, scope, lambda order: Cursor(order.created_at, order.id).position())

    async def cancel_order(self, caller: Caller, order_id: UUID) -> Order:
        """Cancels on the customer's request and releases the stock; a taken payment gets refunded."""
        async with self._uow() as uow:
            order = await uow.orders.get(order_id, lock=True)
            if order is None or not caller.can_see(order.user_id):
                raise OrderNotFound(order_id)
            await self._cancel(uow, order, CancellationReason.CUSTOMER_REQUEST)
            await uow.commit()
        self.on_commit()
        return order

    async def _cancel(self, uow: UnitOfWork, order: Order, reason: CancellationReason) -> None:
        order.cancel(reason, self._clock())
        for line in order.lines:
            await uow.catalog.release(line.sku, line.quantity)
        await uow.orders.save(order)
        log.info("order cancelled", extra={"order_id": str(order.id), "reason": reason.value})

    async def payment_succeeded(self, event: EventRef, order_id: UUID, payment_id: UUID) -> None:
        """Saga step: PENDING -> PAID (nothing for an order already PAID or CANCELLED)."""
        async with self._uow() as uow:
            if not await uow.first_delivery(event):
                return
            order = await self._order_for_event(uow, order_id)
            if order.mark_paid(payment_id, self._clock()):
                await uow.orders.save(order)
            else:
                log.info(
                    "payment for an order no longer pending; the payment service refunds it if cancelled",
                    extra={"order_id": str(order_id), "status": order.status.value},
                )
            await uow.commit()
        self.on_commit()

    async def payment_failed(self, event: EventRef, order_id: UUID) -> None:
        """Saga step: PENDING -> CANCELLED (payment_declined), stock released."""
        async with self._uow() as uow:
            if not await uow.first_delivery(event):
                return
            order = await self._order_for_event(uow, order_id)
            try:
                await self._cancel(uow, order, CancellationReason.PAYMENT_DECLINED)
            except InvalidTransition as error:
                log.info("payment failure ignored: %s", error, extra={"order_id": str(order_id)})
            await uow.commit()
        self.on_commit()

    @staticmethod
    async def _order_for_event(uow: UnitOfWork, order_id: UUID) -> Order:
        order = await uow.orders.get(order_id, lock=True)
        if order is None:
            raise OrderNotFound(order_id)
        return order

    async def list_products(self, *, size: int, token: str) -> Page[Product]:
        limit = page_size(size)
        position = decode_token(token, "products")
        after = str(position["sku"]) if position and "sku" in position else None
        async with self._uow() as uow:
            products = await uow.catalog.by_sku(after_sku=after, limit=limit + 1)
        return page_of(products, limit, "products", lambda product: {"sku": product.sku})

    async def get_product(self, sku: str) -> Product:
        async with self._uow() as uow:
            product = await uow.catalog.get(sku)
        if product is None:
            raise UnknownProduct(sku)
        return product

    async def forget_old_idempotency_keys(self, retention: timedelta) -> int:
        async with self._uow() as uow:
            forgotten = await uow.idempotency_keys.forget_older_than(self._clock() - retention)
            await uow.commit()
        return forgotten

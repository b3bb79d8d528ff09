"""The customer journey through the SDK against a running gateway: ``run_live_scenario(base_url)``.

Registers a new customer, logs in, lists the catalog, places an order paid with ``tok_success``, waits for
it to be ``PAID``, reads its payment and waits for its ``order_paid`` notification. The end-to-end tests
call it against the whole stack (and, from a fresh venv, against the installed package); the SDK's own
tests run it against the in-memory fake, so it cannot rot while the gateway is being built.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from uuid import uuid4

import httpx

from ecommerce_sdk import Client, Clock
from ecommerce_sdk.types import Notification, Order, Payment, Product, User

PASSWORD = "correct-horse-battery-staple"


@dataclass(frozen=True)
class LiveScenario:
    """What the journey saw, for the caller to assert more on."""

    user: User
    products: list[Product]
    placed: Order
    paid: Order
    payment: Payment
    notifications: list[Notification]


def run_live_scenario(
    base_url: str,
    *,
    timeout: float = 30.0,
    http_client: httpx.Client | None = None,
    clock: Clock | None = None,
) -> LiveScenario:
    """Runs the journey against the API at ``base_url``; raises ``AssertionError`` on a wrong answer and
    the SDK's errors (``WaitTimeoutError``...) when the system does not get there within ``timeout``."""
    clock = clock or Clock()
    email = f"sdk-live-{uuid4().hex[:12]}@example.com"
    with Client(base_url=base_url, http_client=http_client, clock=clock) as client:
        assert client.health.live().status == "ok"
        user = client.auth.register(email=email, password=PASSWORD)
        assert (user.email, user.role) == (email, "customer")
        client.auth.login(email=email, password=PASSWORD)

        products = list(client.products.list())
        assert products, "the catalog is empty"
        product = next((p for p in products if p.stock_available > 0), None)
        assert product is not None, "no product is in stock"

        placed = client.orders.create(
            items=[{"sku": product.sku, "quantity": 1}], payment_token="tok_success"
        )
        assert placed.status == "PENDING"
        assert placed.total.amount_minor == product.unit_price.amount_minor
        assert placed.request_id

        paid = client.orders.wait_for_status(placed.id, {"PAID", "CANCELLED"}, timeout=timeout)
        assert paid.status == "PAID", f"order {paid.id} ended {paid.status} ({paid.cancellation_reason})"
        assert placed.id in {order.id for order in client.orders.list(status="PAID")}

        payment = client.orders.payment(placed.id)
        assert (payment.order_id, payment.status) == (placed.id, "SUCCEEDED")
        assert payment.amount == placed.total

        notifications = _wait_for_notification(client, placed, "order_paid", timeout, clock)
        assert all(n.recipient == email for n in notifications)
    return LiveScenario(user, products, placed, paid, payment, notifications)


def _wait_for_notification(
    client: Client, order: Order, template: str, timeout: float, clock: Clock
) -> list[Notification]:
    """Notifications follow the payment event asynchronously: poll until ``template`` is among them."""
    deadline = clock.monotonic() + timeout
    while True:
        notifications = list(client.notifications.list(order_id=order.id))
        if any(n.template == template for n in notifications):
            return notifications
        if clock.monotonic() >= deadline:
            seen = sorted(n.template for n in notifications)
            raise AssertionError(f"no {template} notification for order {order.id} after {timeout} s: {seen}")
        clock.sleep(0.5)


if __name__ == "__main__":  # python sdk/tests/sdk_live_scenario.py [BASE_URL]
    import sys

    started = time.monotonic()
    seen = run_live_scenario(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/v1")
    took = time.monotonic() - started
    print(f"order {seen.paid.id} PAID, {len(seen.notifications)} notification(s), {took:.1f} s")

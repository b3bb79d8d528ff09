"""The event contract as a third party reads it: the application that asyncapi-python generates from
``specs/asyncapi.yaml`` (``generated/asyncapi_subscriber``, by ``make generate``) subscribes to the running
stack and must receive and decode every event of a paid, a refunded and a declined order, with the values
the REST API shows.

The generated app has one subscriber per ``receive`` operation of the document, each on a server-named,
exclusive, auto-delete queue of its own bound to the topic exchange: it sees every message without taking
one from a service's queue (the services finishing each journey shows that they got theirs). A channel that
two services receive is therefore delivered to the app once per operation, and each copy is checked.
What the generated code cannot do (its handlers see the payload only, not the AMQP envelope; it does not
pass mypy) is recorded in decision 0002.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio
import yaml
from asyncapi_python.contrib.wire.amqp import AmqpWire
from e2e_stack import RunningStack
from pydantic import BaseModel

import asyncapi_subscriber
from asyncapi_subscriber.messages import json as events
from ecommerce_sdk import AsyncClient
from ecommerce_sdk.types import Money

pytestmark = pytest.mark.asyncio(loop_scope="module")
SPEC = Path(__file__).resolve().parents[2] / "specs" / "asyncapi.yaml"
PASSWORD = "correct-horse-battery-staple"
WITHIN = 60.0
# The generated model of each event type's payload (the document's message ``name`` in PascalCase).
MODELS: dict[str, type[BaseModel]] = {
    "order.created": events.OrderCreated,
    "order.paid": events.OrderPaid,
    "order.cancelled": events.OrderCancelled,
    "payment.succeeded": events.PaymentSucceeded,
    "payment.failed": events.PaymentFailed,
    "payment.refunded": events.PaymentRefunded,
}
EVENT_TYPES = {model: event_type for event_type, model in MODELS.items()}
M = TypeVar("M", bound=BaseModel)


def _receive_operations() -> dict[str, str]:
    """Every ``receive`` operation of the document: its id -> the event type (channel address) it receives."""
    spec = yaml.safe_load(SPEC.read_text())
    return {
        op_id: spec["channels"][op["channel"]["$ref"].rsplit("/", 1)[-1]]["address"]
        for op_id, op in spec["operations"].items()
        if op["action"] == "receive"
    }


def _attribute(op_id: str) -> str:
    """An operation's attribute on ``Application.consumer``: ``ordersReceiveX`` -> ``orders_receive_x``."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in op_id)


@dataclass(frozen=True)
class Received:
    operation: str
    event: BaseModel


@dataclass
class Subscriber:
    """The generated application, with a recording handler on every receive operation, started."""

    received: list[Received]
    runner: asyncio.Task[None]

    def decoded(self, kind: type[M], order_id: uuid.UUID) -> list[M]:
        """Every ``kind`` decoded for ``order_id``, after checking that each receive operation of its channel
        got it (delivery is at least once: a copy more is allowed, and checked like the others)."""
        copies = [
            (r.operation, r.event) for r in self.received if getattr(r.event, "order_id", None) == order_id
        ]
        found = [(operation, event) for operation, event in copies if isinstance(event, kind)]
        assert sorted({operation for operation, _ in found}) == _receivers(EVENT_TYPES[kind]), kind
        return [event for _, event in found]

    async def wait_for(self, expected: set[tuple[str, str, uuid.UUID]]) -> None:
        """Until every (operation, event type, order id) in ``expected`` was received."""

        def missing() -> list[str]:
            got = {
                (r.operation, EVENT_TYPES[type(r.event)], getattr(r.event, "order_id", None))
                for r in self.received
            }
            return sorted(" ".join(map(str, item)) for item in expected - got)

        try:
            async with asyncio.timeout(WITHIN):
                while missing():
                    if self.runner.done():
                        self.runner.result()  # a subscriber stopped: raises what stopped it
                        pytest.fail("the generated application stopped")
                    await asyncio.sleep(0.1)
        except TimeoutError:
            pytest.fail(f"not received within {WITHIN} s: {missing()}")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def subscriber(sqlite_stack: RunningStack) -> AsyncIterator[Subscriber]:
    wire = AmqpWire(sqlite_stack.amqp_url)
    app = asyncapi_subscriber.Application(wire)
    received: list[Received] = []

    def recorder(op_id: str) -> Callable[[BaseModel], Awaitable[None]]:
        async def record(event: BaseModel) -> None:
            received.append(Received(op_id, event))

        return record

    operations = _receive_operations()
    assert set(operations.values()) == set(MODELS), "the test knows every event type the document has"
    endpoints = {name for name in vars(app.consumer) if not name.startswith("_")}
    assert endpoints == {_attribute(op_id) for op_id in operations}, "one subscriber per receive operation"
    for op_id in operations:
        endpoint: Any = getattr(app.consumer, _attribute(op_id))
        endpoint(recorder(op_id))
    await app.start()  # every queue declared and bound before an order is placed
    # Started again, blocking: the endpoints are up already; this watches them and raises what stops one.
    runner = asyncio.create_task(app.start(blocking=True))
    try:
        yield Subscriber(received, runner)
    finally:
        await app.stop()
        await runner
        await wire.close()


async def _customer(stack: RunningStack) -> tuple[AsyncClient, uuid.UUID, str]:
    address = f"e2e-asyncapi-{uuid.uuid4().hex[:10]}@example.com"
    client = AsyncClient(base_url=stack.base_url)
    user = await client.auth.register(email=address, password=PASSWORD)
    await client.auth.login(email=address, password=PASSWORD)
    return client, user.id, address


def _money(money: events.Money) -> Money:
    return Money(amount_minor=money.amount_minor, currency=money.currency)


def _receivers(event_type: str) -> list[str]:
    return sorted(op for op, received in _receive_operations().items() if received == event_type)


async def test_the_generated_app_receives_and_decodes_every_event_of_the_order_flow(
    sqlite_stack: RunningStack, subscriber: Subscriber
) -> None:
    client, user_id, address = await _customer(sqlite_stack)
    async with client:
        placed = await client.orders.create(
            items=[{"sku": "MUG-001", "quantity": 2}, {"sku": "PEN-BLK", "quantity": 1}],
            payment_token="tok_success",
        )
        declined = await client.orders.create(
            items=[{"sku": "TEE-042", "quantity": 1}], payment_token="tok_declined"
        )
        paid = await client.orders.wait_for_status(placed.id, timeout=WITHIN)
        assert paid.status == "PAID"
        charged = await client.orders.payment(paid.id)
        cancelled_order = await client.orders.cancel(
            paid.id
        )  # a paid order cancelled: its charge is refunded
        assert (cancelled_order.status, cancelled_order.cancellation_reason) == (
            "CANCELLED",
            "customer_request",
        )
        declined = await client.orders.wait_for_status(declined.id, timeout=WITHIN)
        assert (declined.status, declined.cancellation_reason) == ("CANCELLED", "payment_declined")
        failed = await client.orders.payment(declined.id)

        await subscriber.wait_for(
            {
                (operation, event_type, order_id)
                for order_id, flow in [
                    (paid.id, ["order.created", "payment.succeeded", "order.paid"]),
                    (paid.id, ["order.cancelled", "payment.refunded"]),
                    (declined.id, ["order.created", "payment.failed", "order.cancelled"]),
                ]
                for event_type in flow
                for operation in _receivers(event_type)
            }
        )
        refund = await client.orders.payment(paid.id)
        assert refund.status == "REFUNDED"

    for order, token in [(paid, "tok_success"), (declined, "tok_declined")]:
        for created in subscriber.decoded(events.OrderCreated, order.id):
            assert (created.user_id, created.customer_email, created.payment_token) == (
                user_id,
                address,
                token,
            )
            assert (_money(created.total), created.created_at) == (order.total, order.created_at)
            assert [
                (i.sku, i.quantity, _money(i.unit_price), _money(i.line_total)) for i in created.items
            ] == [(i.sku, i.quantity, i.unit_price, i.line_total) for i in order.items]
    for succeeded in subscriber.decoded(events.PaymentSucceeded, paid.id):
        assert (succeeded.payment_id, succeeded.user_id, succeeded.customer_email) == (
            charged.id,
            user_id,
            address,
        )
        assert (_money(succeeded.amount), succeeded.attempts) == (charged.amount, charged.attempts)
        assert succeeded.provider_reference == charged.provider_reference
    for order_paid in subscriber.decoded(events.OrderPaid, paid.id):
        assert (order_paid.payment_id, order_paid.user_id) == (charged.id, user_id)
        assert _money(order_paid.total) == paid.total
    for cancelled in subscriber.decoded(events.OrderCancelled, paid.id):
        assert (cancelled.reason.value, cancelled.previous_status.value) == ("customer_request", "PAID")
        assert (cancelled.user_id, _money(cancelled.total)) == (user_id, paid.total)
    for refunded in subscriber.decoded(events.PaymentRefunded, paid.id):
        assert (refunded.payment_id, refunded.user_id, _money(refunded.amount)) == (
            refund.id,
            user_id,
            refund.amount,
        )
    assert failed.status == "FAILED"
    for payment_failed in subscriber.decoded(events.PaymentFailed, declined.id):
        assert (payment_failed.payment_id, payment_failed.user_id) == (failed.id, user_id)
        assert (_money(payment_failed.amount), payment_failed.attempts) == (failed.amount, failed.attempts)
        assert payment_failed.reason.value == failed.failure_reason
    for cancelled in subscriber.decoded(events.OrderCancelled, declined.id):
        assert (cancelled.reason.value, cancelled.previous_status.value) == ("payment_declined", "PENDING")
        assert (cancelled.user_id, _money(cancelled.total)) == (user_id, declined.total)

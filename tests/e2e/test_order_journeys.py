"""End to end, through the SDK and raw HTTP, against the whole stack running as processes.

Every test here is a customer's journey through all four services and RabbitMQ; the last one checks every
message that crossed the exchange meanwhile against the AsyncAPI contract.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from e2e_stack import RunningStack

from ecommerce.events import models
from ecommerce.events.channels import CHANNELS
from ecommerce_runtime.messages import parse_payload
from ecommerce_sdk import AsyncClient, NotFoundError
from ecommerce_sdk.types import Payment

pytestmark = pytest.mark.asyncio(loop_scope="module")
PASSWORD = "correct-horse-battery-staple"


async def customer(stack: RunningStack) -> tuple[AsyncClient, str]:
    address = f"e2e-{uuid.uuid4().hex[:10]}@example.com"
    client = AsyncClient(base_url=stack.base_url)
    await client.auth.register(email=address, password=PASSWORD)
    await client.auth.login(email=address, password=PASSWORD)
    return client, address


def _mails_to(maildir: Path, address: str) -> list[EmailMessage]:
    mails = []
    for path in sorted(maildir.glob("*.eml")) if maildir.exists() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if message["To"] and address in str(message["To"]):
            mails.append(message)
    return mails


async def wait_for_mails(maildir: Path, address: str, count: int, within: float = 60.0) -> list[EmailMessage]:
    async with asyncio.timeout(within):
        while len(mails := _mails_to(maildir, address)) < count:
            await asyncio.sleep(0.2)
    return mails


async def test_an_order_is_paid_and_the_customer_is_emailed(stack: RunningStack) -> None:
    client, address = await customer(stack)
    async with client:
        order = await client.orders.create(
            items=[{"sku": "MUG-001", "quantity": 2}], payment_token="tok_success"
        )
        assert order.status == "PENDING"
        order = await client.orders.wait_for_status(order.id, timeout=60)
        assert order.status == "PAID"
        payment = await client.orders.payment(order.id)
        assert payment.status == "SUCCEEDED"
        assert payment.amount == order.total

        mails = await wait_for_mails(stack.maildir, address, 2)
        subjects = " | ".join(str(m["Subject"]) for m in mails)
        assert str(order.id)[:8] in subjects
        for mail in mails:
            assert mail.get_body(("plain",)) is not None
            assert mail.get_body(("html",)) is not None
        notes = [n async for n in client.notifications.list(order_id=order.id)]
        assert {n.template for n in notes} == {"order_received", "order_paid"}


async def test_a_declined_payment_cancels_the_order_releases_stock_and_tells_the_customer(
    stack: RunningStack,
) -> None:
    client, address = await customer(stack)
    async with client:
        before = (await client.products.get("TEE-042")).stock_available
        order = await client.orders.create(
            items=[{"sku": "TEE-042", "quantity": 3}], payment_token="tok_declined"
        )
        order = await client.orders.wait_for_status(order.id, timeout=60)
        assert (order.status, order.cancellation_reason) == ("CANCELLED", "payment_declined")
        assert (await client.products.get("TEE-042")).stock_available == before
        payment = await client.orders.payment(order.id)
        assert (payment.status, payment.failure_reason is not None) == ("FAILED", True)

        await wait_for_mails(stack.maildir, address, 3)
        async with asyncio.timeout(60):
            while {n.template async for n in client.notifications.list(order_id=order.id)} != {
                "order_received",
                "payment_failed",
                "order_cancelled",
            }:
                await asyncio.sleep(0.2)


async def test_a_cancellation_racing_the_charge_ends_cancelled_and_never_charged_for_good(
    stack: RunningStack,
) -> None:
    client, address = await customer(stack)
    async with client:
        order = await client.orders.create(
            items=[{"sku": "BAG-007", "quantity": 1}], payment_token="tok_success"
        )
        cancelled = await client.orders.cancel(order.id)  # the provider takes 300 ms: the charge is in flight
        assert (cancelled.status, cancelled.cancellation_reason) == ("CANCELLED", "customer_request")

        async with asyncio.timeout(60):
            while (payment := await _payment_or_none(client, order.id)) is None or payment.status in {
                "PENDING",
                "SUCCEEDED",
            }:
                await asyncio.sleep(0.2)
        assert payment.status in {"REFUNDED", "CANCELLED"}  # charged then refunded, or never charged
        await asyncio.sleep(1.0)  # a late payment.succeeded must not revive the order
        assert (await client.orders.get(order.id)).status == "CANCELLED"
        mails = await wait_for_mails(stack.maildir, address, 2)
        assert any("cancelled" in str(m["Subject"]).lower() for m in mails)


async def _payment_or_none(client: AsyncClient, order_id: uuid.UUID) -> Payment | None:
    try:
        return await client.orders.payment(order_id)
    except NotFoundError:
        return None  # the payment service has not seen order.created yet


async def test_replaying_post_orders_returns_the_same_order(stack: RunningStack) -> None:
    client, _ = await customer(stack)
    async with client, httpx.AsyncClient(base_url=stack.base_url) as http:
        headers = {
            "Authorization": f"Bearer {client.api_token}",
            "Idempotency-Key": f"e2e-{uuid.uuid4().hex}",
        }
        body = {"items": [{"sku": "PEN-BLK", "quantity": 4}], "payment_token": "tok_success"}
        first = await http.post("/orders", json=body, headers=headers)
        again = await http.post("/orders", json=body, headers=headers)
        assert (first.status_code, again.status_code) == (201, 201)
        assert first.json()["id"] == again.json()["id"]
        assert (first.headers["Idempotent-Replayed"], again.headers["Idempotent-Replayed"]) == (
            "false",
            "true",
        )

        other = await http.post(
            "/orders", json={**body, "items": [{"sku": "PEN-BLK", "quantity": 5}]}, headers=headers
        )
        assert other.status_code == 422
        assert other.headers["content-type"].startswith("application/problem+json")
        mine = [o.id async for o in client.orders.list()]
        assert mine.count(uuid.UUID(first.json()["id"])) == 1


async def test_another_customer_sees_nothing_of_my_order(stack: RunningStack) -> None:
    alice, _ = await customer(stack)
    bob, _ = await customer(stack)
    async with alice, bob:
        order = await alice.orders.create(
            items=[{"sku": "CAP-GRN", "quantity": 1}], payment_token="tok_success"
        )
        await alice.orders.wait_for_status(order.id, timeout=60)
        unknown = uuid.uuid4()
        for attempt in (bob.orders.get, bob.orders.payment, bob.orders.cancel):
            details = []
            for order_id in (order.id, unknown):
                with pytest.raises(NotFoundError) as raised:
                    await attempt(order_id)
                details.append(
                    (raised.value.title, (raised.value.detail or "").replace(str(order_id), "<id>"))
                )
            assert details[0] == details[1]
        assert [o async for o in bob.orders.list()] == []
        assert [n async for n in bob.notifications.list()] == []
        assert (await alice.orders.get(order.id)).status == "PAID"


async def test_every_event_on_the_exchange_matches_the_asyncapi_contract(stack: RunningStack) -> None:
    messages = await stack.drain_tap()
    seen = set()
    for message in messages:
        assert message.type is not None
        assert message.type in CHANNELS, message.type
        channel = CHANNELS[message.type]
        payload = parse_payload(message.type, message.body)  # raises on anything the schema forbids
        envelope = models.Envelope.model_validate(
            {
                "message_id": message.message_id,
                "type": message.type,
                "timestamp": (message.timestamp or datetime.fromtimestamp(0)).replace(tzinfo=UTC),
                "app_id": message.app_id,
                "correlation_id": message.correlation_id,
                "content_type": message.content_type,
                "delivery_mode": int(message.delivery_mode or 0),
                "headers": dict(message.headers),
            }
        )
        assert envelope.app_id == channel.producer
        assert message.routing_key == channel.routing_key
        assert str(envelope.correlation_id) == str(payload.order_id)
        seen.add(message.type)
    assert {"order.created", "order.paid", "order.cancelled", "payment.succeeded", "payment.failed"} <= seen

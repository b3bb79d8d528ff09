"""Orders through the gateway against the real Order Service: the happy path, idempotent creation,
errors mapped from gRPC, and another customer's order answering exactly like an unknown one."""

from __future__ import annotations

from uuid import uuid4

import httpx
from gateway_backends import Backends
from gateway_http import ORDER, SignUp, problem, written

from gateway.bootstrap import Gateway


async def test_place_read_list_and_cancel_an_order(client: httpx.AsyncClient, sign_up: SignUp) -> None:
    ada = await sign_up()
    created = await client.post("/orders", json=ORDER, headers={**ada.auth, "Idempotency-Key": "order-0001"})
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["status"] == "PENDING"
    assert order["total"] == {"amount_minor": 2500, "currency": "EUR"}  # priced by the catalog
    assert created.headers["location"] == f"/v1/orders/{order['id']}"
    assert created.headers["idempotent-replayed"] == "false"

    fetched = await client.get(created.headers["location"].removeprefix("/v1"), headers=ada.auth)
    assert fetched.json() == order
    listed = await client.get("/orders", params={"status": "PENDING", "page_size": 10}, headers=ada.auth)
    assert [o["id"] for o in listed.json()["items"]] == [order["id"]]
    assert "next_page_token" not in listed.json()

    cancelled = await client.post(f"/orders/{order['id']}/cancel", headers=ada.auth)
    assert cancelled.status_code == 200
    assert (cancelled.json()["status"], cancelled.json()["cancellation_reason"]) == (
        "CANCELLED",
        "customer_request",
    )
    problem(await client.post(f"/orders/{order['id']}/cancel", headers=ada.auth), 409, "already cancelled")


async def test_the_catalog_is_public_and_paged(client: httpx.AsyncClient) -> None:
    first = await client.get("/products", params={"page_size": 3})
    assert first.status_code == 200
    assert len(first.json()["items"]) == 3
    rest = await client.get(
        "/products", params={"page_size": 3, "page_token": first.json()["next_page_token"]}
    )
    assert rest.json()["items"][0]["sku"] > first.json()["items"][-1]["sku"]
    assert (await client.get("/products/MUG-001")).json()["unit_price"] == {
        "amount_minor": 1250,
        "currency": "EUR",
    }
    problem(await client.get("/products/NOPE-404"), 404, "NOPE-404")


async def test_a_retried_create_replays_the_first_order_and_another_body_is_422(
    client: httpx.AsyncClient, sign_up: SignUp, gateway: Gateway, backends: Backends
) -> None:
    ada = await sign_up()
    headers = {**ada.auth, "Idempotency-Key": f"retry-{uuid4()}"}
    first = await client.post("/orders", json=ORDER, headers=headers)
    after_first = await written(gateway, backends)
    replay = await client.post("/orders", json=ORDER, headers=headers)
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["location"] == first.headers["location"]

    other = await client.post("/orders", json={**ORDER, "payment_token": "tok_declined"}, headers=headers)
    problem(other, 422, "already used for a different request")
    assert await written(gateway, backends) == after_first  # neither the replay nor the reuse wrote


async def test_the_same_key_of_two_customers_makes_two_orders(
    client: httpx.AsyncClient, sign_up: SignUp
) -> None:
    ada, bob = await sign_up(), await sign_up()
    key = {"Idempotency-Key": f"shared-{uuid4()}"}
    mine = await client.post("/orders", json=ORDER, headers={**ada.auth, **key})
    theirs = await client.post("/orders", json=ORDER, headers={**bob.auth, **key})
    assert mine.json()["id"] != theirs.json()["id"]
    assert theirs.headers["idempotent-replayed"] == "false"


async def test_orders_the_service_refuses_are_mapped_and_write_nothing(
    client: httpx.AsyncClient, sign_up: SignUp, gateway: Gateway, backends: Backends
) -> None:
    ada = await sign_up()
    before = await written(gateway, backends)
    cases = [
        ({"items": [{"sku": "NOPE-404", "quantity": 1}], "payment_token": "tok_success"}, 404, "NOPE-404"),
        (
            {"items": [{"sku": "LTD-001", "quantity": 11}], "payment_token": "tok_success"},
            409,
            "not enough stock",
        ),
        (
            {
                "items": [{"sku": "MUG-001", "quantity": 1}, {"sku": "MUG-001", "quantity": 2}],
                "payment_token": "tok_x",
            },
            422,
            "appears twice",
        ),
    ]
    for body, status, detail in cases:
        response = await client.post(
            "/orders", json=body, headers={**ada.auth, "Idempotency-Key": str(uuid4())}
        )
        problem(response, status, detail)
    assert await written(gateway, backends) == before


async def test_another_customers_order_is_a_404_like_an_unknown_one_on_every_route(
    client: httpx.AsyncClient, sign_up: SignUp, gateway: Gateway, backends: Backends
) -> None:
    ada, bob = await sign_up(), await sign_up()
    created = await client.post("/orders", json=ORDER, headers={**ada.auth, "Idempotency-Key": "ada-order-1"})
    order_id = created.json()["id"]
    backends.payments.record(order_id, str(ada.id), 2500)
    backends.notifications.record(str(ada.id), order_id, ada.email)
    before = await written(gateway, backends)

    answers: dict[str, list[str]] = {}
    for target in (order_id, str(uuid4())):
        for method, path in (
            ("GET", f"/orders/{target}"),
            ("POST", f"/orders/{target}/cancel"),
            ("GET", f"/orders/{target}/payment"),
        ):
            body = problem(await client.request(method, path, headers=bob.auth), 404)
            answers.setdefault(f"{method} {path.replace(target, '<id>')}", []).append(
                body["detail"].replace(target, "<id>")
            )
    for route, details in answers.items():
        assert details[0] == details[1], route  # Bob cannot tell Ada's order from an unknown id

    assert (await client.get("/orders", headers=bob.auth)).json() == {"items": []}
    assert (await client.get("/notifications", headers=bob.auth)).json() == {"items": []}
    mine = await client.get("/notifications", params={"order_id": order_id}, headers=bob.auth)
    assert mine.json() == {"items": []}
    assert await written(gateway, backends) == before
    still = await client.get(f"/orders/{order_id}", headers=ada.auth)
    assert still.json()["status"] == "PENDING"  # Bob's cancel did nothing
    payment = await client.get(f"/orders/{order_id}/payment", headers=ada.auth)
    assert (payment.status_code, payment.json()["amount"]["amount_minor"]) == (200, 2500)
    notifications = (await client.get("/notifications", headers=ada.auth)).json()["items"]
    assert [n["order_id"] for n in notifications] == [order_id]


async def test_a_foreign_page_token_is_a_400_from_the_service(
    client: httpx.AsyncClient, sign_up: SignUp
) -> None:
    ada = await sign_up()
    problem(await client.get("/orders", params={"page_token": "AAAA"}, headers=ada.auth), 400, "page_token")
    problem(
        await client.get("/notifications", params={"page_token": "AAAA"}, headers=ada.auth), 400, "page_token"
    )

"""List operations follow ``next_page_token`` across pages, lazily, in sync and async."""

from __future__ import annotations

import pytest
from sdk_fakes import CATALOG, FakeAPI

from ecommerce_sdk import AsyncClient, AsyncPage, Client, SyncPage

SKUS = [p["sku"] for p in CATALOG]


def test_iterating_a_list_walks_every_page(client: Client, api: FakeAPI) -> None:
    products = list(client.products.list(page_size=2))

    assert [p.sku for p in products] == SKUS
    tokens = [r.url.params.get("page_token") for r in api.requests]
    assert tokens == [None, "p2", "p4"]
    assert {r.url.params["page_size"] for r in api.requests} == {"2"}


def test_pages_are_fetched_only_when_the_iteration_reaches_them(client: Client, api: FakeAPI) -> None:
    products = iter(client.products.list(page_size=2))

    assert [next(products).sku, next(products).sku] == SKUS[:2]
    assert len(api.requests) == 1
    next(products)
    assert len(api.requests) == 2


def test_one_page_at_a_time(client: Client) -> None:
    page = client.products.list(page_size=3)

    assert isinstance(page, SyncPage)
    assert [p.sku for p in page.items] == SKUS[:3]
    assert page.has_next_page()
    assert page.request_id == "req-1"
    last = page.get_next_page()
    assert [p.sku for p in last.items] == SKUS[3:]
    assert not last.has_next_page()
    with pytest.raises(LookupError):
        last.get_next_page()
    assert [len(p.items) for p in page.iter_pages()] == [3, 2]


def test_filters_are_kept_on_every_page(client: Client, api: FakeAPI) -> None:
    orders = [client.orders.create(items=[{"sku": "TEE-042", "quantity": 1}], payment_token="tok_success")]
    orders += [client.orders.create(items=[{"sku": "MUG-001", "quantity": 1}], payment_token="tok_success")]
    orders += [client.orders.create(items=[{"sku": "PEN-100", "quantity": 1}], payment_token="tok_success")]
    for order in orders:
        client.orders.get(order.id)  # settles the payment: PAID
    client.orders.create(items=[{"sku": "LTD-001", "quantity": 1}], payment_token="tok_success")
    api.requests.clear()

    paid = list(client.orders.list(status="PAID", page_size=2))

    assert [o.id for o in paid] == [o.id for o in reversed(orders)]
    assert [r.url.params["status"] for r in api.requests] == ["PAID", "PAID"]


def test_a_page_starting_at_a_given_token(client: Client) -> None:
    page = client.products.list(page_size=2, page_token="p2")

    assert [p.sku for p in page] == SKUS[2:]


def test_items_carry_the_request_id_of_their_page(client: Client) -> None:
    page = client.products.list(page_size=4)
    second = page.get_next_page()

    assert {p.request_id for p in page.items} == {"req-1"}
    assert {p.request_id for p in second.items} == {"req-2"}


def test_an_empty_list_is_one_empty_page(client: Client) -> None:
    page = client.notifications.list()

    assert page.items == []
    assert list(page) == []
    assert not page.has_next_page()


async def test_async_for_walks_every_page(async_client: AsyncClient, api: FakeAPI) -> None:
    skus = [p.sku async for p in async_client.products.list(page_size=2)]

    assert skus == SKUS
    assert [r.url.params.get("page_token") for r in api.requests] == [None, "p2", "p4"]


async def test_awaiting_an_async_list_gives_its_first_page(async_client: AsyncClient, api: FakeAPI) -> None:
    paginator = async_client.products.list(page_size=3)
    assert api.requests == []  # nothing is sent until awaited or iterated

    page = await paginator

    assert isinstance(page, AsyncPage)
    assert [p.sku for p in page.items] == SKUS[:3]
    last = await page.get_next_page()
    assert [p.sku for p in last.items] == SKUS[3:]
    with pytest.raises(LookupError):
        await last.get_next_page()
    assert [len(p.items) async for p in page.iter_pages()] == [3, 2]
    assert [p.sku async for p in page] == SKUS


def test_every_kind_of_listed_item_has_a_request_id(client: Client) -> None:
    order = client.orders.create(items=[{"sku": "MUG-001", "quantity": 1}], payment_token="tok_success")

    notification = next(iter(client.notifications.list(order_id=order.id)))
    listed = next(iter(client.orders.list()))

    assert notification.request_id == "req-2"
    assert listed.request_id == "req-3"

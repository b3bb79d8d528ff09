"""Fixtures of the SDK's tests: a fake API and a fake clock, wired into a sync and an async client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sdk_fakes import BASE_URL, EMAIL, PASSWORD, FakeAPI, FakeClock

from ecommerce_sdk import AsyncClient, Client


@pytest.fixture
def api() -> FakeAPI:
    return FakeAPI()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def token(api: FakeAPI) -> str:
    """A logged-in customer of the fake API."""
    return api.seed_user(EMAIL, PASSWORD)


@pytest.fixture
def client(api: FakeAPI, clock: FakeClock, token: str) -> Iterator[Client]:
    with (
        httpx.Client(transport=api.transport) as http,
        Client(base_url=BASE_URL, api_token=token, http_client=http, clock=clock) as client,
    ):
        yield client


@pytest.fixture
async def async_client(api: FakeAPI, clock: FakeClock, token: str) -> AsyncIterator[AsyncClient]:
    async with (
        httpx.AsyncClient(transport=api.transport) as http,
        AsyncClient(base_url=BASE_URL, api_token=token, http_client=http, clock=clock) as client,
    ):
        yield client

"""``Client`` and ``AsyncClient``: the entry points of the SDK, one attribute per resource of the API.

::

    from ecommerce_sdk import Client

    with Client() as client:                       # ECOMMERCE_BASE_URL / ECOMMERCE_API_TOKEN, or defaults
        client.auth.login(email="ada@example.com", password="correct-horse-battery-staple")
        order = client.orders.create(items=[{"sku": "MUG-001", "quantity": 2}], payment_token="tok_success")

Both take the same keyword arguments (see ``SyncAPIClient``): ``base_url``, ``api_token``, ``timeout``,
``max_retries`` (2), ``default_headers``, ``http_client`` (an ``httpx.Client`` / ``httpx.AsyncClient`` of
your own: proxies, a test transport...) and ``clock``.
"""

from __future__ import annotations

from ecommerce_sdk.resources import AsyncClientResources, ClientResources

__all__ = ["AsyncClient", "Client"]


class Client(ClientResources):
    """A synchronous client of the e-commerce API: ``client.auth``, ``client.products``, ``client.orders``,
    ``client.notifications`` and ``client.health``. Use it as a context manager, or call ``close()``.
    """

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r}, authenticated={self.api_token is not None})"


class AsyncClient(AsyncClientResources):
    """An asyncio client of the e-commerce API, with the same resources as ``Client``; every operation is
    awaited, and list operations are iterated with ``async for``. Use ``async with``, or ``await close()``.
    """

    def __repr__(self) -> str:
        return f"AsyncClient(base_url={self.base_url!r}, authenticated={self.api_token is not None})"

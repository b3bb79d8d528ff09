"""Auto-paginating results of the list operations.

The API pages with a cursor: a page carries at most ``page_size`` items and a ``next_page_token`` that asks
for the next one; the last page has none. Iterating a page yields its items and then those of every later
page, fetched only when reached::

    for order in client.orders.list(status="PAID"):        # every paid order, page after page
        ...
    page = client.orders.list(page_size=10)                 # or one page at a time
    while page.has_next_page():
        page = page.get_next_page()

    async for order in async_client.orders.list():          # async: iterate without awaiting...
        ...
    first = await async_client.orders.list()                # ...or await for the first page
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Sequence
from typing import Any, Generic, Protocol, Self, TypeVar

__all__ = ["AsyncPage", "AsyncPaginator", "PageModel", "SyncPage"]

ItemT = TypeVar("ItemT")
ItemT_co = TypeVar("ItemT_co", covariant=True)


class PageModel(Protocol[ItemT_co]):
    """The shape of every page schema of the API (``OrderPage``, ``ProductPage``...)."""

    @property
    def items(self) -> Sequence[ItemT_co]: ...

    @property
    def next_page_token(self) -> str | None: ...

    @classmethod
    def model_validate_json(cls, json_data: bytes, /) -> Self: ...


class SyncPage(Generic[ItemT]):
    """One page of a list; iterating it yields its items, then those of every later page."""

    def __init__(
        self,
        *,
        items: Sequence[ItemT],
        next_page_token: str | None,
        request_id: str | None,
        fetch: Callable[[str], SyncPage[ItemT]],
    ) -> None:
        self.items: list[ItemT] = list(items)
        self.next_page_token = next_page_token
        self.request_id = request_id
        self._fetch = fetch

    def has_next_page(self) -> bool:
        return self.next_page_token is not None

    def get_next_page(self) -> SyncPage[ItemT]:
        """Fetches the page after this one; a ``LookupError`` on the last page."""
        if self.next_page_token is None:
            raise LookupError("this is the last page")
        return self._fetch(self.next_page_token)

    def iter_pages(self) -> Iterator[SyncPage[ItemT]]:
        """This page, then each later page, fetched as the iteration reaches it."""
        page = self
        yield page
        while page.has_next_page():
            page = page.get_next_page()
            yield page

    def __iter__(self) -> Iterator[ItemT]:
        for page in self.iter_pages():
            yield from page.items

    def __repr__(self) -> str:
        return f"SyncPage(items={len(self.items)}, next_page_token={self.next_page_token!r})"


class AsyncPage(Generic[ItemT]):
    """One page of a list (async); ``async for`` over it yields its items, then those of every later page."""

    def __init__(
        self,
        *,
        items: Sequence[ItemT],
        next_page_token: str | None,
        request_id: str | None,
        fetch: Callable[[str], Awaitable[AsyncPage[ItemT]]],
    ) -> None:
        self.items: list[ItemT] = list(items)
        self.next_page_token = next_page_token
        self.request_id = request_id
        self._fetch = fetch

    def has_next_page(self) -> bool:
        return self.next_page_token is not None

    async def get_next_page(self) -> AsyncPage[ItemT]:
        """Fetches the page after this one; a ``LookupError`` on the last page."""
        if self.next_page_token is None:
            raise LookupError("this is the last page")
        return await self._fetch(self.next_page_token)

    async def iter_pages(self) -> AsyncIterator[AsyncPage[ItemT]]:
        """This page, then each later page, fetched as the iteration reaches it."""
        page = self
        yield page
        while page.has_next_page():
            page = await page.get_next_page()
            yield page

    async def __aiter__(self) -> AsyncIterator[ItemT]:
        async for page in self.iter_pages():
            for item in page.items:
                yield item

    def __repr__(self) -> str:
        return f"AsyncPage(items={len(self.items)}, next_page_token={self.next_page_token!r})"


class AsyncPaginator(Generic[ItemT]):
    """What an async list operation returns: ``await`` it for the first page, or ``async for`` every item."""

    def __init__(self, first_page: Callable[[], Awaitable[AsyncPage[ItemT]]]) -> None:
        self._first_page = first_page

    def __await__(self) -> Generator[Any, None, AsyncPage[ItemT]]:
        return self._first_page().__await__()

    async def __aiter__(self) -> AsyncIterator[ItemT]:
        page = await self
        async for item in page:
            yield item

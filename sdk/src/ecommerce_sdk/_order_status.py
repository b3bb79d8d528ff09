"""``orders.wait_for_status``: poll an order until it reaches a status the caller waits for.

Payments are processed asynchronously: ``orders.create`` answers with a ``PENDING`` order, which becomes
``PAID`` or ``CANCELLED`` once the payment service has charged (or failed to charge) it. The generated
``Orders`` / ``AsyncOrders`` resources take these mixins, so the helper sits beside the operations.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol, get_args
from uuid import UUID

from ecommerce_sdk._base_client import AsyncAPIClient, SyncAPIClient
from ecommerce_sdk._exceptions import WaitTimeoutError
from ecommerce_sdk.types import Order, OrderStatus

__all__ = ["TERMINAL_STATUSES", "AsyncWaitForOrderStatus", "WaitForOrderStatus"]

TERMINAL_STATUSES: frozenset[OrderStatus] = frozenset({"PAID", "CANCELLED"})
"""Where an order ends once its payment has been processed."""


class _Orders(Protocol):
    @property
    def _client(self) -> SyncAPIClient: ...

    def get(self, order_id: UUID | str) -> Order: ...


class _AsyncOrders(Protocol):
    @property
    def _client(self) -> AsyncAPIClient: ...

    async def get(self, order_id: UUID | str) -> Order: ...


def _wanted(statuses: Collection[OrderStatus], timeout: float, poll_interval: float) -> frozenset[str]:
    wanted = frozenset(statuses)
    unknown = wanted - set(get_args(OrderStatus))
    if not wanted or unknown:
        raise ValueError(f"statuses must be some of {get_args(OrderStatus)}, not {sorted(statuses)}")
    if timeout < 0 or poll_interval <= 0:
        raise ValueError("timeout must be >= 0 and poll_interval > 0")
    return wanted


class WaitForOrderStatus:
    """Mixin of ``Orders``."""

    def wait_for_status(
        self: _Orders,
        order_id: UUID | str,
        statuses: Collection[OrderStatus] = TERMINAL_STATUSES,
        *,
        timeout: float = 30.0,
        poll_interval: float = 0.5,
    ) -> Order:
        """Polls the order every ``poll_interval`` seconds until its status is one of ``statuses``.

        Returns the order in that status; raises ``WaitTimeoutError`` (with the order as last seen) when
        ``timeout`` seconds pass first, and the API's errors as ``get`` does (a ``NotFoundError``...).
        """
        wanted = _wanted(statuses, timeout, poll_interval)
        clock = self._client.clock
        deadline = clock.monotonic() + timeout
        while True:
            order = self.get(order_id)
            if order.status in wanted:
                return order
            remaining = deadline - clock.monotonic()
            if remaining <= 0:
                raise WaitTimeoutError(order, wanted, timeout)
            clock.sleep(min(poll_interval, remaining))


class AsyncWaitForOrderStatus:
    """Mixin of ``AsyncOrders``."""

    async def wait_for_status(
        self: _AsyncOrders,
        order_id: UUID | str,
        statuses: Collection[OrderStatus] = TERMINAL_STATUSES,
        *,
        timeout: float = 30.0,
        poll_interval: float = 0.5,
    ) -> Order:
        """Polls the order every ``poll_interval`` seconds until its status is one of ``statuses``.

        Returns the order in that status; raises ``WaitTimeoutError`` (with the order as last seen) when
        ``timeout`` seconds pass first, and the API's errors as ``get`` does (a ``NotFoundError``...).
        """
        wanted = _wanted(statuses, timeout, poll_interval)
        clock = self._client.clock
        deadline = clock.monotonic() + timeout
        while True:
            order = await self.get(order_id)
            if order.status in wanted:
                return order
            remaining = deadline - clock.monotonic()
            if remaining <= 0:
                raise WaitTimeoutError(order, wanted, timeout)
            await clock.async_sleep(min(poll_interval, remaining))

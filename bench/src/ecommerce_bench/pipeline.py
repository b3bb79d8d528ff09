"""What happened to each order after its 201: PAID (or not), notified, emailed -- and the step's summary.

``OrderTimes`` come from the services' tables for a stack the bench started (``database.ServiceTables``),
or, for an external stack, from the public API (``ApiPipeline``: each customer's orders and notifications,
newest first, through the SDK).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ecommerce_bench.results import Orders, Pipeline
from ecommerce_bench.stats import latency_ms
from ecommerce_bench.workload import Customer
from ecommerce_sdk import AsyncClient


@dataclass(frozen=True, slots=True)
class OrderTimes:
    order_id: str
    status: str
    created_at: datetime
    paid_at: datetime | None
    notified_at: datetime | None
    """When the ``order_paid`` notification was recorded."""
    email_at: datetime | None
    """When the mail server accepted that email."""

    @property
    def completed(self) -> bool:
        return self.status == "PAID" and self.email_at is not None


def settled(times: Iterable[OrderTimes]) -> bool:
    """No order is PENDING, and every PAID one has had its email accepted."""
    return all(t.status != "PENDING" and (t.status != "PAID" or t.email_at is not None) for t in times)


def summarise(created: set[str], times: dict[str, OrderTimes], load_s: float) -> tuple[Orders, Pipeline]:
    """The step's orders (the ids of its 201s) as counts, throughput and pipeline latencies."""
    mine = [times[order_id] for order_id in created if order_id in times]
    done = [t for t in mine if t.completed]
    emailed = sorted(t.email_at for t in done if t.email_at is not None)
    if len(emailed) >= 2 and (span := (emailed[-1] - emailed[0]).total_seconds()) > 0:
        # Completions per second while they flowed: a latency that is the same for every order shifts
        # the first and the last alike, so it does not lower the rate.
        rate = (len(emailed) - 1) / span
    else:
        rate = len(done) / load_s if load_s > 0 else 0.0
    orders = Orders(
        created=len(created),
        found=len(mine),
        paid=sum(t.status == "PAID" for t in mine),
        cancelled=sum(t.status == "CANCELLED" for t in mine),
        pending=sum(t.status == "PENDING" for t in mine),
        notified=sum(t.notified_at is not None for t in mine),
        email_accepted=sum(t.email_at is not None for t in mine),
        completed=len(done),
        completed_per_s=round(rate, 3),
    )
    pipeline = Pipeline(
        created_to_paid=latency_ms((t.paid_at - t.created_at).total_seconds() for t in mine if t.paid_at),
        created_to_notified=latency_ms(
            (t.notified_at - t.created_at).total_seconds() for t in mine if t.notified_at
        ),
        created_to_email_accepted=latency_ms(
            (t.email_at - t.created_at).total_seconds() for t in mine if t.email_at
        ),
    )
    return orders, pipeline


class ApiPipeline:
    """Order times through the public API, for a stack the bench can only reach over HTTP."""

    def __init__(self, base_url: str, customers: list[Customer]) -> None:
        self._base_url = base_url
        self._customers = customers

    async def order_times(self, since: datetime) -> dict[str, OrderTimes]:
        """Every order of the bench's customers created since ``since``, with its times."""
        times = {}
        for customer in self._customers:
            async with AsyncClient(base_url=self._base_url, api_token=customer.token) as client:
                orders = []
                async for order in client.orders.list(page_size=100):  # newest first
                    if order.created_at < since:
                        break
                    orders.append(order)
                notices: dict[str, tuple[datetime, datetime | None]] = {}
                async for notice in client.notifications.list(page_size=100):  # newest first
                    if notice.created_at < since:
                        break
                    if notice.template == "order_paid":
                        notices[str(notice.order_id)] = (notice.created_at, notice.sent_at)
            for order in orders:
                notified, sent = notices.get(str(order.id), (None, None))
                status = str(order.status)
                times[str(order.id)] = OrderTimes(
                    str(order.id),
                    status,
                    order.created_at,
                    order.updated_at if status == "PAID" else None,
                    notified,
                    sent,
                )
        return times

"""Load generation: real ``POST /v1/orders`` calls, sent on a schedule (open loop) or back to back.

Open loop: the i-th request is due at ``start + i / rate`` and is sent then, whether or not earlier ones
have been answered; its latency is measured from the time it was *due*. A server (or a load generator)
that stalls therefore shows the whole stall in the percentiles instead of silently sending less -- the
"coordinated omission" of closed-loop tools. Closed loop: ``concurrency`` workers, each sending its next
request when the last one is answered, for the highest rate the stack sustains.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from ecommerce_bench.workload import Customer


@dataclass(frozen=True, slots=True)
class Outcome:
    """One call: the HTTP status (``None`` if there was no answer), the order id of a 201."""

    status: int | None
    error: str | None = None
    """``timeout`` or ``connection`` when there was no answer."""
    order_id: str | None = None
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Sample:
    latency_s: float
    outcome: Outcome


@dataclass
class Tally:
    """Live counters of a step (read by the progress display while it runs)."""

    sent: int = 0
    answered: int = 0
    errors: int = 0
    kinds: Counter[str] = field(default_factory=Counter)


class OrderPoster:
    """Places one order per call: the next customer in turn, a random catalog SKU, a fresh idempotency key."""

    def __init__(
        self, http: httpx.AsyncClient, customers: Sequence[Customer], skus: Sequence[str], payment_token: str
    ) -> None:
        self._http = http
        self._customers = itertools.cycle(customers)
        self._skus = list(skus)
        self._payment_token = payment_token

    async def post(self) -> Outcome:
        customer = next(self._customers)
        body = {
            "items": [{"sku": random.choice(self._skus), "quantity": 1}],
            "payment_token": self._payment_token,
        }
        headers = {"Authorization": f"Bearer {customer.token}", "Idempotency-Key": str(uuid.uuid4())}
        try:
            response = await self._http.post("orders", json=body, headers=headers)
        except httpx.TimeoutException:
            return Outcome(None, "timeout")
        except httpx.TransportError:
            return Outcome(None, "connection")
        if response.status_code != 201:
            return Outcome(response.status_code)
        return Outcome(
            201,
            order_id=str(response.json()["id"]),
            replayed=response.headers.get("Idempotent-Replayed", "false").lower() == "true",
        )


def _count(tally: Tally, outcome: Outcome) -> None:
    tally.answered += 1
    if outcome.status != 201:
        tally.errors += 1
        tally.kinds[outcome.error or str(outcome.status)] += 1


async def open_loop(poster: OrderPoster, rate: float, seconds: float, tally: Tally) -> list[Sample]:
    """``rate * seconds`` orders at evenly spaced due times; latency counted from each due time."""
    loop = asyncio.get_running_loop()
    samples: list[Sample] = []

    async def one(due: float) -> None:
        outcome = await poster.post()
        samples.append(Sample(loop.time() - due, outcome))
        _count(tally, outcome)

    start = loop.time()
    tasks = []
    for i in range(round(rate * seconds)):
        due = start + i / rate
        if (delay := due - loop.time()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
        tally.sent += 1
    await asyncio.gather(*tasks)
    return samples


async def closed_loop(poster: OrderPoster, concurrency: int, seconds: float, tally: Tally) -> list[Sample]:
    """``concurrency`` workers sending back to back until ``seconds`` have passed; latency from send."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    samples: list[Sample] = []

    async def worker() -> None:
        while (sent_at := loop.time()) < end:
            tally.sent += 1
            outcome = await poster.post()
            samples.append(Sample(loop.time() - sent_at, outcome))
            _count(tally, outcome)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return samples

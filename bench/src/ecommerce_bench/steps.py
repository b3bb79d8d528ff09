"""Measuring one step: readings before, the load, a bounded drain, readings after, then what became of
each order the step created.

Before and after a step the bench reads CPU time (``/proc``) and PostgreSQL's counters; after the load it
waits (bounded) until the pipeline has drained (every order PAID and emailed), takes the closing
readings, then reads the services' tables -- or, for an external stack, the API -- for each order's times.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from ecommerce_bench.database import PostgresCounters, ServiceTables
from ecommerce_bench.display import Display
from ecommerce_bench.load import OrderPoster, Sample, Tally, closed_loop, open_loop
from ecommerce_bench.options import RunOptions
from ecommerce_bench.pipeline import ApiPipeline, settled, summarise
from ecommerce_bench.processes import ProcessGroup, cpu_seconds, memory
from ecommerce_bench.results import APART, Cpu, Idle, Memory, Messages, Postgres, Requests, Step
from ecommerce_bench.stats import latency_ms
from ecommerce_bench.workload import Customer, renew_tokens

EMAILS_PER_ORDER = 2  # order_received and order_paid
QUIET_S = 5.0  # a drain also ends when no email came for this long (a stack that sends fewer per order)
SINCE_MARGIN = timedelta(seconds=1)  # orders are matched by id; the margin only bounds the read


@dataclass(frozen=True, slots=True)
class StepPlan:
    name: str
    mode: Literal["open", "closed"]
    seconds: float
    rate: float | None = None
    concurrency: int | None = None


def plan(options: RunOptions) -> list[StepPlan]:
    steps = [StepPlan(f"open {rate:g}/s", "open", options.step_seconds, rate=rate) for rate in options.rates]
    if options.max_concurrency > 0:
        steps.append(
            StepPlan(
                f"max x{options.max_concurrency}",
                "closed",
                options.max_seconds,
                concurrency=options.max_concurrency,
            )
        )
    return steps


@dataclass
class Meters:
    """What the bench can measure of a stack it started on this machine."""

    groups: list[ProcessGroup]
    tables: ServiceTables
    counters: PostgresCounters | None
    maildir: Path
    settle_s: float

    def mails(self) -> int:
        if not self.maildir.is_dir():
            return 0
        with os.scandir(self.maildir) as entries:
            return sum(1 for entry in entries if entry.name.endswith(".eml"))

    async def transactions(self) -> dict[str, int]:
        return await self.counters.transactions() if self.counters else {}


def _now() -> datetime:
    return datetime.now(UTC)


class Bench:
    """The steps of one run against one stack."""

    def __init__(
        self,
        options: RunOptions,
        display: Display,
        base_url: str,
        customers: list[Customer],
        poster: OrderPoster,
        meters: Meters | None,
    ) -> None:
        self.options = options
        self.display = display
        self.base_url = base_url
        self.customers = customers
        self.poster = poster
        self.meters = meters
        self.api = ApiPipeline(base_url, customers)
        self.idle_transactions_per_s = 0.0

    async def _generate(self, step: StepPlan, tally: Tally) -> list[Sample]:
        if step.mode == "open":
            assert step.rate is not None
            return await open_loop(self.poster, step.rate, step.seconds, tally)
        assert step.concurrency is not None
        return await closed_loop(self.poster, step.concurrency, step.seconds, tally)

    async def _drain(self, name: str, created: set[str], mails_before: int, since: datetime) -> None:
        timeout = self.options.drain_timeout
        if self.meters is not None:
            meters = self.meters

            async def mails() -> int:
                return meters.mails()

            target = mails_before + EMAILS_PER_ORDER * len(created)
            await self.display.until(f"{name} drain", target, mails, timeout, quiet=QUIET_S)
            return

        async def finished() -> int:
            await asyncio.sleep(1.0)  # an API poll reads every customer's lists: not too often
            times = await self.api.order_times(since)
            return sum(1 for order_id in created if order_id in times and settled([times[order_id]]))

        await self.display.until(f"{name} drain", len(created), finished, timeout, quiet=None)

    async def warm_up(self) -> None:
        if self.options.warmup_seconds <= 0:
            return
        step = StepPlan("warm-up", "open", self.options.warmup_seconds, rate=min(self.options.rates))
        mails = self.meters.mails() if self.meters else 0
        since = _now() - SINCE_MARGIN
        tally = Tally()
        samples = await self.display.load(step.name, step.seconds, tally, self._generate(step, tally))
        await self._drain(step.name, _created(samples), mails, since)

    async def idle(self) -> Idle | None:
        meters = self.meters
        if meters is None or self.options.idle_seconds <= 0:
            return None
        if meters.counters:
            await self.display.wait("stats settle", meters.settle_s)
        cpu_before, tx_before = cpu_seconds(meters.groups), await meters.transactions()
        started = asyncio.get_running_loop().time()
        await self.display.wait("idle", self.options.idle_seconds)
        seconds = asyncio.get_running_loop().time() - started
        cpu_after, tx_after = cpu_seconds(meters.groups), await meters.transactions()
        percent = {name: round((cpu_after[name] - cpu_before[name]) / seconds * 100, 3) for name in cpu_after}
        rate = None
        if meters.counters:
            rate = sum(tx_after[db] - tx_before[db] for db in tx_after) / seconds
            self.idle_transactions_per_s = rate
        return Idle(
            seconds=round(seconds, 3),
            cpu_percent_of_core=percent,
            system_percent_of_core=round(sum(v for k, v in percent.items() if k not in APART), 3),
            postgres_transactions_per_s=round(rate, 3) if rate is not None else None,
        )

    async def step(self, step: StepPlan) -> Step:
        options, meters, loop = self.options, self.meters, asyncio.get_running_loop()
        await renew_tokens(
            self.base_url, self.customers, valid_for=step.seconds + options.drain_timeout + 300
        )
        mails = meters.mails() if meters else 0
        cpu_before = cpu_seconds(meters.groups) if meters else {}
        tx_before = await meters.transactions() if meters else {}
        started_wall, started = _now(), loop.time()
        tally = Tally()
        samples = await self.display.load(step.name, step.seconds, tally, self._generate(step, tally))
        answered = loop.time() - started
        load_s = max(step.seconds, answered)  # the offered window, or longer if answers lagged
        created = _created(samples)
        await self._drain(step.name, created, mails, started_wall - SINCE_MARGIN)
        window = loop.time() - started
        ended_wall = _now()
        cpu = postgres = messages = memory_use = None
        if meters is None:
            times = await self.api.order_times(started_wall - SINCE_MARGIN)
        else:
            cpu_after = cpu_seconds(meters.groups)
            memory_use = _memory(meters.groups)
            if meters.counters:
                await self.display.wait("stats settle", meters.settle_s)
            tx_after = await meters.transactions()
            tables = await meters.tables.after_step(started_wall - SINCE_MARGIN, started_wall, ended_wall)
            times = tables.orders
            completed = sum(1 for order_id in created if order_id in times and times[order_id].completed)
            cpu = _cpu(cpu_before, cpu_after, window, completed)
            if meters.counters:
                postgres = self._postgres(tx_before, tx_after, meters.settle_s, len(created))
            published = sum(tables.published.values())
            messages = Messages(
                published=published,
                by_service=tables.published,
                per_order=round(published / len(created), 3) if created else None,
            )
        orders, pipeline = summarise(created, times, load_s)
        mine = [times[order_id] for order_id in created if order_id in times]
        return Step(
            name=step.name,
            mode=step.mode,
            target_rate=step.rate,
            concurrency=step.concurrency,
            load_s=round(load_s, 3),
            drain_s=round(window - answered, 3),
            drained=orders.found == orders.created and settled(mine),
            requests=_requests(samples, load_s),
            http_latency_ms=latency_ms(sample.latency_s for sample in samples),
            orders=orders,
            pipeline_ms=pipeline,
            cpu=cpu,
            memory=memory_use,
            postgres=postgres,
            messages=messages,
        )

    def _postgres(
        self, before: dict[str, int], after: dict[str, int], settle_s: float, created: int
    ) -> Postgres:
        by_service = {service: after[service] - before.get(service, 0) for service in after}
        total = sum(by_service.values())
        idle = round(self.idle_transactions_per_s * settle_s, 1)
        return Postgres(
            transactions=total,
            by_database=by_service,
            idle_transactions_subtracted=idle,
            per_order=round(max(0.0, total - idle) / created, 3) if created else None,
        )


def _created(samples: list[Sample]) -> set[str]:
    return {s.outcome.order_id for s in samples if s.outcome.order_id is not None and not s.outcome.replayed}


def _requests(samples: list[Sample], load_s: float) -> Requests:
    kinds = Counter(s.outcome.error or str(s.outcome.status) for s in samples if s.outcome.status != 201)
    ok = sum(1 for s in samples if s.outcome.status == 201)
    return Requests(
        sent=len(samples),
        ok=ok,
        errors=len(samples) - ok,
        error_kinds=dict(sorted(kinds.items())),
        replayed=sum(1 for s in samples if s.outcome.replayed),
        sent_per_s=round(len(samples) / load_s, 3) if load_s > 0 else 0.0,
    )


def _cpu(before: dict[str, float], after: dict[str, float], window: float, completed: int) -> Cpu:
    used = {name: max(0.0, after[name] - before.get(name, 0.0)) for name in after}
    system = sum(seconds for name, seconds in used.items() if name not in APART)

    def per_order(seconds: float) -> float | None:
        return round(seconds * 1000 / completed, 3) if completed else None

    return Cpu(
        window_s=round(window, 3),
        ms_per_order={name: per_order(seconds) for name, seconds in used.items()},
        cores={name: round(seconds / window, 4) for name, seconds in used.items()},
        system_ms_per_order=per_order(system),
        system_cores=round(system / window, 4),
    )


def _memory(groups: list[ProcessGroup]) -> Memory:
    use = memory(groups)
    return Memory(
        rss={name: round(m.rss, 1) for name, m in use.items()},
        peak_rss={name: round(m.peak, 1) if m.peak is not None else None for name, m in use.items()},
    )

"""What a person watching ``make bench`` sees: a progress bar per phase and a summary table (rich)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ecommerce_bench.load import Tally
from ecommerce_bench.results import BenchResult, Latency

T = TypeVar("T")
TICK_S = 0.25
WIDE = 160


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _p(latency: Latency, field: str) -> str:
    value: float | None = getattr(latency, field)
    return _fmt(value)


class Display:
    def __init__(self, console: Console | None = None) -> None:
        console = console or Console(highlight=False)
        # Piped output (a log file, the smoke test) is not cut to 80 columns: the table is wide.
        self.console = console if console.is_terminal else Console(highlight=False, width=WIDE)

    def note(self, message: str) -> None:
        self.console.print(f"[dim]{datetime.now():%H:%M:%S}[/] {message}")

    def _progress(self, *columns: Any) -> Progress:
        return Progress(
            TextColumn("{task.description:<14}"), BarColumn(), *columns, console=self.console, transient=False
        )

    async def load(self, name: str, seconds: float, tally: Tally, work: Coroutine[Any, Any, T]) -> T:
        """Runs ``work`` (a load generator) with a bar over its planned time and its live counts."""
        loop = asyncio.get_running_loop()
        job = asyncio.ensure_future(work)
        with self._progress(TimeElapsedColumn(), TextColumn("{task.fields[counts]}")) as progress:
            task = progress.add_task(name, total=seconds, counts="")
            start = loop.time()
            while not job.done():
                await asyncio.wait({job}, timeout=TICK_S)
                ok, in_flight = tally.answered - tally.errors, tally.sent - tally.answered
                counts = f"sent {tally.sent}  ok {ok}  errors {tally.errors}  in flight {in_flight}"
                progress.update(task, completed=min(seconds, loop.time() - start), counts=counts)
        return job.result()

    async def wait(self, name: str, seconds: float) -> None:
        """Sleeps ``seconds`` with a bar (nothing is shown for 0)."""
        if seconds <= 0:
            return
        with self._progress(TimeElapsedColumn()) as progress:
            task = progress.add_task(name, total=seconds)
            for _ in range(round(seconds / TICK_S)):
                await asyncio.sleep(TICK_S)
                progress.advance(task, TICK_S)

    async def until(
        self, name: str, target: int, count: Callable[[], Awaitable[int]], within: float, quiet: float | None
    ) -> bool:
        """Polls ``count`` until it reaches ``target`` (True), stays unchanged ``quiet`` seconds, or
        ``within`` seconds have passed (False)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        last, changed = -1, loop.time()
        with self._progress(MofNCompleteColumn(), TimeElapsedColumn()) as progress:
            task = progress.add_task(name, total=target)
            while True:
                value = await count()
                progress.update(task, completed=min(value, target))
                now = loop.time()
                if value >= target:
                    return True
                if value != last:
                    last, changed = value, now
                if now > deadline or (quiet is not None and now - changed > quiet):
                    return False
                await asyncio.sleep(TICK_S)

    def summary(self, result: BenchResult) -> None:
        table = Table(title=f"{result.label}: {result.environment.database}, {result.environment.base_url}")
        for header in (
            "step", "sent/s", "done/s", "POST p50", "p99", "p99.9", "errors", "→PAID p99", "→email p99",
            "CPU ms/order", "PG tx/order", "msgs/order", "pending",
        ):  # fmt: skip
            table.add_column(header, justify="right")
        for step in result.steps:
            table.add_row(
                step.name,
                _fmt(step.requests.sent_per_s),
                _fmt(step.orders.completed_per_s),
                _p(step.http_latency_ms, "p50"),
                _p(step.http_latency_ms, "p99"),
                _p(step.http_latency_ms, "p999"),
                str(step.requests.errors),
                _p(step.pipeline_ms.created_to_paid, "p99"),
                _p(step.pipeline_ms.created_to_email_accepted, "p99"),
                _fmt(step.cpu.system_ms_per_order if step.cpu else None, 2),
                _fmt(step.postgres.per_order if step.postgres else None, 2),
                _fmt(step.messages.per_order if step.messages else None, 2),
                str(step.orders.pending),
            )
        self.console.print(table)
        self.console.print("latencies in ms; CPU: services + PostgreSQL + RabbitMQ per completed order")
        if result.idle is not None:
            self.console.print(
                f"idle: {result.idle.system_percent_of_core:.2f}% of a core"
                + (
                    f", {result.idle.postgres_transactions_per_s:.1f} PostgreSQL transactions/s"
                    if result.idle.postgres_transactions_per_s is not None
                    else ""
                )
            )

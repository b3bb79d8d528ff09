"""One benchmark run: the stack (started, or external), customers, warm-up, the idle stack, a ladder of
open-loop rates, then a closed-loop run; the result as ``results.BenchResult``."""

from __future__ import annotations

import os
import platform
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import httpx
from devstack.stack import ROOT

from ecommerce_bench.database import PostgresCounters, ServiceTables
from ecommerce_bench.display import Display
from ecommerce_bench.load import OrderPoster
from ecommerce_bench.options import RunOptions
from ecommerce_bench.processes import ProcessGroup, postgres_servers, rabbitmq_nodes
from ecommerce_bench.results import SCHEMA_VERSION, BenchResult, Environment, Idle, Step
from ecommerce_bench.stack import StartedStack, check_checkout, git_state, started_stack
from ecommerce_bench.steps import Bench, Meters, plan
from ecommerce_bench.workload import PAYMENT_TOKEN, orderable_skus, sign_up


def _now() -> datetime:
    return datetime.now(UTC)


async def _steps(
    options: RunOptions, display: Display, base_url: str, meters: Meters | None, alive: Callable[[], None]
) -> tuple[Idle | None, list[Step]]:
    """Customers, warm-up, idle, then every step; ``alive`` raises if the stack has lost a process."""
    display.note(f"signing up {options.users} customer(s) at {base_url}")
    customers = await sign_up(base_url, options.users, secrets.token_hex(4))
    skus = await orderable_skus(base_url)
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base_url, timeout=options.http_timeout, limits=limits) as http:
        bench = Bench(
            options, display, base_url, customers, OrderPoster(http, customers, skus, PAYMENT_TOKEN), meters
        )
        await bench.warm_up()
        alive()
        idle = await bench.idle()
        steps = []
        for step in plan(options):
            steps.append(await bench.step(step))
            alive()
    return idle, steps


def _label(options: RunOptions, database: str, commit: str | None) -> str:
    label = options.label or "-".join(part for part in (database, (commit or "")[:8]) if part)
    return re.sub(r"[^A-Za-z0-9._-]+", "-", label) + ("-smoke" if options.smoke and not options.label else "")


async def run(options: RunOptions, display: Display) -> BenchResult:
    started_at = _now()
    bench_commit, _ = git_state(ROOT)
    if options.base_url is not None:
        idle, steps = await _steps(options, display, options.base_url.rstrip("/"), None, lambda: None)
        environment = _environment("external", options.base_url, None, None, None, bench_commit, {}, {})
    else:
        if options.stack_root is not None:
            check_checkout(options.stack_root)
        var_dir = Path(tempfile.mkdtemp(prefix="ecommerce-bench-"))
        try:
            display.note(f"starting the stack ({options.database}) of {options.stack_root or ROOT}")
            async with started_stack(
                var_dir, options.database, options.settings, options.stack_root
            ) as stack:
                meters = await _meters(stack, options)
                try:
                    idle, steps = await _steps(
                        options, display, stack.base_url, meters, lambda: _alive(stack)
                    )
                finally:
                    if meters.counters:
                        await meters.counters.close()
                display.note("stopping the stack")
            commit, dirty = git_state(stack.root)
            environment = _environment(
                options.database, stack.base_url, str(stack.root), commit, dirty, bench_commit,
                stack.settings, stack.exit_codes,
            )  # fmt: skip
        finally:
            if options.keep_var:
                display.note(f"the stack's files are kept in {var_dir}")
            else:
                shutil.rmtree(var_dir, ignore_errors=True)
    return BenchResult(
        schema_version=SCHEMA_VERSION,
        label=_label(options, environment.database, environment.stack_commit),
        smoke=options.smoke,
        started_at=started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        finished_at=_now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        options=options.as_json(),
        environment=environment,
        idle=idle,
        steps=steps,
    )


def _alive(stack: StartedStack) -> None:
    if exited := stack.stack.exited():
        raise RuntimeError(f"process(es) of the stack exited during the run: {exited}")


async def _meters(stack: StartedStack, options: RunOptions) -> Meters:
    groups = [ProcessGroup(name, (pid,)) for name, pid in stack.pids.items()]
    counters = None
    if stack.database == "postgres":
        groups.append(ProcessGroup("postgres", postgres_servers()))
        counters = await PostgresCounters.connect(stack.service_urls)
    groups.append(ProcessGroup("rabbitmq", rabbitmq_nodes()))
    groups.append(ProcessGroup("loadgen", (os.getpid(),), descendants=False))
    return Meters(
        groups=groups,
        tables=ServiceTables(stack.service_urls),
        counters=counters,
        maildir=stack.maildir,
        settle_s=options.pg_settle_seconds if counters else 0.0,
    )


def _environment(
    database: Literal["postgres", "sqlite", "external"],
    base_url: str,
    root: str | None,
    commit: str | None,
    dirty: bool | None,
    bench_commit: str | None,
    settings: dict[str, str],
    exit_codes: dict[str, int],
) -> Environment:
    return Environment(
        database=database,
        base_url=base_url,
        stack_root=root,
        stack_commit=commit,
        stack_dirty=dirty,
        bench_commit=bench_commit,
        python=platform.python_version(),
        cpus=os.cpu_count() or 0,
        kernel=platform.release(),
        settings=settings,
        exit_codes=exit_codes,
    )

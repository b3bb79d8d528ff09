"""One scenario, start to verdict: a fresh fleet and customers, the load with the fault struck into it, the
wait for the system to settle (at most ``Plan.deadline`` after the load), then the audit. Its processes must
stop cleanly afterwards (SIGTERM, exit 0), except a replica the fault killed for good."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from devstack.stack import ROOT

from chaos.audit import Audit, Books, judge
from chaos.evidence import Reader, read_broker
from chaos.fleet import checkout_state, started_fleet
from chaos.load import TIMEOUT, Attempts, PlacedOrder, open_loop, sign_up
from chaos.scenarios import Plan, Scenario, Strike

POLL_S = 1.0
LATE_S = 2.0
"""After everything settled, how long to wait for what comes late (a duplicate email) before the audit."""


@dataclass
class ScenarioResult:
    name: str
    what: str
    plan: Plan
    audit: Audit
    problems: list[str]
    notes: list[str]
    timeline: dict[str, float | None]
    """Seconds from the start of the load: fault began, fault ended, load ended, audit taken."""
    commit: str
    """The checkout the stack ran from (``fleet.checkout_state``)."""
    load_average: tuple[float, float]
    """The machine's 1-minute load average when the scenario started and when it was audited: times
    measured on a busy machine are not comparable with a quiet one's."""
    exit_codes: dict[str, int] = field(default_factory=dict)
    log: str = ""

    @property
    def passed(self) -> bool:
        return not self.problems


async def settle(reader: Reader, placed: list[PlacedOrder], deadline: float) -> Books:
    """The books once every accepted order is at rest (and ``LATE_S`` more), or at the deadline."""
    accepted = [order.order_id for order in placed if order.order_id is not None]
    while True:
        books = Books(await reader.snapshot())
        if not books.unsettled(accepted):
            await asyncio.sleep(LATE_S)
            return Books(await reader.snapshot())
        if time.time() >= deadline:
            return books
        await asyncio.sleep(POLL_S)


async def run_scenario(scenario: Scenario, plan: Plan, logs: Path, root: Path = ROOT) -> ScenarioResult:
    """Runs ``scenario`` under ``plan`` on the stack of the checkout ``root``; every process's output goes
    to ``logs/<name>.log``."""
    log_path = logs / f"{scenario.name}.log"
    commit = checkout_state(root)
    load_before = os.getloadavg()[0]
    attempts = Attempts()
    with tempfile.TemporaryDirectory(prefix=f"chaos-{scenario.name}-") as var, log_path.open("w") as log:
        async with (
            started_fleet(Path(var), log, replicas=scenario.replicas, root=root) as fleet,
            httpx.AsyncClient(transport=attempts, timeout=TIMEOUT) as http,
        ):
            customers = await sign_up(fleet.base_url, http, plan.customers)
            attempts.counts.clear()  # the customers' errors are the ones they see under load
            strike = Strike(fleet, plan, customers, time.time())
            load = asyncio.create_task(
                open_loop(customers, plan.rate, plan.load_seconds(scenario.fault.duration))
            )
            try:
                await scenario.strike(strike)
            finally:
                placed = await load
            load_end = time.time()
            reader = Reader(
                fleet.database_urls,
                fleet.maildir,
                [c.user_id for c in customers],
                frozenset(c.email for c in customers),
            )
            books = await settle(reader, placed, load_end + plan.deadline)
            audited = time.time()
            load_after = os.getloadavg()[0]
            broker = await read_broker(fleet.amqp_url)
        audit = judge(placed, attempts.counts, books, broker, strike.ended or load_end)
    start = strike.load_start
    problems = audit.problems(only_retried=scenario.only_retried, converge_within=plan.converge_within)
    if unclean := {name: code for name, code in fleet.exit_codes.items() if code not in (0, -signal.SIGKILL)}:
        problems.append(f"unclean stop after the fault: exit codes {unclean}")
    return ScenarioResult(
        name=scenario.name,
        what=scenario.what,
        plan=plan,
        audit=audit,
        problems=problems,
        notes=strike.notes,
        timeline={
            "fault_began": None if strike.began is None else round(strike.began - start, 2),
            "fault_ended": None if strike.ended is None else round(strike.ended - start, 2),
            "load_ended": round(load_end - start, 2),
            "audited": round(audited - start, 2),
        },
        commit=commit,
        load_average=(round(load_before, 1), round(load_after, 1)),
        exit_codes=fleet.exit_codes,
        log=str(log_path),
    )

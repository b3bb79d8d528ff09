"""What a benchmark run produces, saved as JSON under ``bench/results/`` and read back by the report.

Every field is always present: a figure that a mode cannot measure (CPU of a stack on another machine,
PostgreSQL transactions of a stack on SQLite) is ``null``, never missing. Times are milliseconds, memory
MiB, rates per second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

SCHEMA_VERSION = 1

APART = ("mailsink", "loadgen")
"""Processes measured but not part of the system's cost: the dev SMTP sink and the bench itself."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Latency(_Model):
    """Nearest-rank percentiles, in milliseconds (``null`` when ``count`` is 0)."""

    count: int
    p50: float | None
    p99: float | None
    p999: float | None
    max: float | None
    mean: float | None


class Requests(_Model):
    """The ``POST /v1/orders`` calls of a step. ``ok`` is a 201; every other answer or failure is an error."""

    sent: int
    ok: int
    errors: int
    error_kinds: dict[str, int]
    """HTTP status, ``timeout`` or ``connection`` -> count."""
    replayed: int
    """201s answered from the idempotency store (never expected: every key is new)."""
    sent_per_s: float


class Orders(_Model):
    """What became of the orders the step created (the 201s), read back after the pipeline drained."""

    created: int
    found: int
    """Of ``created``, how many the order store knows."""
    paid: int
    cancelled: int
    pending: int
    notified: int
    """With an ``order_paid`` notification recorded."""
    email_accepted: int
    """With that email accepted by the mail server."""
    completed: int
    """PAID and emailed: the order went through the whole pipeline."""
    completed_per_s: float
    """Completions per second from the first email accepted to the last (``completed`` / load time when
    fewer than two): the rate the whole pipeline delivered, independent of its latency."""


class Pipeline(_Model):
    """From the order's ``created_at`` (the order service's clock) to each later state."""

    created_to_paid: Latency
    created_to_notified: Latency
    created_to_email_accepted: Latency


class Cpu(_Model):
    """CPU used during the step (load and drain), per process, from ``/proc``."""

    window_s: float
    ms_per_order: dict[str, float | None]
    """CPU milliseconds per completed order of each process (``null`` if none completed)."""
    cores: dict[str, float]
    """Average cores busy over the window."""
    system_ms_per_order: float | None
    """Sum over every process but those ``APART``: the services, PostgreSQL (if used), RabbitMQ."""
    system_cores: float


class Memory(_Model):
    """Memory at the end of the step, MiB (``peak_rss``: VmHWM of one process; ``null`` for a group)."""

    rss: dict[str, float]
    peak_rss: dict[str, float | None]


class Postgres(_Model):
    """``pg_stat_database`` xact_commit + xact_rollback of the run's databases over the step."""

    transactions: int
    by_database: dict[str, int]
    idle_transactions_subtracted: float
    """The idle rate times the wait for the statistics to be flushed (not part of the step's work)."""
    per_order: float | None
    """(transactions - idle_transactions_subtracted) / created orders."""


class Messages(_Model):
    """Events published during the step: rows written to each service's outbox."""

    published: int
    by_service: dict[str, int]
    per_order: float | None


class Step(_Model):
    name: str
    mode: Literal["open", "closed"]
    target_rate: float | None
    """Orders per second offered (open loop)."""
    concurrency: int | None
    """Requests in flight (closed loop)."""
    load_s: float
    drain_s: float
    drained: bool
    """Every created order was PAID/CANCELLED and emailed before ``--drain-timeout``."""
    requests: Requests
    http_latency_ms: Latency
    """Open loop: from the time the request was due (so a stalled server is not hidden); closed: from send."""
    orders: Orders
    pipeline_ms: Pipeline
    cpu: Cpu | None
    memory: Memory | None
    postgres: Postgres | None
    messages: Messages | None


class Idle(_Model):
    """The stack doing nothing, before the first step."""

    seconds: float
    cpu_percent_of_core: dict[str, float]
    system_percent_of_core: float
    postgres_transactions_per_s: float | None


class Environment(_Model):
    database: Literal["postgres", "sqlite", "external"]
    base_url: str
    stack_root: str | None
    """The checkout whose stack ran (``null`` for an external stack)."""
    stack_commit: str | None
    stack_dirty: bool | None
    bench_commit: str | None
    python: str
    cpus: int
    kernel: str
    settings: dict[str, str]
    """The service settings the bench set (besides addresses and credentials)."""
    exit_codes: dict[str, int]
    """How each process of the stack ended (0 is a clean stop)."""


class BenchResult(_Model):
    schema_version: int
    label: str
    smoke: bool
    started_at: str
    finished_at: str
    options: dict[str, str | float | int | bool | list[float] | None]
    environment: Environment
    idle: Idle | None
    steps: list[Step]


def load(path: Path) -> BenchResult:
    return BenchResult.model_validate_json(path.read_bytes())


def save(result: BenchResult, directory: Path) -> Path:
    """``<directory>/<started_at>-<label>.json``; returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = result.started_at.replace("-", "").replace(":", "")[:15]
    path = directory / f"{stamp}Z-{result.label}.json"
    path.write_text(result.model_dump_json(indent=2) + "\n")
    return path


def inconsistencies(result: BenchResult) -> list[str]:
    """Counts that do not add up, fields that cannot be: what the smoke test (and a reader) relies on."""
    problems = []
    for step in result.steps:
        r, o, name = step.requests, step.orders, step.name

        def check(ok: bool, what: str, name: str = name) -> None:
            if not ok:
                problems.append(f"{name}: {what}")

        check(r.ok + r.errors == r.sent, f"ok {r.ok} + errors {r.errors} != sent {r.sent}")
        check(sum(r.error_kinds.values()) == r.errors, "error kinds do not add up to the errors")
        check(o.created == r.ok - r.replayed, f"created {o.created} != ok {r.ok} - replayed {r.replayed}")
        check(o.found <= o.created, f"found {o.found} > created {o.created}")
        check(o.paid + o.cancelled + o.pending == o.found, "paid + cancelled + pending != found")
        check(o.completed <= min(o.paid, o.email_accepted), "completed > paid or > emails accepted")
        check(o.email_accepted <= o.notified, "more emails accepted than notifications recorded")
        check(o.completed <= o.created <= r.sent, "completed <= created <= sent does not hold")
        check(step.http_latency_ms.count == r.sent, "a request without a latency")
        check(step.pipeline_ms.created_to_paid.count == o.paid, "a PAID order without a payment time")
        check(step.pipeline_ms.created_to_email_accepted.count == o.email_accepted, "an email without a time")
        check(step.load_s > 0 and step.drain_s >= 0, "negative or zero durations")
        if step.cpu is not None:
            check(all(v >= 0 for v in step.cpu.cores.values()), "negative CPU time")
            check(
                all(v is None or v >= 0 for v in step.cpu.ms_per_order.values()),
                "negative CPU time per order",
            )
        if step.postgres is not None:
            check(step.postgres.transactions >= 0, "negative transaction count")
        if step.messages is not None:
            check(sum(step.messages.by_service.values()) == step.messages.published, "messages do not add up")
    return problems

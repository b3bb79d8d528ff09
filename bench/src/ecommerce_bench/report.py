"""``python -m ecommerce_bench report``: saved results -> the tables in ``docs/performance.md`` and its plot.

The document's prose (method, targets) is written by hand; the block between the two ``bench:results``
markers is replaced by tables rendered from the result files named on the command line, so the figures
the document cites are always those of committed files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from devstack.stack import ROOT

from ecommerce_bench.results import APART, BenchResult, Latency, Step

START = "<!-- bench:results:start (rendered by `python -m ecommerce_bench report`; do not edit by hand) -->"
END = "<!-- bench:results:end -->"
DOCUMENT = ROOT / "docs" / "performance.md"
PLOT = ROOT / "docs" / "performance.png"
SERVICES = ("gateway", "orders", "payments", "notifications")
NONE = "-"  # a figure the run could not measure


def _f(value: float | None, digits: int = 1) -> str:
    return NONE if value is None else f"{value:,.{digits}f}"


def _pair(latency: Latency) -> str:
    return f"{_f(latency.p50)} / {_f(latency.p99)}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    return [_row(headers), _row(["---"] * len(headers)), *(_row(r) for r in rows), ""]


def reference_step(result: BenchResult, rate: float) -> Step | None:
    """The open-loop step nearest to ``rate`` orders/s."""
    open_steps = [s for s in result.steps if s.mode == "open" and s.target_rate is not None]
    return min(open_steps, key=lambda s: abs((s.target_rate or 0) - rate), default=None)


def sustained(result: BenchResult) -> float | None:
    """The highest completed orders/s of an open-loop step that kept up: no errors, nothing left pending,
    and at least 95 % of the offered rate completed."""
    kept_up = [
        s.orders.completed_per_s
        for s in result.steps
        if s.mode == "open"
        and s.requests.errors == 0
        and s.orders.pending == 0
        and s.orders.completed_per_s >= 0.95 * (s.target_rate or 0)
    ]
    return max(kept_up, default=None)


def _largest_service_memory(result: BenchResult, peak: bool) -> str:
    """The largest RSS of a service (not PostgreSQL, RabbitMQ or what is apart) at the end of a step, or
    its peak (VmHWM: start-up and the customers' sign-up, whose password hashing is memory-hard, included)."""
    largest: dict[str, float] = {}
    for step in result.steps:
        if step.memory is None:
            continue
        figures = step.memory.peak_rss if peak else step.memory.rss
        for name, mib in figures.items():
            if mib is not None and name not in (*APART, "postgres", "rabbitmq"):
                largest[name] = max(largest.get(name, 0.0), mib)
    if not largest:
        return NONE
    name = max(largest, key=lambda n: largest[n])
    return f"{largest[name]:.0f} MiB ({name})"


def targets(results: list[BenchResult], rate: float) -> list[str]:
    def at(get: Callable[[Step], float | None], digits: int = 1) -> list[str]:
        cells = []
        for result in results:
            step = reference_step(result, rate)
            cell = _f(get(step), digits) if step is not None else NONE
            if step is not None and step.target_rate != rate:  # no step at the reference rate: say which
                cell += f" (at {step.target_rate:g}/s)"
            cells.append(cell)
        return cells

    closed = [
        max((s.orders.completed_per_s for s in r.steps if s.mode == "closed"), default=None) for r in results
    ]
    rows = [
        ["completed orders/s, sustained (open loop)", "≥ 100", *(_f(sustained(r)) for r in results)],
        ["completed orders/s, closed loop", "", *(_f(c) for c in closed)],
        [
            f"CPU ms per completed order at {rate:g}/s (services + PostgreSQL + RabbitMQ)",
            "≤ 20",
            *at(lambda s: s.cpu.system_ms_per_order if s.cpu else None, 2),
        ],
        [
            f"PostgreSQL transactions per order at {rate:g}/s",
            "≤ 8",
            *at(lambda s: s.postgres.per_order if s.postgres else None, 2),
        ],
        [f"POST /v1/orders p99 at {rate:g}/s, ms", "< 50", *at(lambda s: s.http_latency_ms.p99)],
        [
            f"created → email accepted p99 at {rate:g}/s, ms",
            "< 250",
            *at(lambda s: s.pipeline_ms.created_to_email_accepted.p99),
        ],
        [
            "largest RSS of a service, end of a step",
            "< 120 MiB",
            *(_largest_service_memory(r, False) for r in results),
        ],
        ["largest peak RSS of a service (VmHWM)", "", *(_largest_service_memory(r, True) for r in results)],
        [
            "idle stack, % of one core",
            "< 1",
            *(_f(r.idle.system_percent_of_core, 2) if r.idle else NONE for r in results),
        ],
    ]
    return _table(["", "target", *(r.label for r in results)], rows)


def steps_table(result: BenchResult) -> list[str]:
    rows = [
        [
            s.name,
            _f(s.requests.sent_per_s),
            _f(s.orders.completed_per_s),
            f"{_f(s.http_latency_ms.p50)} / {_f(s.http_latency_ms.p99)} / {_f(s.http_latency_ms.p999)}",
            str(s.requests.errors),
            _pair(s.pipeline_ms.created_to_paid),
            _pair(s.pipeline_ms.created_to_notified),
            _pair(s.pipeline_ms.created_to_email_accepted),
            _f(s.cpu.system_ms_per_order if s.cpu else None, 2),
            _f(s.postgres.per_order if s.postgres else None, 2),
            _f(s.messages.per_order if s.messages else None, 2),
            str(s.orders.pending),
        ]
        for s in result.steps
    ]
    headers = [
        "step", "sent/s", "completed/s", "POST p50 / p99 / p99.9 ms", "errors", "→ PAID p50 / p99",
        "→ notified p50 / p99", "→ email p50 / p99", "CPU ms/order", "PG tx/order", "msgs/order", "pending",
    ]  # fmt: skip
    return _table(headers, rows)


def _by_process(result: BenchResult, value: Callable[[Step, str], float | None], digits: int) -> list[str]:
    names: list[str] = []
    for step in result.steps:
        for name in step.cpu.ms_per_order if step.cpu else {}:
            if name not in names:
                names.append(name)
    ordered = [n for n in (*SERVICES, "postgres", "rabbitmq") if n in names]
    ordered += [n for n in names if n not in ordered and n not in APART] + [n for n in APART if n in names]
    rows = [[s.name, *(_f(value(s, n), digits) for n in ordered)] for s in result.steps if s.cpu]
    return _table(["step", *ordered], rows) if rows else []


def result_section(result: BenchResult, path: str) -> list[str]:
    env = result.environment
    commit = (env.stack_commit or "")[:10] + (" (with uncommitted changes)" if env.stack_dirty else "")
    lines = [
        f"### {result.label}",
        "",
        f"`{path}`: {env.database}, stack at commit {commit or 'unknown'}, {result.started_at}, "
        f"{env.cpus} CPUs, Linux {env.kernel}, Python {env.python}.",
        "",
        *steps_table(result),
    ]
    cpu = _by_process(result, lambda s, n: s.cpu.ms_per_order.get(n) if s.cpu else None, 2)
    if cpu:
        lines += [
            "CPU ms per completed order, by process (mailsink and loadgen are not in the total):",
            "",
            *cpu,
        ]
    rss = _by_process(result, lambda s, n: s.memory.rss.get(n) if s.memory else None, 0)
    if rss:
        lines += [
            "Memory at the end of each step, MiB (RSS; PostgreSQL: sum of PSS of its processes):",
            "",
            *rss,
        ]
    if result.idle is not None:
        idle = result.idle
        tx = idle.postgres_transactions_per_s
        lines += [
            f"Idle: {idle.system_percent_of_core:.2f} % of one core over {idle.seconds:.0f} s"
            + (f", {tx:.1f} PostgreSQL transactions/s." if tx is not None else "."),
            "",
        ]
    return lines


def render(results: list[tuple[str, BenchResult]], rate: float, plot: str | None) -> str:
    lines = [START, "", f"Reference rate for the per-order targets: {rate:g} orders/s.", ""]
    lines += targets([r for _, r in results], rate)
    if plot:
        lines += [f"![Throughput, latency and CPU per order by offered rate]({plot})", ""]
    for path, result in results:
        lines += result_section(result, path)
    lines.append(END)
    return "\n".join(lines) + "\n"


def update_document(document: Path, block: str) -> None:
    """Replaces the block between the markers (or appends it when the markers are missing)."""
    text = document.read_text() if document.exists() else "# Performance\n\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = head + block.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block
    document.write_text(text)

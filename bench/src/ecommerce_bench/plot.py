"""The plot of ``docs/performance.md``: throughput, latency and CPU per order against the offered rate."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

from ecommerce_bench.results import BenchResult, Step

Metric = Callable[[Step], float | None]
PANELS: list[tuple[str, Metric, float | None, bool]] = [
    ("completed orders/s", lambda s: s.orders.completed_per_s, 100.0, False),
    ("POST /v1/orders p99, ms", lambda s: s.http_latency_ms.p99, 50.0, True),
    ("created → email accepted p99, ms", lambda s: s.pipeline_ms.created_to_email_accepted.p99, 250.0, True),
    ("CPU ms per completed order", lambda s: s.cpu.system_ms_per_order if s.cpu else None, 20.0, False),
]


def _x(step: Step) -> float:
    return step.target_rate if step.target_rate is not None else step.requests.sent_per_s


def plot(results: list[BenchResult], path: Path) -> None:
    """One panel per metric, one line per result (open-loop steps), a star for the closed-loop run, and
    the target as a dashed line."""
    figure, axes = plt.subplots(2, 2, figsize=(11, 7.5), constrained_layout=True)
    for axis, (title, metric, target, log) in zip(axes.flat, PANELS, strict=True):
        for n, result in enumerate(results):
            colour = f"C{n}"
            points = [(_x(s), v) for s in result.steps if s.mode == "open" and (v := metric(s)) is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                axis.plot(xs, ys, "o-", color=colour, label=result.label)
            for step in result.steps:
                if step.mode == "closed" and (value := metric(step)) is not None:
                    axis.plot([_x(step)], [value], "*", markersize=12, color=colour)
        if target is not None:
            axis.axhline(target, color="grey", linestyle="--", linewidth=1)
        if log:
            axis.set_yscale("log")
            axis.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            axis.yaxis.set_major_formatter(ScalarFormatter())
            axis.yaxis.set_minor_formatter(NullFormatter())
        axis.set_title(title)
        axis.set_xlabel("offered orders/s (★ closed loop: achieved)")
        axis.grid(True, alpha=0.3)
    offered = axes.flat[0]
    top = max(offered.get_xlim()[1], offered.get_ylim()[1])
    offered.plot([0, top], [0, top], ":", color="grey", linewidth=1, label="= offered")
    offered.legend(loc="upper left", fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)

"""Percentiles of latencies, by the nearest-rank method (no interpolation: every figure was observed)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from ecommerce_bench.results import Latency


def percentile(ordered: list[float], q: float) -> float:
    """The nearest-rank ``q``-quantile (0 < q <= 1) of a non-empty ascending list."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def latency_ms(seconds: Iterable[float]) -> Latency:
    """Count, p50, p99, p99.9, max and mean of durations given in seconds, in milliseconds."""
    ordered = sorted(s * 1000.0 for s in seconds)
    if not ordered:
        return Latency(count=0, p50=None, p99=None, p999=None, max=None, mean=None)
    return Latency(
        count=len(ordered),
        p50=round(percentile(ordered, 0.50), 3),
        p99=round(percentile(ordered, 0.99), 3),
        p999=round(percentile(ordered, 0.999), 3),
        max=round(ordered[-1], 3),
        mean=round(sum(ordered) / len(ordered), 3),
    )

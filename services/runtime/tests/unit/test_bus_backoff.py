"""The default retry backoff: 0.5 s doubling per attempt, capped at 30 s, with up to 25 % jitter below."""

from __future__ import annotations

import pytest

from ecommerce_runtime.bus import default_retry_backoff


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (6, 16.0), (7, 30.0), (50, 30.0), (10**9, 30.0)],
)
def test_the_delay_doubles_per_attempt_up_to_the_cap(attempt: int, ceiling: float) -> None:
    delays = [default_retry_backoff(attempt) for _ in range(200)]
    assert all(0.75 * ceiling <= delay <= ceiling for delay in delays)


@pytest.mark.parametrize("attempt", [0, -3])
def test_a_nonsensical_attempt_counts_as_the_first(attempt: int) -> None:
    assert 0.375 <= default_retry_backoff(attempt) <= 0.5


def test_the_delay_is_jittered() -> None:
    assert len({default_retry_backoff(5) for _ in range(50)}) > 1

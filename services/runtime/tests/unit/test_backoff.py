"""The one retry policy: doubling from ``first``, capped, with a bounded random share taken off."""

from __future__ import annotations

import pytest

from ecommerce_runtime.backoff import Backoff


def test_without_jitter_the_schedule_is_exact_and_capped() -> None:
    backoff = Backoff(first=0.5, cap=3.0, jitter=0)
    assert [backoff.delay(attempt) for attempt in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff.delay(0) == 0.5  # attempt numbers start at 1; below is treated as the first
    assert backoff.delay(10**9) == 3.0  # no overflow however long the outage


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_jitter_takes_at_most_its_share_off(share: float) -> None:
    backoff = Backoff(first=1.0, cap=8.0, jitter=0.25)
    assert backoff.delay(3, random_share=lambda: share) == 4.0 * (1 - 0.25 * share)


def test_full_jitter_spreads_delays_between_zero_and_the_ceiling() -> None:
    backoff = Backoff(first=0.1, cap=1.0, jitter=1.0)
    delays = {backoff.delay(2) for _ in range(100)}
    assert len(delays) > 1
    assert all(0 <= delay <= 0.2 for delay in delays)


@pytest.mark.parametrize(
    ("first", "cap", "jitter"), [(-1.0, 1.0, 0.0), (2.0, 1.0, 0.0), (1.0, 2.0, 1.5), (1.0, 2.0, -0.1)]
)
def test_nonsense_is_refused(first: float, cap: float, jitter: float) -> None:
    with pytest.raises(ValueError, match=r"must be|need"):
        Backoff(first=first, cap=cap, jitter=jitter)

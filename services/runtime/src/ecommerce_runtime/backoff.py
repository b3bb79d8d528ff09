"""The one retry policy of every service: capped exponential backoff with jitter.

The bus consumer, the outbox relay, the broker connection loop, the gateway's gRPC reads, the payment
provider calls and the mailer all wait ``Backoff.delay(attempt)`` between attempts; only their numbers
differ. Jitter takes a random share off each delay so that replicas which failed together do not retry
together (``jitter=1.0`` is "full jitter", ``0`` none, for schedules that must be exact).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

_MAX_EXPONENT = 32


@dataclass(frozen=True, slots=True)
class Backoff:
    """``first`` seconds after the first failed attempt, doubling per attempt, capped at ``cap``."""

    first: float
    cap: float
    jitter: float = 0.25
    """The largest share (0..1) taken off a delay at random."""

    def __post_init__(self) -> None:
        if self.first < 0 or self.cap < self.first:
            raise ValueError(f"need 0 <= first <= cap, got first={self.first} cap={self.cap}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter}")

    def delay(self, attempt: int, random_share: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1 = the first)."""
        exponent = min(max(attempt, 1), _MAX_EXPONENT) - 1
        return min(self.cap, self.first * 2.0**exponent) * (1.0 - self.jitter * random_share())

"""The simulated provider's answer for each test token (its books are tested against real databases)."""

from __future__ import annotations

import pytest

from payments.adapters.provider_simulator import TRANSIENT_FAILURES, Verdict, verdict
from payments.domain import FailureReason


@pytest.mark.parametrize(
    ("token", "failures_so_far", "expected"),
    [
        ("tok_success", 0, "charge"),
        ("tok_declined", 0, FailureReason.CARD_DECLINED),
        ("tok_insufficient_funds", 0, FailureReason.INSUFFICIENT_FUNDS),
        ("tok_transient", 0, "unavailable"),
        ("tok_transient", TRANSIENT_FAILURES - 1, "unavailable"),
        ("tok_transient", TRANSIENT_FAILURES, "charge"),
        ("tok_always_fail", 0, "unavailable"),
        ("tok_always_fail", 50, "unavailable"),
        ("tok_anything_else", 0, FailureReason.CARD_DECLINED),
    ],
)
def test_each_token_has_one_answer(token: str, failures_so_far: int, expected: Verdict) -> None:
    assert verdict(token, failures_so_far) == expected

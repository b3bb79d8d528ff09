"""The short chaos run, part of ``make test``: a few scenarios (``scenarios.SHORT``) on the quick plan, each
on a fresh stack on PostgreSQL. Every one must end with nothing lost, nothing charged or emailed twice,
nothing stuck, no money out of place, no 500/502 and nothing unexpected in a dead-letter queue.

Time is not judged here (a test never asserts on wall-clock time): the plan's deadline only decides when
what has not settled counts as stuck. ``make chaos`` runs every scenario under load and judges convergence.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.report import explain
from chaos.runner import run_scenario
from chaos.scenarios import BY_NAME, QUICK, SHORT


@pytest.mark.parametrize("name", SHORT)
async def test_the_system_comes_through_the_fault_with_its_books_right(name: str, tmp_path: Path) -> None:
    result = await run_scenario(BY_NAME[name], QUICK, tmp_path)

    assert result.timeline["fault_began"] is not None, "the fault never struck"
    assert result.audit.accepted > 0, explain(result)
    assert result.problems == [], explain(result)

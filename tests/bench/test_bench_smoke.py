"""The benchmark works: ``python -m ecommerce_bench run --smoke`` starts the stack (SQLite), sends orders
for a few seconds, and its JSON is complete and consistent. Nothing here is a speed: the bench measures,
``docs/performance.md`` reports, the tests only prove the measuring works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from devstack.stack import procfile_commands

from ecommerce_bench.results import APART, BenchResult, inconsistencies

HANG_GUARD_S = 300  # turns a hung run into a failure; not a speed assertion


def run_smoke(output: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ecommerce_bench", "run", "--smoke", "--database", "sqlite"]
    return subprocess.run(
        [*command, "--label", "smoke", "--output-dir", str(output)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=HANG_GUARD_S,
        check=False,
    )


def _keys(value: object) -> set[str]:
    """Every key path of a JSON document (``a.b.c``), lists by their first element."""
    if isinstance(value, dict):
        return {k for key, item in value.items() for k in {key} | {f"{key}.{p}" for p in _keys(item)}}
    if isinstance(value, list) and value:
        return _keys(value[0])
    return set()


def test_the_smoke_run_writes_a_complete_and_consistent_result(tmp_path: Path) -> None:
    run = run_smoke(tmp_path)
    output = run.stdout
    assert run.returncode == 0, output[-6000:]
    (path,) = tmp_path.glob("*-smoke.json")
    assert "open 5/s" in output  # the summary table
    assert path.name in output
    raw = json.loads(path.read_text())
    result = BenchResult.model_validate(raw)  # every field present (none has a default), no unknown one
    assert _keys(json.loads(result.model_dump_json())) == _keys(raw)
    assert inconsistencies(result) == []

    assert result.smoke
    assert result.environment.database == "sqlite"
    processes = set(procfile_commands({}))  # the stack's processes, whatever the Procfile names them
    assert result.environment.exit_codes == dict.fromkeys(processes, 0)
    assert result.idle is not None
    assert all(v >= 0 for v in result.idle.cpu_percent_of_core.values())

    (step,) = result.steps
    requests, orders = step.requests, step.orders
    assert step.mode == "open"
    assert step.target_rate == 5
    assert requests.sent > 0
    assert requests.errors == 0
    assert requests.error_kinds == {}
    assert requests.ok == requests.sent
    assert requests.replayed == 0
    assert orders.created == orders.found == requests.ok
    assert orders.pending == 0
    assert orders.cancelled == 0
    assert step.drained
    assert orders.completed == orders.paid == orders.notified == orders.email_accepted == orders.created
    assert 0 < orders.completed <= orders.created <= requests.sent
    assert step.http_latency_ms.count == requests.sent
    for latency in (step.pipeline_ms.created_to_paid, step.pipeline_ms.created_to_email_accepted):
        assert latency.count == orders.completed
        assert latency.p50 is not None
        assert latency.p99 is not None
        assert 0 <= latency.p50 <= latency.p99

    assert step.cpu is not None
    assert step.memory is not None
    assert step.messages is not None
    measured = processes | {"rabbitmq", *APART}
    assert set(step.cpu.ms_per_order) == set(step.cpu.cores) == measured
    assert all(ms is not None and ms >= 0 for ms in step.cpu.ms_per_order.values())
    assert step.cpu.system_ms_per_order is not None
    assert step.cpu.system_ms_per_order >= 0
    assert set(step.memory.rss) == measured
    assert all(mib > 0 for mib in step.memory.rss.values())
    assert step.postgres is None  # SQLite: no PostgreSQL transactions to count
    assert step.messages.published == sum(step.messages.by_service.values()) > 0
    assert step.messages.per_order == round(step.messages.published / orders.created, 3)

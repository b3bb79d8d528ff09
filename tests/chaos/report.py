"""The results of a chaos run: a table on the terminal, ``summary.json`` and ``summary.md`` (the table as
``docs/reliability.md`` shows it) in the run's directory under ``tests/chaos/results/``."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from chaos.runner import ScenarioResult

RESULTS = Path(__file__).resolve().parent / "results"
HEADERS = (
    "scenario",
    "accepted",
    "lost",
    "dup charges",
    "dup emails",
    "stuck",
    "dead-lettered",
    "money anomalies",
    "errors (attempts)",
    "relay retries",
    "converge",
    "machine load",
    "verdict",
)


def row(result: ScenarioResult) -> list[str]:
    audit = result.audit
    lost = f"{audit.lost_orders}" + (f" (+{audit.lost_emails} emails)" if audit.lost_emails else "")
    injected = f" (+{audit.injected_dead_lettered} injected)" if audit.injected_dead_lettered else ""
    errors = ", ".join(f"{status} x{n}" for status, n in sorted(audit.errors.items())) or "-"
    converge = "never" if audit.converge_s is None else f"{audit.converge_s:.1f} s"
    return [
        result.name,
        f"{audit.accepted}/{audit.sent}",
        lost,
        str(audit.duplicated_charges),
        str(audit.duplicated_emails),
        str(audit.stuck),
        f"{audit.dead_lettered}{injected}",
        str(audit.money_anomalies),
        errors,
        str(audit.relay_retries),
        converge,
        "{:.1f}→{:.1f}".format(*result.load_average),
        "pass" if result.passed else "FAIL",
    ]


def explain(result: ScenarioResult) -> str:
    """Why ``result`` fails, with the evidence that says so (the first few of each kind) and its log."""
    lines = [f"{result.name}: {'; '.join(result.problems) or 'passed'}"]
    for what, value in result.audit.details.items():
        if (
            isinstance(value, list | dict)
            and value
            and what not in {"attempts", "cancellations", "relay_retries"}
        ):
            shown = value[:5] if isinstance(value, list) else value
            more = f" (+{len(value) - 5} more)" if isinstance(value, list) and len(value) > 5 else ""
            lines.append(f"  {what}: {shown}{more}")
    lines += [f"  notes: {result.notes}", f"  timeline: {result.timeline}", f"  log: {result.log}"]
    return "\n".join(lines)


def print_table(results: list[ScenarioResult], console: Console) -> None:
    table = Table(*HEADERS, title="Chaos: what the customers saw and what the books say")
    for result in results:
        table.add_row(*row(result), style=None if result.passed else "red")
    console.print(table)
    for result in results:
        if not result.passed:
            console.print(explain(result), markup=False, highlight=False)


def markdown(results: list[ScenarioResult], when: str) -> str:
    """The summary table in Markdown, with the failing scenarios' reasons under it."""
    commits = ", ".join(f"`{commit}`" for commit in dict.fromkeys(r.commit for r in results))
    lines = [
        f"Run of {when}; the stack ran from {commits} (`+changes`: with uncommitted changes). Machine load: "
        "the 1-minute load average at the start of the scenario and at its audit.",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join("---" for _ in HEADERS) + "|",
    ]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row(r)) + " |" for r in results]
    failing = [r for r in results if not r.passed]
    if failing:
        lines += ["", "Why the failing scenarios fail:", ""]
        lines += [f"- **{r.name}**: {'; '.join(r.problems)}." for r in failing]
    return "\n".join(lines) + "\n"


def write(results: list[ScenarioResult], directory: Path) -> None:
    """``summary.json`` and ``summary.md`` into ``directory``."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    document = {
        "finished": when,
        "scenarios": [dataclasses.asdict(result) | {"passed": result.passed} for result in results],
    }
    (directory / "summary.json").write_text(json.dumps(document, indent=1, default=str) + "\n")
    (directory / "summary.md").write_text(markdown(results, when))

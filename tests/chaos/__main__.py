"""``python -m chaos`` (what ``make chaos`` runs, with ``tests`` on ``PYTHONPATH``): every scenario, or the
ones named, each on a fresh stack on PostgreSQL; the table on the terminal, JSON, Markdown and one log
per scenario in ``tests/chaos/results/<UTC time>/``. Exits 1 when a scenario fails."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from datetime import UTC, datetime
from pathlib import Path

from devstack.stack import ROOT
from rich.console import Console

from chaos.report import RESULTS, print_table, write
from chaos.runner import ScenarioResult, run_scenario
from chaos.scenarios import BY_NAME, FULL, QUICK, SCENARIOS, SHORT, Plan


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="default: all (see --list)")
    parser.add_argument("--quick", action="store_true", help="the short plan and scenarios of `make test`")
    parser.add_argument("--rate", type=float, help=f"orders per second (default {FULL.rate:g})")
    parser.add_argument("--seconds", type=float, help=f"least load per scenario (default {FULL.seconds:g})")
    parser.add_argument("--output-dir", type=Path, help=f"default: {RESULTS}/<UTC time>")
    parser.add_argument(
        "--stack-root",
        type=Path,
        help="run the stack of another checkout (its Procfile, its .venv, its code), e.g. the commit "
        "before a fix; the faults and the audit are this checkout's",
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    if unknown := [name for name in args.scenarios if name not in BY_NAME]:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; see --list")
    root = args.stack_root
    if root is not None and not (root / ".venv" / "bin" / "python").is_file():
        parser.error(f"--stack-root {root}: no .venv/bin/python there (run `make setup` in that checkout)")
    return args


async def _run(names: list[str], plan: Plan, directory: Path, root: Path) -> int:
    console = Console(width=None if sys.stdout.isatty() else 200)
    results: list[ScenarioResult] = []
    for name in names:
        console.rule(f"{name}: {BY_NAME[name].what}")
        result = await run_scenario(BY_NAME[name], plan, directory, root)
        results.append(result)
        console.print("pass" if result.passed else f"[red]FAIL[/red]: {'; '.join(result.problems)}")
        write(results, directory)
    print_table(results, console)
    console.print(f"Results: {directory}")
    return 0 if all(result.passed for result in results) else 1


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if args.list:
        for scenario in SCENARIOS:
            print(f"{scenario.name:<28} {scenario.what}")
        return 0
    names = args.scenarios or (SHORT if args.quick else [s.name for s in SCENARIOS])
    plan = QUICK if args.quick else FULL
    if args.rate is not None:
        plan = dataclasses.replace(plan, rate=args.rate)
    if args.seconds is not None:
        plan = dataclasses.replace(plan, seconds=args.seconds)
    directory = args.output_dir or RESULTS / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    directory.mkdir(parents=True, exist_ok=True)
    try:
        return asyncio.run(_run(names, plan, directory, (args.stack_root or ROOT).resolve()))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``python -m ecommerce_bench run [options]`` measures; ``python -m ecommerce_bench report FILE...`` renders.

make bench                                    # PostgreSQL, the default ladder, results/ + summary
make bench ARGS="--database sqlite"           # the embedded default
make bench ARGS="--stack-root ../baseline"    # another checkout's stack, same bench
make bench ARGS="--base-url http://host:8000/v1"   # a running stack: HTTP and pipeline figures only
python -m ecommerce_bench report bench/results/A.json bench/results/B.json
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from devstack.stack import ROOT

from ecommerce_bench import options as run_options
from ecommerce_bench.display import Display
from ecommerce_bench.plot import plot
from ecommerce_bench.report import DOCUMENT, PLOT, render, update_document
from ecommerce_bench.results import inconsistencies, load, save
from ecommerce_bench.run import run


def _run(args: argparse.Namespace) -> int:
    options = run_options.from_arguments(args)
    display = Display()
    result = asyncio.run(run(options, display))
    path = save(result, options.output_dir)
    display.summary(result)
    display.note(f"saved {path}")
    problems = inconsistencies(result)
    if options.smoke:
        for step in result.steps:
            if step.requests.errors or step.orders.pending or not step.drained:
                problems.append(
                    f"{step.name}: {step.requests.errors} error(s), {step.orders.pending} pending"
                )
    if bad_exits := {name: code for name, code in result.environment.exit_codes.items() if code != 0}:
        problems.append(f"processes did not stop cleanly: {bad_exits}")
    for problem in problems:
        display.console.print(f"[red]inconsistent:[/] {problem}")
    return 1 if problems else 0


def _report(args: argparse.Namespace) -> int:
    results = [(p, load(p)) for p in args.results]
    document: Path = args.document
    image: Path = args.plot
    plot([r for _, r in results], image)
    cited = [(os.path.relpath(p, ROOT), r) for p, r in results]
    update_document(document, render(cited, args.reference_rate, os.path.relpath(image, document.parent)))
    print(f"wrote {document} and {image}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecommerce_bench", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="start a stack (or use --base-url) and measure it")
    run_options.add_arguments(run_parser)
    report = commands.add_parser("report", help="render docs/performance.md's results and plot")
    report.add_argument("results", nargs="+", type=Path, help="result JSON files, in the order to show")
    report.add_argument("--document", type=Path, default=DOCUMENT, help="default docs/performance.md")
    report.add_argument("--plot", type=Path, default=PLOT, help="default docs/performance.png")
    report.add_argument("--reference-rate", type=float, default=50.0, help="rate of the per-order targets")
    args = parser.parse_args(argv)
    try:
        return _run(args) if args.command == "run" else _report(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

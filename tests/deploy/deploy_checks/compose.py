"""Checks of ``deployments/compose.yaml``: the file against the Compose specification, every variable
documented in ``.env.example``, and the containers wired together the way the code needs (ports, binds,
migrations, health checks, databases and their connections, broker, mail server)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from .code_facts import (
    BIND_VARIABLE,
    DATABASE_VARIABLE,
    GATEWAY_ADDRESS_VARIABLE,
    WILDCARD_HOSTS,
    all_setting_names,
    env_example,
    parse_env_file,
    points_at_loopback,
    pool_connections,
    shutdown_grace_seconds,
    split_address,
    used_settings,
)
from .compose_interpolation import InterpolationError, compose_variables, interpolate
from .dockerfiles import healthcheck_command, parse_dockerfile
from .repository import CONSUMERS, DEPLOYMENTS, DOCKER, ROOT, SERVICES

COMPOSE_REPLICAS = 3
"""Processes of each service the PostgreSQL container has connections for (the compose.yaml comment)."""


def compose_schema() -> dict[str, Any]:
    """The Compose specification's JSON schema, as vendored (and pinned) by check-jsonschema."""
    schema = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    loaded: dict[str, Any] = json.loads(schema.read_text())
    return loaded


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
    problems.extend(_connection_budget_problems(services))
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


def _connection_budget_problems(services: Mapping[str, Any]) -> list[str]:
    """PostgreSQL's max_connections (``-c max_connections=N`` in its command; 100 without) covers
    ``COMPOSE_REPLICAS`` processes of every service, each holding its pool (size + overflow), plus the
    one-shot migrations and the superuser's reserved connections."""
    command = [str(part) for part in (services.get("postgres") or {}).get("command") or []]
    settings = [part.split("=", 1)[1] for part in command if part.startswith("max_connections=")]
    limit = int(settings[-1]) if settings else 100
    per_replica = sum(pool_connections(name, _environment(services.get(name) or {})) for name in SERVICES)
    needed = COMPOSE_REPLICAS * per_replica + len(SERVICES) + 3
    if needed > limit:
        return [f"postgres: max_connections {limit} < {needed} ({COMPOSE_REPLICAS} replicas of each service)"]
    return []

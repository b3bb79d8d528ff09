"""deployments/compose.yaml: the Compose specification's schema, documented variables, and wiring that
matches the code (ports, binds, health checks, migrations, databases)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from deploy_checks import (
    COMPOSE_FILE,
    DEPLOYMENTS,
    InterpolationError,
    compose_env_problems,
    compose_schema_problems,
    compose_variables,
    compose_wiring_problems,
    interpolate_string,
    load_yaml,
)


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = load_yaml(COMPOSE_FILE)
    return loaded


def test_the_file_follows_the_compose_specification() -> None:
    assert compose_schema_problems(compose()) == []


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node = doc
        for key in parents:
            node = node[key]
        node[last] = value

    return change


SCHEMA_BREAKS = {
    "misspelt condition": _set("services/orders/depends_on/rabbitmq/condition", "service_healty"),
    "unknown service key": _set("services/orders/restarts", "always"),
    "ports not a list": _set("services/gateway/ports", "8000:8000"),
    "unknown top-level key": _set("servics", {}),
    "required variable unset": _set("services/gateway/image", "${GATEWAY_JWT_SECRET:?set it in .env}"),
}


@pytest.mark.parametrize("change", SCHEMA_BREAKS.values(), ids=SCHEMA_BREAKS.keys())
def test_the_schema_check_rejects_an_invalid_file(change: Callable[[dict[str, Any]], None]) -> None:
    doc = compose()
    change(doc)
    assert compose_schema_problems(doc) != []


def test_variables_and_env_files_are_documented() -> None:
    assert compose_env_problems(compose()) == []


def test_undocumented_variables_and_settings_are_found(tmp_path: Path) -> None:
    doc = compose()
    doc["services"]["gateway"]["ports"] = ["127.0.0.1:${GATEWAY_PUBLIC_PORT:-8000}:8000"]
    doc["services"]["orders"]["environment"]["ORDERS_GRPC_BND"] = "0.0.0.0:50051"  # a typo
    env_file = tmp_path / "extra.env"
    env_file.write_text("# comment\nLOG_LEVEL=DEBUG\nNOT_A_SETTING=1\n")
    doc["services"]["payments"]["env_file"] = [{"path": str(env_file)}, {"path": "missing.env"}]
    problems = compose_env_problems(doc)
    assert "${GATEWAY_PUBLIC_PORT} is not in .env.example" in problems
    assert "orders: ORDERS_GRPC_BND is not a setting of any service" in problems
    assert f"payments: env_file {env_file}: NOT_A_SETTING is not in .env.example" in problems
    assert "payments: env_file missing.env does not exist" in problems


def test_the_containers_are_wired_as_the_code_needs() -> None:
    assert compose_wiring_problems(compose()) == []


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node = doc
        for key in parents:
            node = node[key]
        del node[last]

    return change


def _both_envs(service: str, key: str, value: str | None) -> Callable[[dict[str, Any]], None]:
    """The service and its migrate container share one environment (a YAML anchor): change both."""

    def change(doc: dict[str, Any]) -> None:
        for name in (service, f"{service}-migrate"):
            environment = copy.deepcopy(doc["services"][name]["environment"])
            if value is None:
                del environment[key]
            else:
                environment[key] = value
            doc["services"][name]["environment"] = environment

    return change


WIRING_BREAKS = {
    "bind left on the loopback of .env": (
        _both_envs("orders", "ORDERS_GRPC_BIND", None),
        "orders: ORDERS_GRPC_BIND keeps .env's loopback value",
    ),
    "bind on another port than the image": (
        _both_envs("payments", "PAYMENTS_GRPC_BIND", "0.0.0.0:50059"),
        "payments: binds 0.0.0.0:50059, the image exposes [50052]",
    ),
    "gateway dials the wrong port": (
        _both_envs("gateway", "GATEWAY_ORDERS_ADDR", "orders:50052"),
        "gateway: GATEWAY_ORDERS_ADDR='orders:50052', the container is orders:50051",
    ),
    "gateway dials the loopback": (
        _both_envs("gateway", "GATEWAY_NOTIFICATIONS_ADDR", "127.0.0.1:50053"),
        "gateway: GATEWAY_NOTIFICATIONS_ADDR=127.0.0.1:50053 is the container itself",
    ),
    "database nobody creates": (
        _both_envs(
            "notifications", "NOTIFICATIONS_DATABASE_URL", "postgresql://notifications@postgres:5432/mail"
        ),
        "notifications: database mail of notifications@postgres is not created",
    ),
    "broker on the loopback": (
        _both_envs("orders", "AMQP_URL", "amqp://guest:guest@localhost:5672/"),
        "orders: AMQP_URL=amqp://guest:guest@localhost:5672/ is the container itself",
    ),
    "no wait for migrations": (
        _drop("services/orders/depends_on/orders-migrate"),
        "orders does not wait for orders-migrate to complete",
    ),
    "migrate runs the server": (
        _set("services/payments-migrate/command", ["serve"]),
        "payments-migrate does not run `migrate`",
    ),
    "healthcheck is not the image's": (
        _set("services/orders/healthcheck/test", ["CMD", "true"]),
        "orders: healthcheck ['CMD', 'true'] is not the image's HEALTHCHECK",
    ),
    "no grace for the graceful stop": (
        _set("services/gateway/stop_grace_period", "10s"),
        "gateway: stop_grace_period 10.0s leaves no room for the graceful stop",
    ),
    "published to the world": (
        _set("services/gateway/ports", ["8000:8000"]),
        "gateway: port 8000:8000 is published beyond 127.0.0.1",
    ),
    "waits for health that no one checks": (
        _drop("services/mailpit/healthcheck"),
        "notifications: waits for mailpit to be healthy, which has no healthcheck",
    ),
    "other image for migrations": (
        _set("services/gateway-migrate/image", "ecommerce/orders:local"),
        "gateway-migrate does not run the image of gateway",
    ),
    "built from another Dockerfile": (
        _set("services/orders/build/dockerfile", "deployments/docker/payments.Dockerfile"),
        "orders: not built from deployments/docker/orders.Dockerfile",
    ),
    "read-only without a writable VAR_DIR": (
        _set("services/payments/tmpfs", ["/tmp"]),
        "payments: read-only, but /tmp or VAR_DIR (/var/lib/ecommerce) is not writable",
    ),
    "PostgreSQL's default max_connections": (
        _drop("services/postgres/command"),
        "postgres: max_connections 100 < 187 (3 replicas of each service)",
    ),
    "bigger pools than the database allows": (
        _both_envs("orders", "ORDERS_DATABASE_POOL_SIZE", "20"),
        "postgres: max_connections 200 < 232 (3 replicas of each service)",
    ),
}


@pytest.mark.parametrize(("change", "problem"), WIRING_BREAKS.values(), ids=WIRING_BREAKS.keys())
def test_the_wiring_check_rejects_a_miswired_file(
    change: Callable[[dict[str, Any]], None], problem: str
) -> None:
    doc = compose()
    change(doc)
    problems = compose_wiring_problems(doc)
    assert any(problem in p for p in problems), problems


def test_the_init_script_creates_one_database_per_service() -> None:
    text = (DEPLOYMENTS / "compose" / "postgres-init.sql").read_text()
    for service in ("orders", "payments", "notifications", "gateway"):
        assert f"CREATE DATABASE {service} OWNER {service};" in text


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}", {"A": "1"}, "1"),
        ("$A-x", {"A": "1"}, "1-x"),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A-d}", {"A": ""}, ""),
        ("${A:+r}", {"A": "1"}, "r"),
        ("${A+r}", {}, ""),
        ("$$A", {"A": "1"}, "$A"),
        ("${A?x}", {"A": ""}, ""),
    ],
)
def test_interpolation_follows_compose(text: str, env: dict[str, str], expected: str) -> None:
    assert interpolate_string(text, env) == expected


def test_interpolation_of_a_required_unset_variable_fails() -> None:
    with pytest.raises(InterpolationError, match="A: set A"):
        interpolate_string("${A:?set A}", {"A": ""})
    assert compose_variables({"x": ["$$NOT", "${B:-x} $C"]}) == {"B", "C"}

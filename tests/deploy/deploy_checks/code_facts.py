"""What the code says, read from the code itself rather than copied: the settings classes (variable names,
defaults, prefixes), the gRPC health names of the generated descriptors, the gateway's paths in
``specs/openapi.yaml``, the database connections a process may hold (its pool, as its bootstrap builds it)
and what ``.env.example`` documents."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

import yaml
from sqlalchemy.pool import QueuePool

from ecommerce.notifications.v1 import notifications_pb2
from ecommerce.orders.v1 import orders_pb2
from ecommerce.payments.v1 import payments_pb2
from ecommerce_runtime.config import ServiceSettings
from gateway.bootstrap import GatewaySettings
from gateway.bootstrap import bootstrap as bootstrap_gateway
from notifications.bootstrap import NotificationsSettings
from notifications.bootstrap import bootstrap as bootstrap_notifications
from orders.bootstrap import OrdersSettings
from orders.bootstrap import bootstrap as bootstrap_orders
from payments.bootstrap import PaymentsSettings
from payments.bootstrap import bootstrap as bootstrap_payments

from .repository import ENV_EXAMPLE, GRPC_SERVICES, OPENAPI, SERVICES

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


POOL_VARIABLES = ("DATABASE_POOL_SIZE", "DATABASE_MAX_OVERFLOW")
_BOOTSTRAP: dict[str, Callable[[Any], Any]] = {
    "orders": bootstrap_orders,
    "payments": bootstrap_payments,
    "notifications": bootstrap_notifications,
    "gateway": bootstrap_gateway,
}
_REQUIRED = {"gateway": {"jwt_secret": "x" * 32}}


def pool_connections(service: str, env: Mapping[str, str]) -> int:
    """Connections one process of ``service`` may hold with the environment ``env``: read from the pool of
    the engine the service's own bootstrap builds (its settings -> ``create_engine`` -> the pool)."""
    sizing = tuple(env.get(f"{service.upper()}_{name}") for name in POOL_VARIABLES)
    return _pool_connections(service, sizing)


@functools.cache
def _pool_connections(service: str, sizing: tuple[str | None, ...]) -> int:
    values: dict[str, Any] = {
        "database_url": "postgresql://check@127.0.0.1:1/check",
        **_REQUIRED.get(service, {}),
    }
    values.update({name.lower(): v for name, v in zip(POOL_VARIABLES, sizing, strict=True) if v})
    settings = SETTINGS[service](**values)
    pool = _BOOTSTRAP[service](settings).engine.sync_engine.pool
    assert isinstance(pool, QueuePool), type(pool)
    return pool.size() + pool._max_overflow  # QueuePool has no public accessor for the overflow


def split_address(address: str) -> tuple[str, int]:
    host, separator, port = address.rpartition(":")
    if not separator or not port.isdigit():
        raise ValueError(f"not host:port: {address!r}")
    return host, int(port)

"""What the code says, read from the code itself rather than copied: the settings classes (variable names,
defaults, prefixes), the gRPC health names of the generated descriptors, the gateway's paths in
``specs/openapi.yaml``, the database pool size and what ``.env.example`` documents."""

from __future__ import annotations

import re
from pathlib import Path

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

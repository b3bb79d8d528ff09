"""Health check of the service images (Docker ``HEALTHCHECK``, Compose ``healthcheck``).

    python /app/healthcheck.py grpc ORDERS_GRPC_BIND [SERVICE]
    python /app/healthcheck.py http GATEWAY_HTTP_BIND /v1/readyz

Exit status 0 when healthy, 1 when not (Docker's convention), with the reason on stderr. The address is
read from the named environment variable -- the very setting the service binds to -- so the check follows
the service wherever its port is configured; a wildcard host (``0.0.0.0``, ``[::]``) is checked on the
loopback address.

``grpc``: the standard gRPC health service (``grpc.health.v1.Health/Check``). ``SERVICE`` defaults to the
empty name, the whole server, which the services report SERVING only once they are ready for work (a
consumer, once it consumes); a servicer's full name (``ecommerce.orders.v1.OrderService``) is SERVING while
its API is up. ``http``: a GET of the path on the bind address; only ``200`` is healthy.

Only the standard library and grpcio (with grpcio-health-checking, which every gRPC service image has).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from typing import Any

TIMEOUT_SECONDS = 3.0
WILDCARD_HOSTS = {"", "0.0.0.0", "[::]", "::", "*"}


def target(bind: str) -> str:
    """``host:port`` to connect to for a service bound to ``bind``."""
    host, separator, port = bind.rpartition(":")
    if not separator or not port.isdigit():
        raise ValueError(f"not a host:port address: {bind!r}")
    return f"{'127.0.0.1' if host in WILDCARD_HOSTS else host}:{port}"


def check_grpc(address: str, service: str) -> str | None:
    """None if ``service`` reports SERVING at ``address``, else why not."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)  # the stubs' types lack the generated methods
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT_SECONDS)
        except grpc.RpcError as error:
            code = error.code() if callable(getattr(error, "code", None)) else error  # a grpc.Call
            return f"health check of {service!r} at {address} failed: {getattr(code, 'name', code)}"
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        return f"{service!r} at {address} is {status}"
    return None


def check_http(address: str, path: str) -> str | None:
    """None if ``GET http://address/path`` answers 200, else why not."""
    url = f"http://{address}{path}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            status = int(response.status)
    except urllib.error.HTTPError as error:
        status = error.code
    except (OSError, ValueError) as error:
        return f"GET {url} failed: {error}"
    return None if status == 200 else f"GET {url} answered {status}"


def main(argv: list[str]) -> int:
    usage = "usage: healthcheck.py grpc BIND_VARIABLE [SERVICE] | http BIND_VARIABLE PATH"
    if len(argv) < 2 or argv[0] not in {"grpc", "http"} or (argv[0] == "http" and len(argv) != 3):
        print(usage, file=sys.stderr)
        return 2
    kind, variable = argv[0], argv[1]
    bind = os.environ.get(variable)
    if not bind:
        print(f"unhealthy: {variable} is not set", file=sys.stderr)
        return 1
    try:
        address = target(bind)
    except ValueError as error:
        print(f"unhealthy: {variable}: {error}", file=sys.stderr)
        return 1
    if kind == "grpc":
        problem = check_grpc(address, argv[2] if len(argv) > 2 else "")
    else:
        problem = check_http(address, argv[2])
    if problem is not None:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

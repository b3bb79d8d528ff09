"""The stack under chaos: every service as N replicas (processes of ``deployments/Procfile``), every link
of every process through a ``TcpProxy`` the faults can act on.

    clients ──▶ clients->gateway ──▶ gateway-1..N ──▶ gateway->orders|payments|notifications ──▶ replicas
    <service>-i ──▶ <service>->broker ──▶ RabbitMQ (a throwaway vhost)
    <service>-i ──▶ <service>->postgres ──▶ PostgreSQL (a throwaway database per service)
    notifications-i ──▶ notifications->smtp ──▶ the dev mail sink (its maildir is the audit's evidence)

Each link is one proxy shared by the replicas of its service, so a fault on ``payments->broker`` is a
partition between the payment service and the broker and nothing else. The shared RabbitMQ and PostgreSQL
are never stopped or reconfigured: their outages are the proxies'. The audit reads the databases and the
broker directly, past the proxies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import grpc
from devstack.stack import ROOT, Stack, procfile_commands
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chaos.tcp_proxy import TcpProxy
from ecommerce_bench.workload import bench_catalog
from ecommerce_runtime.testing.postgres import temporary_postgres_database
from ecommerce_runtime.testing.rabbitmq import temporary_vhost

SERVICES = ("orders", "payments", "notifications", "gateway")
BACKENDS = ("orders", "payments", "notifications")
"""The services the gateway calls, and the ones on the broker."""
SETTINGS = {
    "LOG_LEVEL": "INFO",
    "GATEWAY_JWT_TTL_SECONDS": "86400",  # no token expires during a run
}
"""What the chaos stack sets; everything else is the services' defaults."""
# Inherited variables that would point a process past the fleet's proxies.
_FOREIGN = ("ORDERS_", "PAYMENTS_", "NOTIFICATIONS_", "GATEWAY_", "DEV_SMTP_", "AMQP_URL", "VAR_DIR")
READY_WITHIN_S = 120.0
STACK_CODE = ("services", "generated", "tools", "deployments")


@dataclass(frozen=True, slots=True)
class Replica:
    """One process of the fleet: ``orders-2`` is the second replica of the order service."""

    name: str
    service: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    port: int
    """Where it serves: gRPC, or HTTP for the gateway (0 for the mail sink)."""
    cwd: Path


@dataclass
class Fleet:
    """A running chaos stack (see the module docstring)."""

    amqp_url: str
    """The vhost, directly (the audit's way in, past every proxy)."""
    database_urls: dict[str, str]
    """Service -> SQLAlchemy URL of its database, directly."""
    maildir: Path
    base_url: str
    """The REST API as clients reach it: through ``clients->gateway``."""
    proxies: dict[str, TcpProxy]
    replicas: dict[str, Replica]
    stack: Stack
    exit_codes: dict[str, int] = field(default_factory=dict)
    """Filled in when the fleet has stopped."""

    def links(self, kind: str, services: tuple[str, ...] = SERVICES) -> list[TcpProxy]:
        """The proxies ``<service>-><kind>`` of ``services`` (kind: broker, postgres, smtp)."""
        return [self.proxies[name] for s in services if (name := f"{s}->{kind}") in self.proxies]

    def replicas_of(self, service: str) -> list[Replica]:
        return [replica for replica in self.replicas.values() if replica.service == service]

    async def kill(self, name: str) -> None:
        """kill -9 of one replica."""
        await self.stack.kill(name)

    async def restart(self, name: str) -> None:
        """Start a killed replica again, as a supervisor would."""
        replica = self.replicas[name]
        await self.stack.spawn(name, replica.argv, replica.env, cwd=replica.cwd)

    async def heal(self) -> None:
        """Every link back to ``pass``."""
        for proxy in self.proxies.values():
            await proxy.restore()


def checkout_state(root: Path = ROOT) -> str:
    """``<commit>``, or ``<commit>+changes`` when what the stack runs (services, generated code, tools,
    deployments) has uncommitted changes; the path of a directory that is no git checkout."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", *STACK_CODE],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return str(root)
    return f"{commit}+changes" if dirty else commit


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _through(url: str, proxy: TcpProxy) -> str:
    """``url`` (amqp:// or SQLAlchemy) with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{proxy.address}" if userinfo else proxy.address
    return urlunsplit(parts._replace(netloc=netloc))


def _upstream(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


async def _wait_serving(address: str, stack: Stack, within: float) -> None:
    """Until the gRPC health service at ``address`` answers SERVING (the runner says so once its broker
    session is up); raises if a process exits or time runs out."""
    deadline = time.monotonic() + within
    while True:
        if dead := stack.exited():
            raise RuntimeError(f"process(es) exited during start-up: {dead}")
        # A channel per try: one that failed to connect waits out gRPC's reconnect backoff (seconds).
        async with grpc.aio.insecure_channel(address) as channel:
            stub: Any = health_pb2_grpc.HealthStub(channel)  # the stubs' types describe sync channels only
            with contextlib.suppress(grpc.aio.AioRpcError):
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{address} not SERVING after {within:.0f}s")
        await asyncio.sleep(0.25)


async def _start_proxy(proxies: dict[str, TcpProxy], name: str, *upstreams: tuple[str, int]) -> str:
    proxy = TcpProxy(name, upstreams)
    await proxy.start()
    proxies[name] = proxy
    return proxy.address


def _environments(
    replicas: int,
    base: Mapping[str, str],
    direct: Mapping[str, str],
    proxies: dict[str, TcpProxy],
    ports: dict[str, list[int]],
) -> dict[str, dict[str, str]]:
    """Process name -> environment, for every replica (the proxies already listening)."""
    envs: dict[str, dict[str, str]] = {"mailsink-1": dict(base)}
    for service in SERVICES:
        prefix = service.upper()
        for n, port in enumerate(ports[service], 1):
            env = {
                **base,
                f"{prefix}_DATABASE_URL": _through(direct[service], proxies[f"{service}->postgres"]),
            }
            if service == "gateway":
                env["GATEWAY_HTTP_BIND"] = f"127.0.0.1:{port}"
                for backend in BACKENDS:
                    env[f"GATEWAY_{backend.upper()}_ADDR"] = proxies[f"gateway->{backend}"].address
            else:
                env[f"{prefix}_GRPC_BIND"] = f"127.0.0.1:{port}"
                env["AMQP_URL"] = _through(direct["amqp"], proxies[f"{service}->broker"])
            if service == "notifications":
                env["NOTIFICATIONS_SMTP_HOST"] = "127.0.0.1"
                env["NOTIFICATIONS_SMTP_PORT"] = str(proxies["notifications->smtp"].port)
            envs[f"{service}-{n}"] = env
    assert len(envs) == 1 + replicas * len(SERVICES)
    return envs


@contextlib.asynccontextmanager
async def started_fleet(
    var_dir: Path,
    log: TextIO,
    *,
    replicas: int = 1,
    settings: Mapping[str, str] = {},
    root: Path = ROOT,
) -> AsyncIterator[Fleet]:
    """The fleet, every replica ready; on exit healed, stopped (SIGTERM), its vhost and databases removed.
    Every process's output goes to ``log``. ``root``: the checkout whose Procfile, interpreter
    (``.venv/bin/python``) and code the processes run (default: this one)."""
    async with contextlib.AsyncExitStack() as resources:
        made = await asyncio.gather(
            resources.enter_async_context(temporary_vhost()),
            *(resources.enter_async_context(temporary_postgres_database()) for _ in SERVICES),
        )
        direct = dict(zip(("amqp", *SERVICES), made, strict=True))
        catalog = var_dir / "catalog.json"
        catalog.write_text(json.dumps(bench_catalog(), indent=1))
        sink_port = free_port()
        base = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN)}
        base |= SETTINGS | dict(settings)
        base |= {
            "VAR_DIR": str(var_dir),
            "PYTHONUNBUFFERED": "1",
            "GATEWAY_JWT_SECRET": secrets.token_urlsafe(48),
            "ORDERS_CATALOG_FILE": str(catalog),
            "DEV_SMTP_PORT": str(sink_port),
            "DEV_SMTP_MAILDIR": str(var_dir / "mail"),
        }

        proxies: dict[str, TcpProxy] = {}
        resources.push_async_callback(lambda: asyncio.gather(*(p.close() for p in proxies.values())))
        ports = {service: [free_port() for _ in range(replicas)] for service in SERVICES}
        for service in SERVICES:
            await _start_proxy(proxies, f"{service}->postgres", _upstream(direct[service], 5432))
        for service in BACKENDS:
            await _start_proxy(proxies, f"{service}->broker", _upstream(direct["amqp"], 5672))
            await _start_proxy(proxies, f"gateway->{service}", *(("127.0.0.1", p) for p in ports[service]))
        await _start_proxy(proxies, "notifications->smtp", ("127.0.0.1", sink_port))
        gateways = [("127.0.0.1", port) for port in ports["gateway"]]
        base_url = f"http://{await _start_proxy(proxies, 'clients->gateway', *gateways)}/v1"

        python = None
        if root != ROOT:  # another checkout: its own environment, as `make bench --stack-root` does
            venv = root / ".venv"
            python = str(venv / "bin" / "python")
            base |= {"VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{base.get('PATH', '')}"}
        commands = procfile_commands(base, root / "deployments" / "Procfile", python=python)
        envs = _environments(replicas, base, direct, proxies, ports)
        fleet_replicas = {}
        for name, env in envs.items():
            service, n = name.rsplit("-", 1)
            port = ports[service][int(n) - 1] if service in ports else 0
            fleet_replicas[name] = Replica(name, service, tuple(commands[service]), env, port, root)

        stack = Stack(base, lambda line: print(line, file=log), pretty=False)
        fleet = Fleet(
            amqp_url=direct["amqp"],
            database_urls={service: direct[service] for service in SERVICES},
            maildir=var_dir / "mail",
            base_url=base_url,
            proxies=proxies,
            replicas=fleet_replicas,
            stack=stack,
        )

        async def stop() -> None:
            await fleet.heal()  # a fault cut short by an error must not spoil the graceful stop
            fleet.exit_codes = await stack.stop()

        resources.push_async_callback(stop)
        for replica in fleet_replicas.values():
            await stack.spawn(replica.name, replica.argv, replica.env, cwd=replica.cwd)
        for replica in fleet_replicas.values():
            if replica.service == "gateway":
                await stack.wait_ready(f"http://127.0.0.1:{replica.port}/v1", within=READY_WITHIN_S)
            elif replica.port:
                await _wait_serving(f"127.0.0.1:{replica.port}", stack, READY_WITHIN_S)
        yield fleet

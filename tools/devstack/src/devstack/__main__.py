"""``python -m devstack run``: the whole system on this machine, until Ctrl-C (what ``make run`` does).

1. The settings: real variables over ``.env`` (``--env-file``) over the defaults of each service. The
   addresses are resolved once (``devstack.addresses``) and every port checked free, so a conflict names
   the setting to change before anything starts.
2. RabbitMQ at ``AMQP_URL``: if it does not answer and it is local and ``rabbitmq-server`` is installed, it is
   started (``rabbitmq-server -detached``); otherwise the command stops and says how to get one.
3. Every service's migrations (and the catalog seed), then the processes of ``deployments/Procfile``.
4. Once ``/v1/readyz`` is green: where the API, the Swagger UI and the emails are.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from devstack.addresses import (
    SINK_PORT,
    AddressError,
    Layer,
    StackAddresses,
    api_base_url,
    check_ports_free,
    resolve_addresses,
)
from devstack.stack import ENV_FILE, ROOT, Stack, merge, settings_layers, stack_env, var_dir_of

SERVICES_WITH_DATABASES = ("orders", "payments", "notifications", "gateway")


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def ensure_rabbitmq(amqp_url: str) -> None:
    """Returns once RabbitMQ answers at ``amqp_url``; starts a local one if it can; else exits with help."""
    parts = urlsplit(amqp_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5672
    if _port_open(host, port):
        return
    local = host in {"127.0.0.1", "localhost", "::1"}
    if local and shutil.which("rabbitmq-server"):
        print(f"RabbitMQ is not answering at {host}:{port}; starting it (rabbitmq-server -detached) ...")
        subprocess.run(["rabbitmq-server", "-detached"], check=False)
        for _ in range(120):
            if _port_open(host, port):
                return
            time.sleep(0.5)
    sys.exit(
        f"RabbitMQ is not reachable at {host}:{port}.\n"
        "Install it (Debian/Ubuntu: apt-get install rabbitmq-server), start it with\n"
        "`rabbitmq-server -detached`, or point AMQP_URL (in the environment or .env) at a running broker."
    )


def dev_jwt_secret(var_dir: Path) -> str:
    """A signing key for local tokens, kept in var/ so tokens survive a restart; never used in production."""
    path = var_dir / "dev-jwt-secret"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def migrate(env: dict[str, str]) -> None:
    for service in SERVICES_WITH_DATABASES:
        result = subprocess.run([sys.executable, "-m", service, "migrate"], env=env, cwd=ROOT, check=False)
        if result.returncode != 0:
            sys.exit(f"`python -m {service} migrate` failed (exit {result.returncode}); see the lines above")


def _notes(addresses: StackAddresses, env_file: Path, layers: tuple[Layer, Layer]) -> tuple[list[str], str]:
    """Warnings about settings that point past the stack, and how to run the demo against it."""
    notes = [warning] if (warning := addresses.smtp_warning()) else []
    client = api_base_url(*layers)
    if client.value != addresses.gateway_url:
        notes.append(
            f"{client.name}={client.value} ({client.source}) is not this stack's API "
            f"({addresses.gateway_url}): the SDK and `make demo` call that one instead."
        )
    try:
        found_from_file = api_base_url(layers[1]).value == addresses.gateway_url
    except AddressError:
        found_from_file = False
    demo = "make demo" if env_file == ENV_FILE else f"python -m devstack.demo --env-file {layers[1][0]}"
    if not found_from_file:
        demo = f"ECOMMERCE_BASE_URL={addresses.gateway_url} {demo}"
    return notes, demo


def _banner(addresses: StackAddresses, var_dir: Path, demo: str) -> str:
    base_url, binds = addresses.gateway_url, addresses.binds()
    if addresses.smtp_warning() is None:
        emails = f"{var_dir / 'mail'} (one .eml file per message; the dev mail sink on {binds[SINK_PORT]})"
    else:
        emails = f"sent to {addresses.smtp_server} (NOTIFICATIONS_SMTP_HOST/_PORT)"
    services = (
        f"orders {binds['ORDERS_GRPC_BIND']}, payments {binds['PAYMENTS_GRPC_BIND']}, "
        f"notifications {binds['NOTIFICATIONS_GRPC_BIND']}"
    )
    return (
        "\n"
        "  The e-commerce system is up.\n"
        f"    REST API      {base_url}\n"
        f"    Swagger UI    {base_url}/ui/\n"
        f"    OpenAPI spec  {base_url}/openapi.json\n"
        f"    gRPC          {services}\n"
        f"    Emails        {emails}\n"
        f"    Databases     SQLite files in {var_dir} (set *_DATABASE_URL for PostgreSQL)\n"
        f"  Try `{demo}` in another shell. Ctrl-C stops everything.\n"
    )


async def run(env_file: Path = ENV_FILE) -> int:
    layers = settings_layers(env_file)
    try:
        addresses = resolve_addresses(*layers)
        check_ports_free(addresses)
    except AddressError as error:
        print(error, file=sys.stderr, flush=True)
        return 2
    notes, demo = _notes(addresses, env_file, layers)
    print(f"Addresses (the environment over {layers[1][0]} over the defaults):\n{addresses.describe()}")
    for note in notes:
        print(f"  note: {note}")
    env = merge(layers)
    var_dir = var_dir_of(env)
    env.setdefault("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    env.setdefault("GATEWAY_JWT_SECRET", dev_jwt_secret(var_dir))
    env = stack_env(addresses, var_dir, env)
    ensure_rabbitmq(env["AMQP_URL"])
    print("Applying migrations ...", flush=True)
    migrate(env)

    stack = Stack(env)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stack.start()
    try:
        ready = asyncio.create_task(stack.wait_ready(addresses.gateway_url))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait([ready, stopped], return_when="FIRST_COMPLETED")
        if ready.done():
            ready.result()
            print(_banner(addresses, var_dir, demo), flush=True)
            watch = asyncio.create_task(stack.wait_any_exit())
            await asyncio.wait([watch, stopped], return_when="FIRST_COMPLETED")
            if watch.done() and not stop.is_set():
                print(f"a process exited unexpectedly: {stack.exited()}; stopping the stack", flush=True)
    except (RuntimeError, TimeoutError) as error:
        print(f"the stack did not come up: {error}", flush=True)
        await stack.stop()
        return 1
    print("Stopping ...", flush=True)
    codes = await stack.stop()
    print(f"Stopped: {codes}", flush=True)
    return 0 if stop.is_set() and all(code in (0, -signal.SIGTERM) for code in codes.values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("command", choices=["run"])
    parser.add_argument(
        "--env-file", type=Path, default=ENV_FILE, help="settings under the environment's (default: .env)"
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run(args.env_file))
    return 130


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())

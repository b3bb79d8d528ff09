"""The stack under test, started the way the end-to-end tests start it (``tests/e2e/e2e_stack.py``).

The processes of a ``deployments/Procfile`` (``devstack``) on free ports, against a throwaway RabbitMQ
vhost and, on PostgreSQL, one throwaway database per service (the runtime's test helpers make and remove
both). ``--stack-root`` runs another checkout's stack instead (its Procfile, its ``.venv``'s interpreter,
its directory), so two commits can be measured in one sitting by the same bench code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from devstack.addresses import Ports
from devstack.stack import ROOT, Sink, Stack, procfile_commands, stack_env

from ecommerce_bench.workload import bench_catalog
from ecommerce_runtime.testing.postgres import temporary_postgres_database
from ecommerce_runtime.testing.rabbitmq import temporary_vhost

SERVICES_WITH_DATABASES = ("orders", "payments", "notifications", "gateway")
# The settings every started stack gets, so that runs compare: the payment simulator answers at once;
# tokens outlive the longest run.
BENCH_SETTINGS = {"PAYMENTS_PROVIDER_LATENCY_MS": "0", "GATEWAY_JWT_TTL_SECONDS": "86400"}
# Inherited variables that would point a process elsewhere than the stack the bench made.
_FOREIGN = ("ORDERS_", "PAYMENTS_", "NOTIFICATIONS_", "GATEWAY_", "DEV_SMTP_", "AMQP_URL", "VAR_DIR")


class CheckoutStack(Stack):
    """The stack of another checkout: its Procfile's processes, run by its interpreter, in its directory.

    ``devstack.Stack`` runs this checkout's Procfile with this interpreter; only ``start`` differs.
    """

    def __init__(self, env: Mapping[str, str], sink: Sink, root: Path) -> None:
        super().__init__(env, sink, pretty=False)
        self._root = root
        self._python = root / ".venv" / "bin" / "python"

    async def start(self) -> None:
        for name, argv in procfile_commands(self._env, self._root / "deployments" / "Procfile").items():
            if argv[0] == sys.executable:
                argv[0] = str(self._python)
            process = await asyncio.create_subprocess_exec(
                *argv,
                env=self._env,
                cwd=self._root,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
            self.processes[name] = process
            self._pumps.append(asyncio.create_task(self._pump(name, process)))


def check_checkout(root: Path) -> None:
    """Raises ``SystemExit`` with what to do when ``root`` cannot run its stack."""
    if not (root / "deployments" / "Procfile").is_file():
        raise SystemExit(
            f"--stack-root {root}: no deployments/Procfile there (not a checkout of this project?)"
        )
    if not (root / ".venv" / "bin" / "python").is_file():
        raise SystemExit(f"--stack-root {root}: no .venv there; run `make setup` in that checkout first")


def git_state(root: Path) -> tuple[str | None, bool | None]:
    """(commit, has uncommitted changes) of the checkout at ``root``; ``None``s when git cannot tell."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None, None
    return commit, bool(status.strip())


@dataclass
class StartedStack:
    """A running stack: where it answers, where its state is, which processes it is."""

    base_url: str
    root: Path
    database: Literal["postgres", "sqlite"]
    service_urls: dict[str, str]
    """Service -> SQLAlchemy URL of its database."""
    maildir: Path
    pids: dict[str, int]
    settings: dict[str, str]
    log: deque[str]
    stack: Stack
    exit_codes: dict[str, int] = field(default_factory=dict)
    """Filled in when the stack has stopped."""


@contextlib.asynccontextmanager
async def started_stack(
    var_dir: Path,
    database: Literal["postgres", "sqlite"],
    overrides: Mapping[str, str],
    stack_root: Path | None = None,
) -> AsyncIterator[StartedStack]:
    """The stack, ready (``/v1/readyz`` green); stopped on exit, its databases and vhost removed."""
    root = stack_root or ROOT
    log: deque[str] = deque(maxlen=400)
    async with contextlib.AsyncExitStack() as resources:
        amqp_url = await resources.enter_async_context(temporary_vhost())
        catalog = var_dir / "bench-catalog.json"
        await asyncio.to_thread(catalog.write_text, json.dumps(bench_catalog(), indent=1))
        settings = {**BENCH_SETTINGS, "ORDERS_CATALOG_FILE": str(catalog), **overrides}
        base = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN)}
        base.update(settings)
        base.update({"AMQP_URL": amqp_url, "GATEWAY_JWT_SECRET": secrets.token_urlsafe(48)})
        service_urls = {}
        for service in SERVICES_WITH_DATABASES:
            if database == "postgres":
                url = await resources.enter_async_context(temporary_postgres_database())
                base[f"{service.upper()}_DATABASE_URL"] = url
            else:
                url = f"sqlite+aiosqlite:///{var_dir / f'{service}.db'}"
            service_urls[service] = url
        if stack_root is not None:
            venv = stack_root / ".venv"
            base.update(
                {"VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{base.get('PATH', '')}"}
            )
        addresses = Ports.free().addresses()
        env = stack_env(addresses, var_dir, base)
        stack = (
            Stack(env, log.append, pretty=False)
            if stack_root is None
            else CheckoutStack(env, log.append, root)
        )
        await stack.start()
        base_url = addresses.gateway_url
        running = StartedStack(
            base_url=base_url,
            root=root,
            database=database,
            service_urls=service_urls,
            maildir=Path(env["DEV_SMTP_MAILDIR"]),
            pids={name: process.pid for name, process in stack.processes.items()},
            settings=settings,
            log=log,
            stack=stack,
        )
        try:
            await stack.wait_ready(base_url, within=120)
            yield running
        except BaseException:
            print("\n".join(log), file=sys.stderr)
            raise
        finally:
            running.exit_codes = await stack.stop()

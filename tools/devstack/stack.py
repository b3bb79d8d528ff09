"""Start, watch and stop the local stack: the processes of ``deployments/Procfile`` with one environment."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
PROCFILE = ROOT / "deployments" / "Procfile"
Sink = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Ports:
    gateway_http: int = 8000
    orders_grpc: int = 50051
    payments_grpc: int = 50052
    notifications_grpc: int = 50053
    smtp: int = 1025

    @classmethod
    def free(cls) -> Ports:
        """Ports nothing listens on right now (for tests that run a stack beside another)."""
        sockets = [socket.socket() for _ in range(5)]
        try:
            for sock in sockets:
                sock.bind(("127.0.0.1", 0))
            return cls(*(sock.getsockname()[1] for sock in sockets))
        finally:
            for sock in sockets:
                sock.close()


def stack_env(ports: Ports, var_dir: Path, base: Mapping[str, str]) -> dict[str, str]:
    """The environment every process gets: ``base`` plus the addresses that tie the services together."""
    env = dict(base)
    env.update(
        {
            "VAR_DIR": str(var_dir),
            "PYTHONUNBUFFERED": "1",
            "ORDERS_GRPC_BIND": f"127.0.0.1:{ports.orders_grpc}",
            "PAYMENTS_GRPC_BIND": f"127.0.0.1:{ports.payments_grpc}",
            "NOTIFICATIONS_GRPC_BIND": f"127.0.0.1:{ports.notifications_grpc}",
            "GATEWAY_HTTP_BIND": f"127.0.0.1:{ports.gateway_http}",
            "GATEWAY_ORDERS_ADDR": f"127.0.0.1:{ports.orders_grpc}",
            "GATEWAY_PAYMENTS_ADDR": f"127.0.0.1:{ports.payments_grpc}",
            "GATEWAY_NOTIFICATIONS_ADDR": f"127.0.0.1:{ports.notifications_grpc}",
            "NOTIFICATIONS_SMTP_HOST": env.get("NOTIFICATIONS_SMTP_HOST", "127.0.0.1"),
            "NOTIFICATIONS_SMTP_PORT": env.get("NOTIFICATIONS_SMTP_PORT", str(ports.smtp)),
            "DEV_SMTP_PORT": str(ports.smtp),
            "DEV_SMTP_MAILDIR": str(var_dir / "mail"),
        }
    )
    return env


def procfile_commands(env: Mapping[str, str], path: Path = PROCFILE) -> dict[str, list[str]]:
    """name -> argv for each line ``name: command`` of the Procfile, ``$VAR`` expanded from ``env`` as a
    shell would (``python`` is this interpreter)."""
    commands = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, command = line.split(":", 1)
        expanded = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), command)
        argv = shlex.split(expanded)
        if argv[0] == "python":
            argv[0] = sys.executable
        commands[name.strip()] = argv
    return commands


def _readable(name: str, line: str) -> str:
    """One log line for a person: JSON log entries as time, level, message and fields."""
    try:
        entry = json.loads(line)
    except ValueError:
        return f"{name:<13} | {line}"
    if not isinstance(entry, dict) or "message" not in entry:
        return f"{name:<13} | {line}"
    fields = " ".join(
        f"{k}={v}" for k, v in entry.items() if k not in {"time", "level", "service", "logger", "message"}
    )
    stamp = str(entry.get("time", ""))[11:19]
    return f"{name:<13} | {stamp} {entry.get('level', ''):<7} {entry['message']} {fields}".rstrip()


class Stack:
    """The processes of the Procfile, started together, their output merged, stopped together."""

    def __init__(self, env: Mapping[str, str], sink: Sink = print, *, pretty: bool = True) -> None:
        self._env = dict(env)
        self._sink = sink
        self._pretty = pretty
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self._pumps: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for name, argv in procfile_commands(self._env).items():
            process = await asyncio.create_subprocess_exec(
                *argv,
                env=self._env,
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the stack, which stops each process in order
            )
            self.processes[name] = process
            self._pumps.append(asyncio.create_task(self._pump(name, process)))

    async def _pump(self, name: str, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip()
            self._sink(_readable(name, line) if self._pretty else f"{name} | {line}")

    def exited(self) -> dict[str, int]:
        return {name: p.returncode for name, p in self.processes.items() if p.returncode is not None}

    async def wait_ready(self, base_url: str, within: float = 120.0) -> None:
        """Until ``GET {base_url}/readyz`` answers 200; raises if a process exits or time runs out."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                if dead := self.exited():
                    raise RuntimeError(f"process(es) exited during start-up: {dead}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{base_url}/readyz")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{base_url}/readyz not ready after {within:.0f}s")
                await asyncio.sleep(0.25)

    async def wait_any_exit(self) -> None:
        await asyncio.wait(
            [asyncio.create_task(p.wait()) for p in self.processes.values()], return_when="FIRST_COMPLETED"
        )

    async def stop(self, grace: float = 30.0) -> dict[str, int]:
        """SIGTERM to every process (gateway first, mail sink last), then SIGKILL after ``grace`` seconds."""
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        for pump in self._pumps:
            await pump
        return {name: p.returncode if p.returncode is not None else -1 for name, p in self.processes.items()}


def load_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a .env file (comments and blank lines skipped, no interpolation)."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or "=" not in stripped:
            continue
        key, value = stripped.split("=", 1)
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def base_environment(root: Path = ROOT) -> dict[str, str]:
    """The process environment with ``.env`` (if present) underneath it: real env vars win."""
    return {**load_env_file(root / ".env"), **os.environ}

"""Start, watch and stop the local stack: the processes of ``deployments/Procfile`` with one environment."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx

from devstack.addresses import Layer, StackAddresses

ROOT = Path(__file__).resolve().parents[4]
ENV_FILE = ROOT / ".env"
PROCFILE = ROOT / "deployments" / "Procfile"
Sink = Callable[[str], None]


def stack_env(addresses: StackAddresses, var_dir: Path, base: Mapping[str, str]) -> dict[str, str]:
    """The environment every process gets: ``base`` with the stack's addresses and its state directory."""
    return {
        **base,
        **addresses.environment(),
        "VAR_DIR": str(var_dir),
        "PYTHONUNBUFFERED": "1",
        "DEV_SMTP_MAILDIR": str(var_dir / "mail"),
    }


def procfile_commands(
    env: Mapping[str, str], path: Path = PROCFILE, *, python: str | None = None
) -> dict[str, list[str]]:
    """name -> argv for each line ``name: command`` of the Procfile, ``$VAR`` expanded from ``env`` as a
    shell would. Its ``python`` is the interpreter ``python`` (default: this one; another checkout's
    ``.venv/bin/python`` runs that checkout's code)."""
    commands = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, command = line.split(":", 1)
        expanded = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), command)
        argv = shlex.split(expanded)
        if argv[0] == "python":
            argv[0] = python or sys.executable
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
            await self.spawn(name, argv)

    async def spawn(
        self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None, *, cwd: Path = ROOT
    ) -> asyncio.subprocess.Process:
        """Start one more process of the stack as ``name``, with ``env`` (default: the stack's), in ``cwd``;
        it stops with the others. A name is used once, unless its process has exited: then this starts it
        anew (a replica restarted after a crash), in its place in the stopping order."""
        previous = self.processes.get(name)
        if previous is not None and previous.returncode is None:
            raise RuntimeError(f"{name} is running already (pid {previous.pid})")
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=self._env if env is None else env,
            cwd=cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the stack, which stops each process in order
        )
        self.processes[name] = process
        self._pumps.append(asyncio.create_task(self._pump(name, process)))
        return process

    async def kill(self, name: str) -> int:
        """SIGKILL to the process ``name`` (a crash: no shutdown code runs); returns once it has exited."""
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        return await process.wait()

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


def var_dir_of(env: Mapping[str, str]) -> Path:
    """``VAR_DIR`` (default ``var``), relative to the repository."""
    return ROOT / env.get("VAR_DIR", "var")


def settings_layers(env_file: Path = ENV_FILE) -> tuple[Layer, Layer]:
    """Where ``make run`` and ``make demo`` read their settings: the environment over ``env_file``."""
    env_file = env_file.absolute()
    shown = env_file.relative_to(Path.cwd()) if env_file.is_relative_to(Path.cwd()) else env_file
    return ("the environment", dict(os.environ)), (str(shown), load_env_file(env_file))


def merge(layers: tuple[Layer, ...]) -> dict[str, str]:
    """The settings of ``layers`` in one mapping, the first layer winning."""
    return {name: value for _, values in reversed(layers) for name, value in values.items()}

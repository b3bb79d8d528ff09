"""``make run`` and ``make demo`` honour the address settings of the environment and ``.env`` (issue 19).

The resolution itself (``devstack.addresses``) is checked directly; then ``python -m devstack run`` refuses
a taken port before it starts anything, and a whole stack started from a ``.env`` of non-default ports
serves the demo there.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from devstack.addresses import (
    BASE_URL,
    BINDS,
    SINK_PORT,
    AddressError,
    Ports,
    StackAddresses,
    api_base_url,
    check_ports_free,
    resolve_addresses,
)

from ecommerce_runtime.testing.rabbitmq import temporary_vhost

ROOT = Path(__file__).resolve().parents[2]
ADDRESS_SETTINGS = {*resolve_addresses().environment(), BASE_URL}
"""Every setting of where the stack listens and where its processes and clients call."""
BINDS_AND_SINK = {*BINDS, SINK_PORT}
CLOSED_AMQP_URL = "amqp://guest:guest@127.0.0.1:1/"
WITHIN = 240.0
"""How long a start-up or the demo may take before the test fails: turns a hang into a failure only."""


def _values(addresses: StackAddresses) -> dict[str, tuple[str, str]]:
    return {setting.name: (setting.value, setting.source) for setting in addresses.settings}


def _binds(ports: Ports) -> dict[str, str]:
    """The settings a user sets to move a stack to ``ports``: the binds, not what follows them."""
    return {name: value for name, value in ports.addresses().environment().items() if name in BINDS_AND_SINK}


@contextlib.contextmanager
def _listening() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


# --- The resolution ------------------------------------------------------------------------------------


def test_without_settings_the_addresses_are_the_services_defaults() -> None:
    addresses = resolve_addresses(("the environment", {}), (".env", {}))

    assert {name: value for name, (value, _) in _values(addresses).items()} == {
        "GATEWAY_HTTP_BIND": "127.0.0.1:8000",
        "ORDERS_GRPC_BIND": "127.0.0.1:50051",
        "PAYMENTS_GRPC_BIND": "127.0.0.1:50052",
        "NOTIFICATIONS_GRPC_BIND": "127.0.0.1:50053",
        "DEV_SMTP_PORT": "1025",
        "GATEWAY_ORDERS_ADDR": "127.0.0.1:50051",
        "GATEWAY_PAYMENTS_ADDR": "127.0.0.1:50052",
        "GATEWAY_NOTIFICATIONS_ADDR": "127.0.0.1:50053",
        "NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
        "NOTIFICATIONS_SMTP_PORT": "1025",
    }
    assert addresses.gateway_url == "http://127.0.0.1:8000/v1"
    assert api_base_url(("the environment", {})).value == "http://127.0.0.1:8000/v1"


def test_the_environment_wins_over_env_file_and_the_callers_follow_the_binds() -> None:
    environment = {"GATEWAY_HTTP_BIND": "0.0.0.0:8100", "ORDERS_GRPC_BIND": "127.0.0.1:6001"}
    dotenv = {
        "ORDERS_GRPC_BIND": "127.0.0.1:7001",
        "PAYMENTS_GRPC_BIND": "[::]:7002",
        "DEV_SMTP_PORT": "2525",
    }

    values = _values(resolve_addresses(("the environment", environment), (".env", dotenv)))

    assert values["GATEWAY_HTTP_BIND"] == ("0.0.0.0:8100", "the environment")
    assert values["ORDERS_GRPC_BIND"] == ("127.0.0.1:6001", "the environment")
    assert values["PAYMENTS_GRPC_BIND"] == ("[::]:7002", ".env")
    assert values["NOTIFICATIONS_GRPC_BIND"] == ("127.0.0.1:50053", "default")
    assert values["GATEWAY_ORDERS_ADDR"] == ("127.0.0.1:6001", "follows ORDERS_GRPC_BIND")
    assert values["GATEWAY_PAYMENTS_ADDR"] == ("[::1]:7002", "follows PAYMENTS_GRPC_BIND")
    assert values["NOTIFICATIONS_SMTP_PORT"] == ("2525", "follows DEV_SMTP_PORT")
    assert api_base_url(("the environment", environment)).value == "http://127.0.0.1:8100/v1"


def test_an_explicit_gateway_address_that_reaches_its_service_is_kept() -> None:
    dotenv = {"ORDERS_GRPC_BIND": "0.0.0.0:6001", "GATEWAY_ORDERS_ADDR": "localhost:6001"}

    values = _values(resolve_addresses((".env", dotenv)))

    assert values["GATEWAY_ORDERS_ADDR"] == ("localhost:6001", ".env")


def test_an_explicit_gateway_address_that_misses_its_service_names_both_settings() -> None:
    # What a .env copied from .env.example gives after only the bind was changed.
    dotenv = {"ORDERS_GRPC_BIND": "127.0.0.1:6001", "GATEWAY_ORDERS_ADDR": "127.0.0.1:50051"}

    with pytest.raises(AddressError) as raised:
        resolve_addresses(("the environment", {}), (".env", dotenv))

    (problem,) = raised.value.problems
    assert (
        "GATEWAY_ORDERS_ADDR=127.0.0.1:50051 (.env) does not reach ORDERS_GRPC_BIND=127.0.0.1:6001" in problem
    )
    assert "Unset GATEWAY_ORDERS_ADDR" in problem


def test_malformed_addresses_are_named_with_their_source() -> None:
    environment = {"GATEWAY_HTTP_BIND": "8000", "DEV_SMTP_PORT": "70000"}

    with pytest.raises(AddressError) as raised:
        resolve_addresses(("the environment", environment))

    assert raised.value.problems == [
        "GATEWAY_HTTP_BIND=8000 (the environment) is not host:port.",
        "DEV_SMTP_PORT=70000 (the environment) is not a port.",
    ]


def test_mail_sent_past_the_sink_on_this_machine_is_pointed_out() -> None:
    local = resolve_addresses((".env", {"NOTIFICATIONS_SMTP_PORT": "2525"}))
    remote = resolve_addresses((".env", {"NOTIFICATIONS_SMTP_HOST": "smtp.example.org"}))

    assert "set DEV_SMTP_PORT=2525 to move the sink" in (local.smtp_warning() or "")
    assert remote.smtp_warning() is None
    assert str(remote.smtp_server) == "smtp.example.org:1025"


def test_ecommerce_base_url_wins_for_clients() -> None:
    dotenv = {"ECOMMERCE_BASE_URL": "http://127.0.0.1:9000/v1/", "GATEWAY_HTTP_BIND": "127.0.0.1:8100"}

    url = api_base_url(("the environment", {}), (".env", dotenv))

    assert (url.value, url.source) == ("http://127.0.0.1:9000/v1", ".env")


def test_a_taken_port_names_the_setting_and_a_free_alternative() -> None:
    with _listening() as port:
        addresses = dataclasses.replace(Ports.free(), gateway_http=port).addresses()
        with pytest.raises(AddressError) as raised:
            check_ports_free(addresses)

    (problem,) = raised.value.problems
    assert problem.startswith(f"GATEWAY_HTTP_BIND=127.0.0.1:{port} (the test's ports): ")
    assert "is already in use" in problem
    assert re.search(r"e\.g\. GATEWAY_HTTP_BIND=127\.0\.0\.1:\d+\.$", problem), problem


def test_two_settings_on_one_port_are_named() -> None:
    ports = Ports.free()
    environment = {"PAYMENTS_GRPC_BIND": f"localhost:{ports.orders_grpc}"}
    addresses = resolve_addresses(("the environment", environment), ("the test's ports", _binds(ports)))

    with pytest.raises(AddressError) as raised:
        check_ports_free(addresses)

    assert raised.value.problems == [
        f"PAYMENTS_GRPC_BIND and ORDERS_GRPC_BIND both use port {ports.orders_grpc}: change one of them."
    ]


# --- make run and make demo as processes ---------------------------------------------------------------


def _environment() -> dict[str, str]:
    """This environment without the settings the test's ``.env`` decides (real variables would win)."""
    decided = {*ADDRESS_SETTINGS, "AMQP_URL", "VAR_DIR", "GATEWAY_JWT_SECRET"}
    return {
        **{k: v for k, v in os.environ.items() if k not in decided and not k.endswith("_DATABASE_URL")},
        "COLUMNS": "200",  # the demo's tables unwrapped
    }


def _env_file(directory: Path, settings: dict[str, str]) -> Path:
    path = directory / "settings.env"
    path.write_text("".join(f"{name}={value}\n" for name, value in settings.items()))
    return path


def _devstack(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def test_a_taken_port_stops_make_run_before_anything_starts(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    with _listening() as port:
        ports = dataclasses.replace(Ports.free(), orders_grpc=port)
        env_file = _env_file(
            tmp_path, {**_binds(ports), "AMQP_URL": CLOSED_AMQP_URL, "VAR_DIR": str(var_dir)}
        )
        result = subprocess.run(
            _devstack("devstack", "run", "--env-file", str(env_file)),
            env=_environment(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode == 2, result
    assert (
        f"ORDERS_GRPC_BIND=127.0.0.1:{port} ({env_file}): 127.0.0.1:{port} is already in use" in result.stderr
    )
    assert "Set ORDERS_GRPC_BIND in .env or the environment to a free address" in result.stderr
    # Nothing started: no broker check, no migration, not even the state directory.
    assert result.stdout == ""
    assert "RabbitMQ" not in result.stderr
    assert not var_dir.exists()


class _Process:
    """A command's output, collected line by line while it runs (so its pipe never fills)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, argv: list[str]) -> _Process:
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=_environment(),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip())

    async def printed(self, text: str) -> None:
        """Until a line with ``text`` is printed; fails if the process exits first."""
        while not any(text in line for line in self.lines):
            assert self.process.returncode is None, "\n".join(self.lines[-100:])
            await asyncio.sleep(0.2)

    async def finish(self) -> int:
        status = await self.process.wait()
        await self._reader
        return status

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


@contextlib.asynccontextmanager
async def _make_run(env_file: Path) -> AsyncIterator[_Process]:
    """``python -m devstack run`` until its stack is up; stopped with Ctrl-C (SIGINT) on exit."""
    stack = await _Process.start(_devstack("devstack", "run", "--env-file", str(env_file)))
    try:
        async with asyncio.timeout(WITHIN):
            await stack.printed("The e-commerce system is up.")
            await stack.printed("Ctrl-C stops everything.")
        yield stack
    finally:
        if stack.process.returncode is None:
            stack.process.send_signal(signal.SIGINT)
        async with asyncio.timeout(WITHIN):
            status = await stack.finish()
    assert status == 0, stack.output[-5000:]
    assert "Stopped: " in stack.output


def _accepts_connections(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def test_make_run_and_make_demo_use_the_ports_of_the_env_file(tmp_path: Path) -> None:
    ports = Ports.free()
    var_dir = tmp_path / "var"
    async with temporary_vhost() as amqp_url:
        settings = {
            **_binds(ports),
            "AMQP_URL": amqp_url,
            "VAR_DIR": str(var_dir),
            "NOTIFICATIONS_MAILER_POLL_SECONDS": "0.2",
        }
        env_file = _env_file(tmp_path, settings)
        async with _make_run(env_file) as stack:
            listening = {port: _accepts_connections(port) for port in dataclasses.astuple(ports)}
            demo = await _Process.start(_devstack("devstack.demo", "--env-file", str(env_file)))
            async with asyncio.timeout(WITHIN):
                demo_status = await demo.finish()

    gateway = f"http://127.0.0.1:{ports.gateway_http}/v1"
    # make run used the ports of the file, said so, and every process listened on its own.
    assert listening == dict.fromkeys(dataclasses.astuple(ports), True)
    for name in BINDS_AND_SINK:
        row = rf"^\s+{name}\s+{re.escape(settings[name])}\s+{re.escape(str(env_file))}$"
        assert re.search(row, stack.output, re.M), name
    assert re.search(
        rf"^\s+GATEWAY_ORDERS_ADDR\s+127.0.0.1:{ports.orders_grpc}\s+follows", stack.output, re.M
    )
    assert f"REST API      {gateway}" in stack.output
    assert f"the dev mail sink on 127.0.0.1:{ports.smtp}" in stack.output
    assert f"Try `python -m devstack.demo --env-file {env_file}` in another shell" in stack.output
    # The demo found the gateway from the same settings, and the saga ran through every service.
    assert demo_status == 0, demo.output
    assert f"The API: {gateway} (follows GATEWAY_HTTP_BIND)" in demo.output
    assert "the saga settled it: PAID" in demo.output
    assert "the saga settled it: CANCELLED (payment_declined)" in demo.output
    assert len(re.findall(r"│ SENT\s+│", demo.output)) == 5, demo.output
    # ... and the notification service mailed the sink on DEV_SMTP_PORT, which kept the messages.
    assert len(list((var_dir / "mail").glob("*.eml"))) == 5
    assert f"The messages themselves are .eml files in {var_dir / 'mail'}" in demo.output

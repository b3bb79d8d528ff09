"""``python -m gateway`` as a process: a bad setting exits 2 with a clear message, ``migrate`` prepares
the user store, ``serve`` answers HTTP with JSON logs and stops gracefully (exit 0) on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from gateway_fakes import SECRET

from gateway.__main__ import main

HANG_GUARD_S = 120  # a slow, shared machine imports slowly; this only turns a hang into a failure


def _environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({"VAR_DIR": str(tmp_path / "var"), "GATEWAY_JWT_SECRET": SECRET, **settings})
    return {k: v for k, v in env.items() if v}


def _run(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env=_environment(tmp_path, **settings),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
        check=False,
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"GATEWAY_JWT_SECRET": ""}, "GATEWAY_JWT_SECRET: Field required"),
        ({"GATEWAY_JWT_SECRET": "too-short"}, "GATEWAY_JWT_SECRET: Value error, must be at least 32 bytes"),
        ({"GATEWAY_MAX_BODY_BYTES": "lots"}, "GATEWAY_MAX_BODY_BYTES: Input should be a valid integer"),
        (
            {"GATEWAY_GRPC_DEADLINE_SECONDS": "0"},
            "GATEWAY_GRPC_DEADLINE_SECONDS: Input should be greater than 0",
        ),
        ({"GATEWAY_ORDERS_ADDR": "orders"}, "GATEWAY_ORDERS_ADDR: String should match pattern"),
        (
            {"GATEWAY_ADMIN_EMAIL": "root@example.com"},
            "set both GATEWAY_ADMIN_EMAIL and GATEWAY_ADMIN_PASSWORD",
        ),
    ],
)
def test_a_bad_setting_exits_2_naming_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    settings: dict[str, str],
    message: str,
) -> None:
    for name in [k for k in os.environ if k.startswith("GATEWAY_")]:
        monkeypatch.delenv(name)
    for name, value in _environment(tmp_path, **settings).items():
        monkeypatch.setenv(name, value)
    assert main(["migrate"]) == 2  # refused before anything starts: in-process is enough
    stderr = capsys.readouterr().err
    assert stderr.startswith("gateway: invalid configuration:")
    assert message in stderr
    for secret in (SECRET, "too-short", "hunter2"):
        assert secret not in stderr  # secrets are never echoed


def test_migrate_creates_the_user_store(tmp_path: Path) -> None:
    result = _run(tmp_path, "migrate")
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "var" / "gateway.db") as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"users", "alembic_version"} <= tables


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_answers_and_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve"],
        env=_environment(tmp_path, GATEWAY_HTTP_BIND=f"127.0.0.1:{port}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + HANG_GUARD_S
        while True:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/v1/healthz", headers={"X-Request-ID": "probe-1"}, timeout=5
                )
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "the gateway did not start listening"
                time.sleep(0.2)
        assert response.json() == {"status": "ok"}
        assert response.headers["x-request-id"] == "probe-1"
        missing = httpx.get(
            f"http://127.0.0.1:{port}/v1/nope", headers={"X-Request-ID": "probe-2"}, timeout=5
        )
        assert missing.headers["content-type"] == "application/problem+json"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=HANG_GUARD_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    access = [r for r in records if r.get("logger") == "gateway.access"]
    assert [(r["request_id"], r["status"]) for r in access] == [("probe-1", 200), ("probe-2", 404)]
    answered = [r for r in records if r["message"].startswith("answered 404")]
    assert answered[0]["request_id"] == "probe-2"  # every line written during a request names it
    assert any("shutting down gracefully" in r["message"] for r in records)

"""``python -m orders`` as an operator runs it: starts, serves, stops cleanly on SIGTERM; refuses a bad
configuration with a message that names the setting."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(tmp_path: Path, vhost_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "VAR_DIR": str(tmp_path / "var"),
        "AMQP_URL": vhost_url,
        "LOG_LEVEL": "INFO",
        **extra,
    }


async def test_the_service_serves_then_stops_gracefully_on_sigterm(tmp_path: Path, vhost_url: str) -> None:
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orders",
        env=_env(tmp_path, vhost_url, ORDERS_GRPC_BIND=f"127.0.0.1:{port}"),
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health: object = health_pb2_grpc.HealthStub(channel)
            async with asyncio.timeout(30):
                while True:
                    try:
                        reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)  # type: ignore[attr-defined]
                        if reply.status == health_pb2.HealthCheckResponse.SERVING:
                            break
                    except grpc.aio.AioRpcError:
                        await asyncio.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            _, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert process.returncode == 0, stderr.decode()
    logs = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    messages = [entry["message"] for entry in logs]
    assert "received SIGTERM; shutting down gracefully" in messages
    assert "gRPC server stopped" in messages
    assert any(m.startswith("outbox relay stopped") for m in messages)
    assert all(entry["service"] == "orders" for entry in logs)
    assert (tmp_path / "var" / "orders.db").exists()


async def test_a_bad_setting_stops_the_service_with_a_message_naming_it(
    tmp_path: Path, vhost_url: str
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orders",
        env=_env(tmp_path, vhost_url, ORDERS_IDEMPOTENCY_RETENTION_HOURS="2"),
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    assert process.returncode == 2
    assert (
        "ORDERS_IDEMPOTENCY_RETENTION_HOURS: Input should be greater than or equal to 24" in stderr.decode()
    )

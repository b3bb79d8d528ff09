"""``python -m payments`` as an operator runs it: it migrates, serves, and stops gracefully on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

CLOSED_PORT_URL = "amqp://guest:guest@127.0.0.1:1/"  # queries need no broker; it keeps retrying meanwhile


async def _log_until(
    stream: asyncio.StreamReader, message: str, seen: list[dict[str, Any]]
) -> dict[str, Any]:
    async with asyncio.timeout(60):  # only turns a hang into a failure (a cold start imports a lot)
        while line := await stream.readline():
            entry: dict[str, Any] = json.loads(line)
            seen.append(entry)
            if entry["message"] == message:
                return entry
    raise AssertionError(f"the service exited without logging {message!r}: {seen}")


async def test_the_service_serves_and_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "VAR_DIR": str(tmp_path),
        "AMQP_URL": CLOSED_PORT_URL,
        "PAYMENTS_GRPC_BIND": "127.0.0.1:0",
        "PAYMENTS_SHUTDOWN_GRACE_SECONDS": "1",
    }
    env.pop("PAYMENTS_DATABASE_URL", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "payments", "serve", env=env, stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    logs: list[dict[str, Any]] = []
    try:
        ready = await _log_until(process.stderr, "payment service ready", logs)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{ready['grpc_port']}") as channel:
            health: Any = health_pb2_grpc.HealthStub(channel)  # the stubs' types describe sync channels only
            api = await health.Check(
                health_pb2.HealthCheckRequest(service="ecommerce.payments.v1.PaymentService")
            )
            assert api.status == health_pb2.HealthCheckResponse.SERVING
            # Not ready as a whole: the broker (a closed port here) is unreachable, so nothing is consumed.
            whole = await health.Check(health_pb2.HealthCheckRequest(service=""))
            assert whole.status == health_pb2.HealthCheckResponse.NOT_SERVING

        process.send_signal(signal.SIGTERM)
        await _log_until(process.stderr, "gRPC server stopped", logs)
        async with asyncio.timeout(30):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert (tmp_path / "payments.db").exists()  # the embedded default: SQLite under VAR_DIR
    assert any(entry["message"] == "received SIGTERM; shutting down gracefully" for entry in logs)
    assert all(entry["service"] == "payments" for entry in logs)

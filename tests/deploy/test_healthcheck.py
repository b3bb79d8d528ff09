"""deployments/docker/healthcheck.py, the images' HEALTHCHECK, against real gRPC and HTTP servers."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator

import grpc
import pytest
from deploy_checks import DOCKER
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

SCRIPT = DOCKER / "healthcheck.py"
SERVICE = "ecommerce.orders.v1.OrderService"


async def check(*args: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        *args,
        env={"PATH": os.environ.get("PATH", ""), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stderr.decode()


@pytest.fixture
async def health_server() -> AsyncIterator[tuple[health.aio.HealthServicer, int]]:
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield servicer, port
    await server.stop(None)


async def test_grpc_ready_only_when_the_whole_server_serves(
    health_server: tuple[health.aio.HealthServicer, int],
) -> None:
    servicer, port = health_server
    env = {"ORDERS_GRPC_BIND": f"0.0.0.0:{port}"}  # a wildcard bind is checked on the loopback
    await servicer.set(SERVICE, health_pb2.HealthCheckResponse.SERVING)
    await servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    status, stderr = await check("grpc", "ORDERS_GRPC_BIND", env=env)
    assert (status, "NOT_SERVING" in stderr) == (1, True)
    assert await check("grpc", "ORDERS_GRPC_BIND", SERVICE, env=env) == (0, "")

    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert await check("grpc", "ORDERS_GRPC_BIND", env=env) == (0, "")

    status, stderr = await check("grpc", "ORDERS_GRPC_BIND", "ecommerce.unknown.v1.X", env=env)
    assert (status, "NOT_FOUND" in stderr) == (1, True)


async def test_grpc_nothing_listening_is_unhealthy() -> None:
    status, stderr = await check("grpc", "ORDERS_GRPC_BIND", env={"ORDERS_GRPC_BIND": "127.0.0.1:9"})
    assert status == 1
    assert "UNAVAILABLE" in stderr


async def serve_http(status: int) -> tuple[asyncio.Server, int]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False), (404, False)])
async def test_http_only_200_is_healthy(status: int, healthy: bool) -> None:
    server, port = await serve_http(status)
    async with server:
        code, stderr = await check(
            "http", "GATEWAY_HTTP_BIND", "/v1/readyz", env={"GATEWAY_HTTP_BIND": f"0.0.0.0:{port}"}
        )
    assert code == (0 if healthy else 1)
    assert healthy or str(status) in stderr


async def test_http_nothing_listening_is_unhealthy() -> None:
    code, _ = await check(
        "http", "GATEWAY_HTTP_BIND", "/v1/healthz", env={"GATEWAY_HTTP_BIND": "127.0.0.1:9"}
    )
    assert code == 1


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (("grpc", "ORDERS_GRPC_BIND"), {}, (1, "ORDERS_GRPC_BIND is not set")),
        (("grpc", "ORDERS_GRPC_BIND"), {"ORDERS_GRPC_BIND": "nonsense"}, (1, "not a host:port")),
        (("http", "GATEWAY_HTTP_BIND"), {}, (2, "usage")),
        (("tcp", "X"), {}, (2, "usage")),
    ],
)
async def test_bad_invocations_say_why(
    args: tuple[str, ...], env: dict[str, str], expected: tuple[int, str]
) -> None:
    code, stderr = await check(*args, env=env)
    assert (code, expected[1] in stderr) == (expected[0], True)

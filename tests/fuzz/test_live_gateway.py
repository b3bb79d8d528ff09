"""Contract fuzzing of the live system: Schemathesis against the gateway of the whole stack (processes,
RabbitMQ, SQLite), with a real customer's token, every check, every phase including the stateful one
(the spec's links), and a fixed seed. Zero failures is the only pass."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from e2e_stack import running_stack

CONFIG = Path(__file__).with_name("schemathesis.toml")
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def base_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with running_stack(tmp_path_factory.mktemp("var"), "sqlite") as stack:
        yield stack.base_url


async def test_schemathesis_finds_nothing_against_the_live_gateway(base_url: str) -> None:
    credentials = {"email": f"fuzz-{uuid.uuid4().hex[:8]}@example.com", "password": secrets.token_urlsafe(16)}
    async with httpx.AsyncClient(base_url=base_url) as http:
        assert (await http.post("/auth/register", json=credentials)).status_code == 201
        token = (await http.post("/auth/token", json=credentials)).json()["access_token"]

    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--header",
        f"Authorization: Bearer {token}",
        "--request-timeout",
        "30",
        "--no-color",
    ]
    # Awaited, not run blocking: the stack's log pumps must keep running on this event loop.
    result = await _run(command)
    print(result.stdout[-20000:])
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
    assert "No issues found" in result.stdout or "passed" in result.stdout


async def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await process.communicate()
    return subprocess.CompletedProcess(command, process.returncode or 0, stdout.decode(), stderr.decode())

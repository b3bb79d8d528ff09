"""Each image's build stage replayed on this machine -- the files .dockerignore lets through, the
Dockerfile's ENV and its `uv sync` commands, into a clean directory -- and the result used the way the
image would be: `--help`, `migrate`, `serve` with its HEALTHCHECK, SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from deploy_checks import (
    BIND_VARIABLE,
    GATEWAY_ADDRESS_VARIABLE,
    GRPC_HEALTH_NAME,
    GRPC_SERVICES,
    SERVICES,
    BuiltImage,
    build_like_dockerfile,
    installed_distributions,
    isolation_problems,
)

JWT_SECRET = "deploy-test-" + "k" * 40


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuiltImage]:
    """The four build stages, replayed side by side (uv's cache makes a repeated sync take seconds)."""
    root = tmp_path_factory.mktemp("images")
    with ThreadPoolExecutor(max_workers=len(SERVICES)) as pool:
        futures = {
            service: pool.submit(build_like_dockerfile, service, root / service) for service in SERVICES
        }
        return {service: future.result() for service, future in futures.items()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def image_env(image: BuiltImage, **overrides: str) -> dict[str, str]:
    """What a container of the image starts with: the image's ENV and nothing of this machine's (but
    HOME and the locale), plus ``overrides``."""
    env = {key: os.environ[key] for key in ("HOME", "LANG", "LC_ALL") if key in os.environ}
    env.update(image.env)
    env.update(overrides)
    return env


def run(argv: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=timeout)


@pytest.mark.parametrize("service", SERVICES)
def test_the_environment_holds_only_the_service(images: dict[str, BuiltImage], service: str) -> None:
    image = images[service]
    assert isolation_problems(service, installed_distributions(image.python())) == []
    where = run([image.python(), "-c", f"import {service}; print({service}.__file__)"], image_env(image))
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(image.venv), "installed editable, not as a wheel"


def test_the_isolation_check_sees_a_shared_environment() -> None:
    problems = isolation_problems("orders", installed_distributions(sys.executable))  # the dev workspace
    assert "ecommerce-payments is installed too" in problems
    assert "dev tool pytest is installed" in problems


@pytest.mark.parametrize("service", SERVICES)
def test_the_entrypoint_answers_help(images: dict[str, BuiltImage], service: str) -> None:
    image = images[service]
    result = run([*image.entrypoint, "--help"], image_env(image))
    assert result.returncode == 0, result.stderr
    assert f"python -m {service}" in result.stdout
    assert "migrate" in result.stdout


@pytest.mark.parametrize("service", SERVICES)
def test_migrate_works_from_the_installed_wheels(
    images: dict[str, BuiltImage], service: str, tmp_path: Path
) -> None:
    """The wheels carry what the migrations need (Alembic scripts, the catalog, the spec path)."""
    image = images[service]
    env = image_env(image, VAR_DIR=str(tmp_path), GATEWAY_JWT_SECRET=JWT_SECRET)
    result = run([*image.entrypoint, "migrate"], env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / f"{service}.db").is_file()


@contextlib.contextmanager
def serving(image: BuiltImage, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [*image.entrypoint, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def wait_for_exit_status(command: list[str], env: dict[str, str], status: int, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while True:
        result = run(command, env, timeout=30)
        if result.returncode == status:
            return
        assert time.monotonic() < deadline, f"{command}: exit {result.returncode}, {result.stderr}"
        time.sleep(0.3)


@pytest.mark.parametrize("service", SERVICES)
def test_the_healthcheck_tells_a_running_service_from_a_ready_one(
    images: dict[str, BuiltImage], service: str, tmp_path: Path
) -> None:
    """Started from its image with no broker (and, for the gateway, no services) to reach, a service is
    up -- what liveness probes ask -- but not ready, which is what the image's HEALTHCHECK (and Compose,
    and the readiness probes) ask; SIGTERM then stops it cleanly."""
    image = images[service]
    port = free_port()
    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens there
    overrides = {
        "VAR_DIR": str(tmp_path),
        BIND_VARIABLE[service]: f"127.0.0.1:{port}",
        "AMQP_URL": f"amqp://guest:guest@{nowhere}/",
        "GATEWAY_JWT_SECRET": JWT_SECRET,
        "NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
        "NOTIFICATIONS_SMTP_PORT": nowhere.rpartition(":")[2],
        **dict.fromkeys(GATEWAY_ADDRESS_VARIABLE.values(), nowhere),
    }
    env = image_env(image, **overrides)
    healthcheck = image.healthcheck
    if service in GRPC_SERVICES:
        alive = [*healthcheck, GRPC_HEALTH_NAME[service]]
        not_ready = "NOT_SERVING"
    else:
        alive = [*healthcheck[:-1], "/v1/healthz"]
        not_ready = "503"
    with serving(image, env) as process:
        wait_for_exit_status(alive, env, 0)
        ready = run(healthcheck, env)
        assert ready.returncode == 1, ready.stderr
        assert not_ready in ready.stderr
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr[-2000:]

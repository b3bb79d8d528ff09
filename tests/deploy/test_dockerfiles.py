"""The service images: each Dockerfile read with BuildKit's parser and linted by hadolint, and the build
context its COPYs need let through by .dockerignore (no Docker engine runs here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_checks import (
    DOCKER,
    DOCKERIGNORE,
    SERVICES,
    dockerfile_problems,
    dockerignore_patterns,
    dockerignore_problems,
    hadolint,
    is_ignored,
    parse_dockerfile,
    parse_dockerfile_text,
)


@pytest.mark.parametrize("service", SERVICES)
def test_the_dockerfile_builds_the_service_it_is_named_after(service: str) -> None:
    assert dockerfile_problems(parse_dockerfile(DOCKER / f"{service}.Dockerfile"), service) == []


@pytest.mark.parametrize("service", SERVICES)
def test_hadolint_finds_nothing(service: str) -> None:
    result = hadolint(DOCKER / f"{service}.Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_rejects_a_careless_dockerfile(tmp_path: Path) -> None:
    careless = tmp_path / "careless.Dockerfile"
    careless.write_text(
        "FROM python:latest\nRUN apt-get update && apt-get install -y curl\nRUN pip install uv\n"
    )
    result = hadolint(careless)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3013"):  # `latest`, unpinned apt and pip packages
        assert rule in result.stdout


# (what is changed in orders.Dockerfile, replaced by, the problem dockerfile_problems must name)
BROKEN = [
    ("USER 10001:10001", "USER root", "not a numeric non-root UID"),
    ("USER 10001:10001", "USER 0", "not a numeric non-root UID"),
    ("uv==0.13.9", "uv==0.1.0", "does not install uv=="),
    ("--no-editable --package ecommerce-orders", "--package ecommerce-orders", "lacks --no-editable"),
    ("--package ecommerce-orders\n\n", "--package ecommerce-payments\n\n", "does not install only --package"),
    ("EXPOSE 50051", "EXPOSE 50052", "EXPOSE [50052] but the service binds 50051"),
    ("ORDERS_GRPC_BIND=0.0.0.0:50051", "ORDERS_GRPC_BIND=127.0.0.1:50051", "not reachable from outside"),
    ('"grpc", "ORDERS_GRPC_BIND"]', '"grpc", "PAYMENTS_GRPC_BIND"]', "HEALTHCHECK CMD"),
    ('ENTRYPOINT ["python", "-m", "orders"]', "ENTRYPOINT python -m orders", "ENTRYPOINT"),
    ("COPY --from=build /app/.venv /app/.venv", "COPY --from=build /src /src", "only the venv"),
    ("FROM ${PYTHON_IMAGE} AS runtime", "FROM python:3.12-slim AS runtime", "different images"),
    (
        "ARG PYTHON_IMAGE=python:3.11-slim-bookworm",
        "ARG PYTHON_IMAGE=python:3.11-alpine",
        "is not python:3.11",
    ),
]


@pytest.mark.parametrize(("old", "new", "problem"), BROKEN, ids=[new for _, new, _ in BROKEN])
def test_the_dockerfile_check_rejects_a_broken_image(old: str, new: str, problem: str) -> None:
    path = DOCKER / "orders.Dockerfile"
    text = path.read_text()
    assert old in text
    problems = dockerfile_problems(parse_dockerfile_text(text.replace(old, new, 1), path), "orders")
    assert any(problem in p for p in problems), problems


def test_the_dockerfile_check_refuses_a_second_copy_of_the_spec() -> None:
    path = DOCKER / "gateway.Dockerfile"
    healthcheck = "COPY deployments/docker/healthcheck.py /app/healthcheck.py"
    text = path.read_text()
    assert healthcheck in text
    text = text.replace(healthcheck, f"{healthcheck}\nCOPY specs/openapi.yaml /app/openapi.yaml", 1)
    problems = dockerfile_problems(parse_dockerfile_text(text, path), "gateway")
    assert any("copies from specs/" in p for p in problems), problems


def test_the_build_context_has_what_the_images_copy_and_nothing_private() -> None:
    parsed = [parse_dockerfile(DOCKER / f"{service}.Dockerfile") for service in SERVICES]
    assert dockerignore_problems(parsed, dockerignore_patterns(DOCKERIGNORE.read_text())) == []


@pytest.mark.parametrize(
    ("extra_line", "problem"),
    [
        ("uv.lock", "leaves out uv.lock"),
        ("services/runtime", "leaves out services/runtime"),
        ("sdk/pyproject.toml", "leaves out sdk/pyproject.toml"),
        ("!.env", "lets .env into the build context"),
        ("!deployments", "lets deployments/k8s/overlays/dev/secrets/gateway.env into the build context"),
        ("!services/*/tests", "lets services/orders/tests/unit/test_domain.py into"),
    ],
)
def test_the_dockerignore_check_rejects_a_context_that_misses_or_leaks(extra_line: str, problem: str) -> None:
    parsed = [parse_dockerfile(DOCKER / f"{service}.Dockerfile") for service in SERVICES]
    patterns = dockerignore_patterns(DOCKERIGNORE.read_text() + f"\n{extra_line}\n")
    problems = dockerignore_problems(parsed, patterns)
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        ("README.md", True),
        ("uv.lock", False),
        ("services/orders/src/orders/domain.py", False),
        ("services/orders/tests/unit/test_domain.py", True),
        ("services/orders/src/orders/__pycache__/domain.cpython-311.pyc", True),
        ("sdk/pyproject.toml", False),
        ("sdk/src/ecommerce_sdk/__init__.py", True),
        ("specs/openapi.yaml", True),
        ("specs/asyncapi.yaml", True),
        ("generated/contracts/src/ecommerce/orders/v1/orders_pb2.py", False),
    ],
)
def test_dockerignore_patterns_read_like_docker_reads_them(path: str, ignored: bool) -> None:
    assert is_ignored(path, dockerignore_patterns(DOCKERIGNORE.read_text())) is ignored


def test_dockerignore_matching_follows_docker_rules() -> None:
    patterns = dockerignore_patterns("*\n!a\na/*/x\n!a/keep/x\n**/*.tmp\n# comment\n/b/c?\n")
    assert is_ignored("z", patterns)
    assert not is_ignored("a/y", patterns)
    assert is_ignored("a/one/x/deep", patterns)  # a pattern matching a folder leaves out what is in it
    assert not is_ignored("a/keep/x", patterns)
    assert is_ignored("a/y.tmp", patterns)
    assert is_ignored("b/cd", patterns)

"""Where the deployment files are, which services the repository deploys, and the Kubernetes versions and
overlays the manifests are checked at; plus reading YAML files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
DEPLOYMENTS = ROOT / "deployments"
DOCKER = DEPLOYMENTS / "docker"
COMPOSE_FILE = DEPLOYMENTS / "compose.yaml"
K8S = DEPLOYMENTS / "k8s"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
OPENAPI = ROOT / "specs" / "openapi.yaml"

SERVICES = ("orders", "payments", "notifications", "gateway")
GRPC_SERVICES = ("orders", "payments", "notifications")
CONSUMERS = GRPC_SERVICES  # the services on the broker

# Kubernetes versions the rendered manifests are validated against: the oldest supported (native gRPC
# probes are GA since 1.27, the PodDisruptionBudget and HPA versions used since 1.23) and the newest
# kubernetes-validate ships schemas for.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
OVERLAYS = ("dev", "prod")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]

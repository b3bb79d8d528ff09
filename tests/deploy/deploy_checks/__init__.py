"""Checks of the deployment files (``deployments/``, ``.dockerignore``) against the code they deploy.

Each ``*_problems`` function returns the problems it finds as sentences (empty: none), so a test asserts
``== []`` on the real files and, fed a broken copy, that the problem is reported -- every checker is shown
to be able to fail. What the services really do comes from the code, not from copies of it
(``code_facts``): the settings classes (names, defaults, prefixes), the generated gRPC descriptors (health
names), ``specs/openapi.yaml`` (probe paths) and ``.env.example``.

No Docker engine runs here: the Dockerfiles are parsed with BuildKit's own parser (``dockerfiles``), linted
with hadolint, and their build stage is replayed on this machine (``image_build``: same files through the
same ``.dockerignore``, same environment, same uv commands). Kubernetes manifests are rendered with
``kubectl kustomize`` (``k8s_render``) and validated with kubernetes-validate (strict) at fixed Kubernetes
versions (``k8s_schemas``).

This package re-exports what the tests in ``tests/deploy`` use.
"""

from __future__ import annotations

from .code_facts import BIND_VARIABLE, GATEWAY_ADDRESS_VARIABLE, GRPC_HEALTH_NAME, split_address
from .compose import compose_env_problems, compose_schema_problems, compose_wiring_problems
from .compose_interpolation import InterpolationError, compose_variables, interpolate_string
from .dockerfiles import dockerfile_problems, hadolint, parse_dockerfile, parse_dockerfile_text
from .dockerignore import dockerignore_patterns, dockerignore_problems, is_ignored
from .image_build import BuiltImage, build_like_dockerfile, installed_distributions, isolation_problems
from .k8s_custom_resources import custom_resource_problems
from .k8s_env import container_env, env_problems
from .k8s_network import network_problems
from .k8s_pods import connection_budget_problems, lifecycle_problems, probe_problems, security_problems
from .k8s_references import external_references, reference_problems
from .k8s_render import RenderError, main_container, named, objects, pod_spec, render_overlay, the
from .k8s_schemas import kubernetes_schema_problems
from .repository import (
    COMPOSE_FILE,
    DEPLOYMENTS,
    DOCKER,
    DOCKERIGNORE,
    GRPC_SERVICES,
    K8S,
    KUBERNETES_VERSIONS,
    OVERLAYS,
    SERVICES,
    load_yaml,
)

__all__ = [
    "BIND_VARIABLE",
    "COMPOSE_FILE",
    "DEPLOYMENTS",
    "DOCKER",
    "DOCKERIGNORE",
    "GATEWAY_ADDRESS_VARIABLE",
    "GRPC_HEALTH_NAME",
    "GRPC_SERVICES",
    "K8S",
    "KUBERNETES_VERSIONS",
    "OVERLAYS",
    "SERVICES",
    "BuiltImage",
    "InterpolationError",
    "RenderError",
    "build_like_dockerfile",
    "compose_env_problems",
    "compose_schema_problems",
    "compose_variables",
    "compose_wiring_problems",
    "connection_budget_problems",
    "container_env",
    "custom_resource_problems",
    "dockerfile_problems",
    "dockerignore_patterns",
    "dockerignore_problems",
    "env_problems",
    "external_references",
    "hadolint",
    "installed_distributions",
    "interpolate_string",
    "is_ignored",
    "isolation_problems",
    "kubernetes_schema_problems",
    "lifecycle_problems",
    "load_yaml",
    "main_container",
    "named",
    "network_problems",
    "objects",
    "parse_dockerfile",
    "parse_dockerfile_text",
    "pod_spec",
    "probe_problems",
    "reference_problems",
    "render_overlay",
    "security_problems",
    "split_address",
    "the",
]

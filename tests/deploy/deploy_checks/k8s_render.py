"""The Kubernetes manifests rendered with ``kubectl kustomize`` (each overlay once per session, every caller
getting its own copy), and finding objects in the render: by kind and name, the service Deployments, their
pod specs and main containers."""

from __future__ import annotations

import copy
import functools
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .repository import K8S, SERVICES, load_yaml_documents


class RenderError(RuntimeError):
    pass


def render_overlay(overlay: str, k8s: Path, *, make_secrets: bool = True) -> list[dict[str, Any]]:
    """``kubectl kustomize`` of a copy of ``k8s`` (the dev overlay's secrets generated in the copy)."""
    with tempfile.TemporaryDirectory(prefix="k8s-render-") as tmp:
        copied = Path(tmp) / "k8s"
        shutil.copytree(k8s, copied, ignore=shutil.ignore_patterns("secrets", "__pycache__"))
        script = copied / "overlays" / overlay / "generate_secrets.py"
        if make_secrets and script.exists():
            subprocess.run([sys.executable, str(script)], check=True, capture_output=True, timeout=60)
        result = subprocess.run(
            ["kubectl", "kustomize", str(copied / "overlays" / overlay)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    if result.returncode != 0:
        raise RenderError(result.stderr.strip())
    return load_yaml_documents(result.stdout)


@functools.cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    """The overlay as rendered from the repository (cached: every test gets its own deep copy)."""
    return tuple(render_overlay(overlay, K8S))


def objects(overlay: str) -> list[dict[str, Any]]:
    return copy.deepcopy(list(rendered(overlay)))


def kind_of(obj: Mapping[str, Any]) -> tuple[str, str]:
    return str(obj.get("apiVersion")), str(obj.get("kind"))


def named(objs: Iterable[Mapping[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        dict(o)
        for o in objs
        if o.get("kind") == kind and (name is None or (o.get("metadata") or {}).get("name") == name)
    ]


def the(objs: Iterable[Mapping[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = named(objs, kind, name)
    if len(found) != 1:
        raise KeyError(f"{len(found)} {kind}/{name}")
    return found[0]


def pod_spec(deployment: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def service_deployments(objs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: the(objs, "Deployment", name) for name in SERVICES}


def main_container(deployment: Mapping[str, Any]) -> dict[str, Any]:
    name = deployment["metadata"]["name"]
    containers = [c for c in pod_spec(deployment)["containers"] if c["name"] == name]
    if len(containers) != 1:
        raise KeyError(f"Deployment/{name}: no container named {name}")
    return dict(containers[0])

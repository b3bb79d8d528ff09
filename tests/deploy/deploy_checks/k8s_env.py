"""The environment a container starts with, worked out from the rendered ConfigMaps, Secrets and ``env``
entries, and the check that every variable a service gets is a real setting and none points at the pod
itself."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .code_facts import (
    DATABASE_VARIABLE,
    all_setting_names,
    env_example,
    points_at_loopback,
    used_settings,
)
from .k8s_render import main_container, named, pod_spec, service_deployments
from .repository import CONSUMERS


def container_env(container: Mapping[str, Any], objs: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The environment a container starts with, as far as the manifests fix it: ConfigMaps (envFrom,
    configMapKeyRef) resolved from the render, Secret values as ``<secret:NAME/KEY>``, ``$(VAR)`` expanded
    like the kubelet does (from variables defined before)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            maps = named(objs, "ConfigMap", name)
            for config_map in maps:
                env.update({str(k): str(v) for k, v in (config_map.get("data") or {}).items()})
            if not maps:  # created by whoever deploys: the keys docs/deploy.md asks for
                env.update(
                    {key: f"<configmap:{name}/{key}>" for key in EXTERNAL_CONFIG_MAP_KEYS.get(name, ())}
                )
        elif "secretRef" in source:
            for secret in named(objs, "Secret", source["secretRef"]["name"]):
                env.update(
                    {str(k): f"<secret:{secret['metadata']['name']}/{k}>" for k in secret_keys(secret)}
                )
    for variable in container.get("env") or []:
        if "value" in variable:
            env[variable["name"]] = re.sub(
                r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), str(variable["value"])
            )
        elif "configMapKeyRef" in (variable.get("valueFrom") or {}):
            ref = variable["valueFrom"]["configMapKeyRef"]
            maps = named(objs, "ConfigMap", ref["name"])
            env[variable["name"]] = str((maps[0].get("data") or {}).get(ref["key"], "")) if maps else ""
        elif "secretKeyRef" in (variable.get("valueFrom") or {}):
            ref = variable["valueFrom"]["secretKeyRef"]
            env[variable["name"]] = f"<secret:{ref['name']}/{ref['key']}>"
    return env


# ConfigMaps an overlay leaves to whoever deploys it, and the keys docs/deploy.md says they hold.
EXTERNAL_CONFIG_MAP_KEYS = {
    "ecommerce-smtp": ("NOTIFICATIONS_SMTP_HOST", "NOTIFICATIONS_SMTP_PORT", "NOTIFICATIONS_SMTP_TLS"),
}


def secret_keys(secret: Mapping[str, Any]) -> set[str]:
    return set(secret.get("data") or {}) | set(secret.get("stringData") or {})


def env_helpers(container: Mapping[str, Any]) -> set[str]:
    """Variables a container defines only to compose others with ``$(NAME)`` (secret parts of URLs)."""
    used = set()
    for variable in container.get("env") or []:
        used.update(re.findall(r"\$\((\w+)\)", str(variable.get("value", ""))))
    return used


def env_problems(objs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every variable a service container gets is a setting (or a part of a composed one), ConfigMap
    keys are documented in .env.example, and the init container gets the same settings."""
    problems: list[str] = []
    settings = all_setting_names()
    documented = set(env_example())
    for config_map in named(objs, "ConfigMap"):
        if config_map["metadata"]["name"].startswith(("ecommerce-config", "ecommerce-smtp")):
            for key in sorted(set(config_map.get("data") or {}) - documented):
                problems.append(f"ConfigMap/{config_map['metadata']['name']}: {key} is not in .env.example")
    for service, deployment in service_deployments(objs).items():
        container = main_container(deployment)
        helpers = env_helpers(container)
        for variable in container.get("env") or []:
            name = variable["name"]
            if name not in settings and name not in helpers:
                problems.append(f"{service}: {name} is neither a setting nor used by one")
            if name in helpers and name in settings:
                problems.append(f"{service}: helper {name} is also a setting")
        own = used_settings(service)
        env = container_env(container, objs)
        if DATABASE_VARIABLE[service] not in env:
            problems.append(f"{service}: {DATABASE_VARIABLE[service]} unset: SQLite in an emptyDir")
        if service in CONSUMERS and "AMQP_URL" not in env:
            problems.append(f"{service}: AMQP_URL unset: the loopback broker")
        for name in sorted(own):
            default = env_example().get(name, ("", True))[0]
            if name not in env and points_at_loopback(default):
                problems.append(f"{service}: {name} unset: the default {default} is the pod itself")
            if points_at_loopback(env.get(name, "")):
                problems.append(f"{service}: {name}={env[name]} points at the pod itself")
        inits = [c for c in pod_spec(deployment).get("initContainers") or [] if c["name"] == "migrate"]
        if len(inits) != 1:
            problems.append(f"{service}: no migrate init container")
            continue
        init = inits[0]
        if init.get("image") != container.get("image") or init.get("args") != ["migrate"]:
            problems.append(f"{service}: the init container does not run `migrate` in the service's image")
        if container_env(init, objs) != env:
            problems.append(f"{service}: the init container gets other settings than the service")
    return problems

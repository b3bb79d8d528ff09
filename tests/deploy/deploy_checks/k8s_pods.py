"""Checks of what the service pods get: probes that ask what the services serve, a locked-down security
context, a grace period that covers the graceful stop, and database connections that fit at full scale."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .code_facts import (
    BIND_VARIABLE,
    GRPC_HEALTH_NAME,
    SETTINGS,
    WILDCARD_HOSTS,
    openapi_paths,
    pool_connections,
    shutdown_grace_seconds,
    split_address,
)
from .dockerfiles import parse_dockerfile
from .k8s_env import container_env
from .k8s_render import main_container, named, pod_spec, service_deployments, the
from .repository import DOCKER, GRPC_SERVICES, SERVICES


def probe_problems(objs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each probe asks what the service really serves: the port of the bind setting the container gets
    (and the containerPort and the Service's target), the gRPC health names the service registers, the
    gateway paths of specs/openapi.yaml."""
    problems: list[str] = []
    paths = openapi_paths()
    for service, deployment in service_deployments(objs).items():
        container = main_container(deployment)
        env = container_env(container, objs)
        bind = env.get(BIND_VARIABLE[service])
        if bind is None:
            default = SETTINGS[service].model_fields[BIND_VARIABLE[service].split("_", 1)[1].lower()].default
            problems.append(f"{service}: {BIND_VARIABLE[service]} unset: the service binds {default}")
            continue
        host, port = split_address(bind)
        if host not in WILDCARD_HOSTS:
            problems.append(f"{service}: {BIND_VARIABLE[service]}={bind}: probes and peers cannot reach it")
        ports = {p["name"]: p["containerPort"] for p in container.get("ports") or []}
        if list(ports.values()) != [port]:
            problems.append(f"{service}: containerPort {list(ports.values())} but the service binds {port}")
        probes = {kind: container.get(kind) for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
        for kind, probe in probes.items():
            if not probe:
                problems.append(f"{service}: no {kind}")
                continue
            if service in GRPC_SERVICES:
                grpc = probe.get("grpc")
                if not grpc:
                    problems.append(f"{service}: {kind} is not a gRPC probe")
                    continue
                if grpc.get("port") != port:
                    problems.append(
                        f"{service}: {kind} probes port {grpc.get('port')}, the service binds {port}"
                    )
                expected = "" if kind == "readinessProbe" else GRPC_HEALTH_NAME[service]
                if grpc.get("service") != expected:
                    problems.append(
                        f"{service}: {kind} asks for {grpc.get('service')!r}, expected {expected!r}"
                    )
            else:
                http = probe.get("httpGet")
                if not http:
                    problems.append(f"{service}: {kind} is not an HTTP probe")
                    continue
                probe_port = (
                    ports.get(http["port"], http["port"]) if isinstance(http["port"], str) else http["port"]
                )
                if probe_port != port:
                    problems.append(f"{service}: {kind} probes port {http['port']}, the gateway binds {port}")
                expected = "/v1/readyz" if kind == "readinessProbe" else "/v1/healthz"
                if http.get("path") != expected or http.get("path") not in paths:
                    problems.append(
                        f"{service}: {kind} GETs {http.get('path')}, expected {expected} of the spec"
                    )
        service_object = the(objs, "Service", service)
        for service_port in service_object["spec"]["ports"]:
            target = service_port.get("targetPort", service_port["port"])
            if ports.get(target, target) != port:
                problems.append(f"Service/{service}: targetPort {target} is not the container's {port}")
    return problems


def security_problems(objs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every pod of ours: non-root (the Dockerfile's UID), seccomp RuntimeDefault, no service-account
    token, no service links; every container: read-only root, no privilege escalation, no capability,
    requests and limits, /tmp and VAR_DIR writable."""
    problems: list[str] = []
    for deployment in named(objs, "Deployment"):
        name = deployment["metadata"]["name"]
        spec = pod_spec(deployment)
        pod_security = spec.get("securityContext") or {}
        if pod_security.get("runAsNonRoot") is not True:
            problems.append(f"{name}: runAsNonRoot is not true")
        if (pod_security.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: seccomp profile is not RuntimeDefault")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: a service-account token is mounted")
        if spec.get("enableServiceLinks") is not False:
            problems.append(f"{name}: service links put <SERVICE>_PORT variables in the environment")
        if name in SERVICES:
            final = parse_dockerfile(DOCKER / f"{name}.Dockerfile").final
            user = final.last("USER")
            uid = int(user.value[0].split(":")[0]) if user else 0
            if pod_security.get("runAsUser") != uid:
                problems.append(f"{name}: runAsUser {pod_security.get('runAsUser')} is not the image's {uid}")
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        for container in [*(spec.get("initContainers") or []), *spec["containers"]]:
            label = f"{name}/{container['name']}"
            security = container.get("securityContext") or {}
            if security.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{label}: the root filesystem is writable")
            if security.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{label}: privilege escalation is allowed")
            if (security.get("capabilities") or {}).get("drop") != ["ALL"]:
                problems.append(f"{label}: capabilities are not all dropped")
            resources = container.get("resources") or {}
            for need in ("requests/cpu", "requests/memory", "limits/memory"):
                section, resource = need.split("/")
                if resource not in (resources.get(section) or {}):
                    problems.append(f"{label}: no {section}.{resource}")
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts") or []}
            writable = ["/tmp"]
            if name in SERVICES:
                writable.append(container_env(container, objs).get("VAR_DIR", "var"))
            for path in writable:
                if "emptyDir" not in volumes.get(mounts.get(path, ""), {}):
                    problems.append(f"{label}: {path} is not a writable emptyDir")
    return problems


def lifecycle_problems(objs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The grace period covers the preStop pause and the service's own graceful stop."""
    problems = []
    for service, deployment in service_deployments(objs).items():
        container = main_container(deployment)
        command = ((container.get("lifecycle") or {}).get("preStop") or {}).get("exec", {}).get(
            "command"
        ) or []
        pause = float(command[1]) if command[:1] == ["sleep"] and len(command) == 2 else 0.0
        env = container_env(container, objs)
        grace = float(env.get(f"{service.upper()}_SHUTDOWN_GRACE_SECONDS", shutdown_grace_seconds(service)))
        period = pod_spec(deployment).get("terminationGracePeriodSeconds", 30)
        if period < pause + grace + 5:
            problems.append(
                f"{service}: terminationGracePeriodSeconds {period} < preStop {pause} + grace {grace} + 5"
            )
    return problems


def connection_budget_problems(objs: Sequence[Mapping[str, Any]]) -> list[str]:
    """At the HPAs' maxima, plus one surge pod each, the services' pools (pool size + overflow, as each
    service's settings in its pod make them) fit max_connections."""
    reserved = 20  # superuser_reserved_connections, replication and the CloudNativePG instance manager
    needed, pods = reserved, 0
    for service, deployment in service_deployments(objs).items():
        hpa = [
            h
            for h in named(objs, "HorizontalPodAutoscaler")
            if h["spec"]["scaleTargetRef"]["name"] == service
        ]
        maximum = int(hpa[0]["spec"]["maxReplicas"]) if hpa else int(deployment["spec"].get("replicas", 1))
        surge = (deployment["spec"].get("strategy") or {}).get("rollingUpdate", {}).get("maxSurge", 1)
        count = maximum + (int(surge) if isinstance(surge, int) else 1)
        pods += count
        needed += count * pool_connections(service, container_env(main_container(deployment), objs))
    problems = []
    for cluster in named(objs, "Cluster"):
        limit = int(
            ((cluster["spec"].get("postgresql") or {}).get("parameters") or {}).get("max_connections", 100)
        )
        if needed > limit:
            problems.append(
                f"Cluster/{cluster['metadata']['name']}: max_connections {limit} < {needed} ({pods} pods)"
            )
    return problems

"""Checks that the names in the rendered manifests agree: the Secrets and ConfigMaps pods read exist or are
documented for whoever deploys, selectors select, and the addresses and URLs the services get name the
Services (headless, for the gateway's backends), databases, roles and broker the manifests declare."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .code_facts import DATABASE_VARIABLE, GATEWAY_ADDRESS_VARIABLE, split_address
from .k8s_env import EXTERNAL_CONFIG_MAP_KEYS, container_env, secret_keys
from .k8s_render import kind_of, main_container, named, pod_spec, service_deployments, the
from .label_selectors import selects
from .repository import CONSUMERS, DEPLOY_DOC


def _references(obj: Mapping[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(kind, name, optional) of every Secret and ConfigMap a pod template or CR names."""
    if obj.get("kind") == "Deployment":
        spec = pod_spec(obj)
        for container in [*(spec.get("initContainers") or []), *spec["containers"]]:
            for source in container.get("envFrom") or []:
                for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                    if key in source:
                        yield kind, source[key]["name"], bool(source[key].get("optional", False))
            for variable in container.get("env") or []:
                for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                    ref = (variable.get("valueFrom") or {}).get(key)
                    if ref:
                        yield kind, ref["name"], bool(ref.get("optional", False))
        for volume in spec.get("volumes") or []:
            if "secret" in volume:
                yield "Secret", volume["secret"]["secretName"], bool(volume["secret"].get("optional", False))
            if "configMap" in volume:
                yield (
                    "ConfigMap",
                    volume["configMap"]["name"],
                    bool(volume["configMap"].get("optional", False)),
                )
    if kind_of(obj) == ("postgresql.cnpg.io/v1", "Cluster"):
        for role in (obj["spec"].get("managed") or {}).get("roles") or []:
            if "passwordSecret" in role:
                yield "Secret", role["passwordSecret"]["name"], False


def operator_secrets(objs: Sequence[Mapping[str, Any]]) -> set[str]:
    """Secrets the operators create: the RabbitMQ default user."""
    return {f"{o['metadata']['name']}-default-user" for o in named(objs, "RabbitmqCluster")}


def external_references(objs: Sequence[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """(kind, name) of the required Secrets and ConfigMaps neither rendered nor made by an operator:
    what a person must create before applying (each documented in docs/deploy.md)."""
    present = {(o["kind"], o["metadata"]["name"]) for o in objs if o.get("kind") in {"Secret", "ConfigMap"}}
    made = {("Secret", name) for name in operator_secrets(objs)}
    return {
        (kind, name)
        for obj in objs
        for kind, name, optional in _references(obj)
        if not optional and (kind, name) not in present | made
    }


def reference_problems(
    objs: Sequence[Mapping[str, Any]], expected_external: set[tuple[str, str]]
) -> list[str]:
    """Names that must agree do: what pods read exists (or is expected to be created), keys exist in the
    rendered Secrets, selectors select, the gateway dials the Services, the URLs name the databases,
    roles and broker the custom resources declare."""
    problems: list[str] = []
    external = external_references(objs)
    problems += [
        f"{kind}/{name} is read but not created" for kind, name in sorted(external - expected_external)
    ]
    problems += [
        f"{kind}/{name} was expected to be read" for kind, name in sorted(expected_external - external)
    ]
    doc = DEPLOY_DOC.read_text() if DEPLOY_DOC.exists() else ""
    for kind, name in sorted(external | {("Secret", n) for n in operator_secrets(objs)}):
        if f"`{name}`" not in doc:
            problems.append(f"{kind}/{name} is not documented in docs/deploy.md")
        for key in EXTERNAL_CONFIG_MAP_KEYS.get(name, ()) if kind == "ConfigMap" else ():
            if f"`{key}`" not in doc:
                problems.append(f"{kind}/{name}: docs/deploy.md does not say it holds {key}")
    secrets = {o["metadata"]["name"]: secret_keys(o) for o in named(objs, "Secret")}
    deployments = service_deployments(objs)
    for obj in objs:
        for container in (
            [*(pod_spec(obj).get("initContainers") or []), *pod_spec(obj)["containers"]]
            if obj.get("kind") == "Deployment"
            else []
        ):
            for variable in container.get("env") or []:
                ref = (variable.get("valueFrom") or {}).get("secretKeyRef")
                if (
                    ref
                    and not ref.get("optional")
                    and ref["name"] in secrets
                    and ref["key"] not in secrets[ref["name"]]
                ):
                    problems.append(
                        f"{obj['metadata']['name']}: Secret/{ref['name']} has no key {ref['key']}"
                    )
    pod_labels = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in deployments.items()}
    for name, deployment in deployments.items():
        if not selects(deployment["spec"]["selector"], pod_labels[name]):
            problems.append(f"Deployment/{name}: its selector does not select its pods")
        service = the(objs, "Service", name)
        if service["spec"].get("selector") != deployment["spec"]["selector"].get("matchLabels"):
            problems.append(f"Service/{name}: its selector is not the Deployment's")
        hpas = [
            h for h in named(objs, "HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == name
        ]
        if len(hpas) != 1 or hpas[0]["spec"]["scaleTargetRef"].get("kind") != "Deployment":
            problems.append(f"Deployment/{name}: {len(hpas)} HorizontalPodAutoscalers")
        if "replicas" in deployment["spec"] and hpas:
            problems.append(f"Deployment/{name}: sets replicas, which fights its HorizontalPodAutoscaler")
        pdbs = [
            p for p in named(objs, "PodDisruptionBudget") if selects(p["spec"]["selector"], pod_labels[name])
        ]
        if len(pdbs) != 1:
            problems.append(f"Deployment/{name}: {len(pdbs)} PodDisruptionBudgets")
        others = [
            n
            for n, labels in pod_labels.items()
            if n != name and any(selects(p["spec"]["selector"], labels) for p in pdbs)
        ]
        if others:
            problems.append(f"PodDisruptionBudget of {name} also selects {others}")

    gateway_env = container_env(main_container(deployments["gateway"]), objs)
    for backend, variable in GATEWAY_ADDRESS_VARIABLE.items():
        host, port = split_address(gateway_env.get(variable, ":0"))
        services = named(objs, "Service", host.split(".")[0])
        service_ports = [p["port"] for s in services for p in s["spec"]["ports"]]
        if host.split(".")[0] != backend or port not in service_ports:
            problems.append(
                f"gateway: {variable}={host}:{port} is not the Service of {backend} ({service_ports})"
            )
            continue
        # The gateway balances over the addresses the name resolves to (gRPC round_robin): only a
        # headless Service resolves to every pod, and then the gateway dials the pods' own port.
        if services[0]["spec"].get("clusterIP") != "None":
            problems.append(
                f"gateway: Service/{backend} is not headless (clusterIP: None): each gateway connection"
                " would stay with one pod"
            )
        container_ports = [
            p["containerPort"] for p in main_container(deployments[backend]).get("ports") or []
        ]
        if port not in container_ports:
            problems.append(
                f"gateway: {variable} dials port {port}, the {backend} pods listen on {container_ports}"
            )

    clusters = named(objs, "Cluster")
    rabbits = named(objs, "RabbitmqCluster")
    roles = {
        role["name"]: role.get("passwordSecret", {}).get("name")
        for cluster in clusters
        for role in (cluster["spec"].get("managed") or {}).get("roles") or []
    }
    databases = {d["spec"]["name"]: d["spec"] for d in named(objs, "Database")}
    for name, deployment in deployments.items():
        container = main_container(deployment)
        env = container_env(container, objs)
        url = env.get(DATABASE_VARIABLE[name], "")
        match = re.match(
            r"postgres(?:ql)?://<secret:([\w-]+)/username>:<secret:\1/password>@([\w-]+):5432/(\w+)$", url
        )
        if not match:
            problems.append(f"{name}: {DATABASE_VARIABLE[name]}={url} is not a login from a Secret at a host")
            continue
        secret, host, database = match.groups()
        database_spec = databases.get(database)
        if database_spec is None:
            problems.append(f"{name}: database {database} is not declared")
            continue
        cluster_name = database_spec["cluster"]["name"]
        if host != f"{cluster_name}-rw" or not named(objs, "Cluster", cluster_name):
            problems.append(f"{name}: {host} is not the read-write Service of cluster {cluster_name}")
        if roles.get(database_spec["owner"]) != secret:
            problems.append(f"{name}: the owner of {database} does not log in with Secret/{secret}")
        if name in CONSUMERS:
            amqp = env.get("AMQP_URL", "")
            rabbit = rabbits[0]["metadata"]["name"] if rabbits else "?"
            expected = f"amqp://<secret:{rabbit}-default-user/username>:<secret:{rabbit}-default-user/password>@{rabbit}:5672/"
            if amqp != expected:
                problems.append(
                    f"{name}: AMQP_URL={amqp} is not the default user of RabbitmqCluster/{rabbit}"
                )
    return problems

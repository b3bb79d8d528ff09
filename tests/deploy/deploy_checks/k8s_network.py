"""The check of the rendered NetworkPolicies: who can reach whom (the services, the broker, the database,
DNS, the operators, other pods and namespaces, the internet) against what the design allows, and a
default deny on every service."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .k8s_render import named
from .label_selectors import selects
from .network_policies import Endpoint, can_connect, policy_types
from .repository import CONSUMERS, GRPC_SERVICES, SERVICES


def endpoints(objs: Sequence[Mapping[str, Any]], namespace: str) -> dict[str, Endpoint]:
    """The pods the policies are about, labelled as their owners label them."""
    found: dict[str, Endpoint] = {}
    for deployment in named(objs, "Deployment"):
        name = deployment["metadata"]["name"]
        found[name] = Endpoint(name, namespace, deployment["spec"]["template"]["metadata"]["labels"])
    for rabbit in named(objs, "RabbitmqCluster"):
        name = rabbit["metadata"]["name"]
        labels = {
            "app.kubernetes.io/name": name,
            "app.kubernetes.io/component": "rabbitmq",
            "app.kubernetes.io/part-of": "rabbitmq",
        }
        found["rabbitmq"] = Endpoint("rabbitmq", namespace, labels)
    for cluster in named(objs, "Cluster"):
        labels = {"cnpg.io/cluster": cluster["metadata"]["name"], "cnpg.io/podRole": "instance"}
        found["postgres"] = Endpoint("postgres", namespace, labels)
    found["other-pod"] = Endpoint("other-pod", namespace, {"app": "something-else"})
    found["other-namespace"] = Endpoint("other-namespace", "elsewhere", {"app.kubernetes.io/name": "gateway"})
    found["kube-dns"] = Endpoint("kube-dns", "kube-system", {"k8s-app": "kube-dns"})
    found["rabbitmq-operator"] = Endpoint("rabbitmq-operator", "rabbitmq-system", {"app": "operator"})
    found["cnpg-operator"] = Endpoint("cnpg-operator", "cnpg-system", {"app": "operator"})
    found["internet"] = Endpoint("internet", None)
    return found


def network_problems(objs: Sequence[Mapping[str, Any]], smtp: tuple[str, int] | None) -> list[str]:
    """Who can reach whom under the rendered NetworkPolicies, against what the design allows: only the
    gateway from outside, the services only from the gateway, the broker and the database only from the
    services that use them, the mail server only from notifications (``smtp``: its pod name and port, or
    None for a server outside the cluster on the standard ports)."""
    namespace = str(next(o["metadata"]["namespace"] for o in objs if o.get("kind") == "Deployment"))
    policies = [
        {**p, "metadata": {**p["metadata"], "namespace": p["metadata"].get("namespace", namespace)}}
        for p in named(objs, "NetworkPolicy")
    ]
    pods = endpoints(objs, namespace)
    ports = {
        "orders": 50051,
        "payments": 50052,
        "notifications": 50053,
        "gateway": 8000,
        "rabbitmq": 5672,
        "postgres": 5432,
    }
    expected: dict[tuple[str, str, int], bool] = {}
    sources = [*SERVICES, "other-pod", "other-namespace", "internet"]
    for source in sources:
        for target, port in ports.items():
            if target == "gateway":
                allowed = source not in SERVICES  # anyone; the services have no business calling it
            elif target in GRPC_SERVICES:
                allowed = source == "gateway"
            elif target == "rabbitmq":
                allowed = source in CONSUMERS
            else:
                allowed = source in SERVICES
            if source != target:
                expected[(source, target, port)] = allowed
    for service in SERVICES:
        expected[(service, "kube-dns", 53)] = True
        for other, port in ports.items():
            if other in GRPC_SERVICES and other != service:
                expected[(service, other, port + 1 if port < 50053 else port - 1)] = False  # a wrong port
    expected[("rabbitmq", "rabbitmq", 25672)] = True
    expected[("rabbitmq-operator", "rabbitmq", 15672)] = True
    expected[("postgres", "postgres", 5432)] = True
    expected[("cnpg-operator", "postgres", 8000)] = True
    expected[("other-pod", "postgres", 8000)] = False
    if smtp is None:
        for service in SERVICES:
            for port in (25, 465, 587):
                expected[(service, "internet", port)] = service == "notifications"
    else:
        mail_server, mail_port = smtp
        for service in SERVICES:
            expected[(service, mail_server, mail_port)] = service == "notifications"
        expected[("other-pod", mail_server, mail_port)] = False
    for service in SERVICES:
        expected[(service, "internet", 443)] = False
    problems = []
    for (source, target, port), allowed in sorted(expected.items()):
        if source not in pods or target not in pods:
            problems.append(f"no pod {source if source not in pods else target} to check")
            continue
        protocol = "UDP" if port == 53 else "TCP"
        actual = can_connect(policies, pods[source], pods[target], port, protocol)
        if actual != allowed:
            problems.append(f"{source} -> {target}:{port} is {'allowed' if actual else 'blocked'}")
    for name in SERVICES:
        default_deny = [
            p
            for p in policies
            if {"Ingress", "Egress"} <= policy_types(p)
            and not p["spec"].get("ingress")
            and not p["spec"].get("egress")
            and selects(p["spec"].get("podSelector"), pods[name].labels)
        ]
        if not default_deny:
            problems.append(f"{name}: no default-deny policy selects it")
    for protected in ("rabbitmq", "postgres"):
        if any(
            selects(p["spec"].get("podSelector"), pods[protected].labels)
            and not policy_types(p) <= {"Ingress"}
            for p in policies
        ):
            problems.append(
                f"{protected}: an egress policy selects it (its operator's pods need the API server)"
            )
    return problems

"""The check of the broker and database custom resources beyond their schemas: node and instance counts,
partition handling, the PostgreSQL version the services are tested against, one database per service."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .k8s_render import named
from .label_selectors import selects
from .repository import SERVICES


def custom_resource_problems(objs: Sequence[Mapping[str, Any]], *, production: bool) -> list[str]:
    """What the services need of the broker and the database beyond the CRDs' schemas."""
    problems = []
    default_deny_labels = [
        p["spec"].get("podSelector")
        for p in named(objs, "NetworkPolicy")
        if p["metadata"]["name"] == "ecommerce-default-deny"
    ]
    for rabbit in named(objs, "RabbitmqCluster"):
        spec = rabbit["spec"]
        if production and spec.get("replicas") != 3:
            problems.append(f"RabbitmqCluster: {spec.get('replicas')} nodes; quorum queues want 3")
        if int(spec.get("replicas", 0)) % 2 == 0:
            problems.append("RabbitmqCluster: an even node count cannot outvote a partition")
        labels = rabbit["metadata"].get("labels") or {}
        if any(selects(selector, labels) for selector in default_deny_labels):
            problems.append(
                "RabbitmqCluster: its labels (copied to its pods) put the nodes under the default deny"
            )
        if "pause_minority" not in str((spec.get("rabbitmq") or {}).get("additionalConfig", "")):
            problems.append("RabbitmqCluster: no cluster_partition_handling = pause_minority")
    if len(named(objs, "RabbitmqCluster")) != 1:
        problems.append(f"{len(named(objs, 'RabbitmqCluster'))} RabbitmqClusters")
    clusters = named(objs, "Cluster")
    if len(clusters) != 1:
        problems.append(f"{len(clusters)} CloudNativePG Clusters")
    for cluster in clusters:
        if production and int(cluster["spec"].get("instances", 0)) < 3:
            problems.append(f"Cluster: {cluster['spec'].get('instances')} instances; production wants 3")
        if "postgresql:15" not in str(cluster["spec"].get("imageName", "")):
            problems.append("Cluster: not PostgreSQL 15 (what the services are tested against)")
    declared = {d["spec"]["name"] for d in named(objs, "Database")}
    if declared != set(SERVICES):
        problems.append(f"databases {sorted(declared)} are not one per service {list(SERVICES)}")
    return problems

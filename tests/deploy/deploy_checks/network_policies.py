"""An evaluator of Kubernetes NetworkPolicies: whether the policies let one pod (or an address outside the
cluster) open a connection to another on a port, the way a policy-enforcing network plugin decides.
Hand-written: no installed library evaluates NetworkPolicies."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .label_selectors import selects


@dataclass(frozen=True)
class Endpoint:
    """A pod (namespace + labels) or, with ``namespace`` None, an address outside the cluster."""

    name: str
    namespace: str | None
    labels: Mapping[str, str] = field(default_factory=dict)
    address: str = "203.0.113.7"  # TEST-NET-3: somewhere outside


def _peer_matches(peer: Mapping[str, Any], other: Endpoint, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        if other.namespace is not None:
            return False  # pod addresses are not modelled; none of our policies uses ipBlock for pods
        block = peer["ipBlock"]
        address = ipaddress.ip_address(other.address)
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(e) for e in block.get("except") or []
        )
    if other.namespace is None:
        return False
    if "namespaceSelector" in peer:
        namespace_labels = {"kubernetes.io/metadata.name": other.namespace}
        if not selects(peer["namespaceSelector"], namespace_labels):
            return False
    elif other.namespace != policy_namespace:
        return False
    return "podSelector" not in peer or selects(peer["podSelector"], other.labels)


def _port_matches(rule: Mapping[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        if "port" not in entry:
            return True
        first, last = int(entry["port"]), int(entry.get("endPort", entry["port"]))
        if first <= port <= last:
            return True
    return False


def policy_types(policy: Mapping[str, Any]) -> set[str]:
    declared = policy["spec"].get("policyTypes")
    if declared:
        return set(declared)
    return {"Ingress", *({"Egress"} if "egress" in policy["spec"] else set())}


def _allowed(
    policies: Sequence[Mapping[str, Any]],
    direction: str,
    subject: Endpoint,
    other: Endpoint,
    port: int,
    protocol: str,
) -> bool:
    if subject.namespace is None:
        return True  # outside the cluster: no policy of ours applies
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    relevant = [
        p
        for p in policies
        if p["metadata"].get("namespace", subject.namespace) == subject.namespace
        and direction in policy_types(p)
        and selects(p["spec"].get("podSelector"), subject.labels)
    ]
    if not relevant:
        return True
    for policy in relevant:
        namespace = policy["metadata"].get("namespace", subject.namespace)
        for rule in policy["spec"].get(rules_key) or []:
            peers = rule.get(peers_key)
            if _port_matches(rule, port, protocol) and (
                not peers or any(_peer_matches(peer, other, namespace) for peer in peers)
            ):
                return True
    return False


def can_connect(
    policies: Sequence[Mapping[str, Any]],
    source: Endpoint,
    target: Endpoint,
    port: int,
    protocol: str = "TCP",
) -> bool:
    """Whether the NetworkPolicies let ``source`` open a connection to ``target:port``."""
    return _allowed(policies, "Egress", source, target, port, protocol) and _allowed(
        policies, "Ingress", target, source, port, protocol
    )

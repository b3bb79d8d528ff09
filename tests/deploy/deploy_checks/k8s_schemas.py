"""Validation of rendered objects against schemas: Kubernetes kinds with kubernetes-validate (strict) at a
fixed Kubernetes version, the custom resources of the RabbitMQ and CloudNativePG operators with subsets of
their CRDs (``CR_SCHEMAS``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]

from .k8s_render import kind_of

# Custom resources have no schema in kubernetes-validate. These subsets of their CRDs (field names and
# required fields from rabbitmq/cluster-operator config/crd/bases/rabbitmq.com_rabbitmqclusters.yaml and
# cloudnative-pg config/crd/bases/postgresql.cnpg.io_{clusters,databases}.yaml) close every object the
# manifests use, so a misspelt or misplaced field fails here instead of being dropped by the API server.
_RESOURCES = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "requests": {"type": "object", "additionalProperties": {"type": ["string", "integer"]}},
        "limits": {"type": "object", "additionalProperties": {"type": ["string", "integer"]}},
    },
}
_SECRET_REF = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {"name": {"type": "string", "minLength": 1}},
}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 1}},
}
CR_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["replicas"],
                "additionalProperties": False,
                "properties": {
                    "replicas": {"type": "integer", "minimum": 0},
                    "image": {"type": "string"},
                    "service": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"type": {"enum": ["ClusterIP", "LoadBalancer", "NodePort"]}},
                    },
                    "persistence": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"storage": {"type": "string"}, "storageClassName": {"type": "string"}},
                    },
                    "resources": _RESOURCES,
                    "rabbitmq": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "additionalConfig": {"type": "string", "maxLength": 2000},
                            "additionalPlugins": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                    "affinity": {"type": "object"},
                    "tolerations": {"type": "array"},
                    "terminationGracePeriodSeconds": {"type": "integer", "minimum": 0},
                },
            },
        },
    },
    ("postgresql.cnpg.io/v1", "Cluster"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["instances"],
                "additionalProperties": False,
                "properties": {
                    "instances": {"type": "integer", "minimum": 1},
                    "imageName": {"type": "string"},
                    "primaryUpdateStrategy": {"enum": ["supervised", "unsupervised"]},
                    "enableSuperuserAccess": {"type": "boolean"},
                    "storage": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"size": {"type": "string"}, "storageClass": {"type": "string"}},
                    },
                    "resources": _RESOURCES,
                    "postgresql": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "parameters": {"type": "object", "additionalProperties": {"type": "string"}}
                        },
                    },
                    "managed": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "roles": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["name"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "name": {"type": "string"},
                                        "ensure": {"enum": ["present", "absent"]},
                                        "login": {"type": "boolean"},
                                        "passwordSecret": _SECRET_REF,
                                        "connectionLimit": {"type": "integer"},
                                        "inRoles": {"type": "array", "items": {"type": "string"}},
                                    },
                                },
                            }
                        },
                    },
                    "affinity": {"type": "object"},
                },
            },
        },
    },
    ("postgresql.cnpg.io/v1", "Database"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["cluster", "name", "owner"],
                "additionalProperties": False,
                "properties": {
                    "cluster": _SECRET_REF,
                    "name": {"type": "string", "not": {"enum": ["postgres", "template0", "template1"]}},
                    "owner": {"type": "string", "minLength": 1},
                    "ensure": {"enum": ["present", "absent"]},
                    "databaseReclaimPolicy": {"enum": ["delete", "retain"]},
                },
            },
        },
    },
}


def kubernetes_schema_problems(objs: Sequence[Mapping[str, Any]], version: str) -> list[str]:
    """Every object against the Kubernetes ``version`` schemas (strict: unknown fields fail), custom
    resources against CR_SCHEMAS; an object of a kind neither knows is a problem too."""
    problems = []
    for obj in objs:
        label = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
        if kind_of(obj) in CR_SCHEMAS:
            validator = jsonschema.Draft202012Validator(CR_SCHEMAS[kind_of(obj)])
            problems += [
                f"{label}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in validator.iter_errors(obj)
            ]
            continue
        try:
            kubernetes_validate.validate(dict(obj), version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{label}: {kind_of(obj)} is no Kubernetes {version} kind and no known CR")
        except kubernetes_validate.ValidationError as error:
            where = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{label} (Kubernetes {version}): {where}: {error.message}")
    return problems

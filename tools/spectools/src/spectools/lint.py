"""``python -m spectools.lint``: validate the three specs; exit 1 naming every problem.

- ``specs/openapi.yaml`` with openapi-spec-validator, plus this project's rules: every object schema but
  ``Problem`` closes ``additionalProperties``; every string, array and number has limits; every
  operation has an ``operationId`` of the form ``resource.verb`` and problem+json error responses.
- ``specs/asyncapi.yaml`` against the official AsyncAPI 3.0.0 JSON schema (npm ``@asyncapi/specs``).
- ``specs/proto`` with ``buf lint`` (npm ``@bufbuild/buf``), configured by ``specs/buf.yaml``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError
from openapi_spec_validator import validate as validate_openapi

ROOT = Path(__file__).resolve().parents[4]
SPECS = ROOT / "specs"
NODE_MODULES = ROOT / "tools" / "spectools" / "node_modules"
ASYNCAPI_SCHEMA = NODE_MODULES / "@asyncapi" / "specs" / "schemas" / "3.0.0-without-$id.json"
BUF = NODE_MODULES / ".bin" / "buf"
OPERATION_ID = re.compile(r"^[a-z]+\.[a-z_]+$")
OPEN_SCHEMAS = {"Problem", "EventHeaders"}  # extension members (RFC 9457) and AMQP headers (x-death)


def _schema_limits(name: str, schema: dict[str, Any]) -> Iterator[str]:
    """Problems with the limits of one schema and of the schemas nested in it."""
    if "$ref" in schema:
        return
    kind = schema.get("type")
    if kind == "object":
        if name.split(".")[0] not in OPEN_SCHEMAS and schema.get("additionalProperties") is not False:
            yield f"{name}: object schema without additionalProperties: false"
        for prop, sub in schema.get("properties", {}).items():
            yield from _schema_limits(f"{name}.{prop}", sub)
    elif kind == "array":
        if "maxItems" not in schema:
            yield f"{name}: array without maxItems"
        yield from _schema_limits(f"{name}[]", schema.get("items", {}))
    elif kind == "string":
        if not ({"maxLength", "enum", "format"} & set(schema)):
            yield f"{name}: string without maxLength, enum or format"
        if schema.get("format") in {"email", "uri-reference"} and "maxLength" not in schema:
            yield f"{name}: {schema['format']} string without maxLength"
    elif (
        kind in {"integer", "number"} and "enum" not in schema and not ({"minimum", "maximum"} <= set(schema))
    ):
        yield f"{name}: {kind} without both minimum and maximum"
    for key in ("allOf", "oneOf", "anyOf"):
        for i, sub in enumerate(schema.get(key, [])):
            yield from _schema_limits(f"{name}.{key}[{i}]", sub)


def lint_openapi(path: Path) -> list[str]:
    spec = yaml.safe_load(path.read_text())
    try:
        validate_openapi(spec)
    except Exception as error:  # the validator raises several unrelated types
        return [f"{path}: {error}"]
    problems: list[str] = []
    components = spec.get("components", {})
    for name, schema in components.get("schemas", {}).items():
        problems += [f"{path}: schema {p}" for p in _schema_limits(name, schema)]
    for name, param in components.get("parameters", {}).items():
        problems += [f"{path}: parameter {p}" for p in _schema_limits(name, param.get("schema", {}))]
    for route, item in spec["paths"].items():
        for method, op in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            where = f"{path}: {method.upper()} {route}"
            if not OPERATION_ID.match(op.get("operationId", "")):
                problems.append(f"{where}: operationId must look like resource.verb")
            for status, response in op.get("responses", {}).items():
                if "$ref" in response or not str(status).startswith(("4", "5")):
                    continue
                if "application/problem+json" not in response.get("content", {}) and status != "503":
                    problems.append(f"{where}: {status} response is not application/problem+json")
            for param in op.get("parameters", []):
                if "$ref" not in param:
                    problems += [f"{where}: {p}" for p in _schema_limits(param["name"], param["schema"])]
    return problems


def _leaves(error: ValidationError) -> list[ValidationError]:
    """The innermost errors of a oneOf/anyOf failure (which alone says only "not valid under any").

    Branches that fail only because the node is not a ``$ref`` are noise: every AsyncAPI object may
    also be a Reference object.
    """
    if not error.context:
        return [error]
    leaves = [leaf for sub in error.context for leaf in _leaves(sub)]
    useful = [leaf for leaf in leaves if leaf.message != "'$ref' is a required property"]
    return useful or [error]


def lint_asyncapi(path: Path) -> list[str]:
    if not ASYNCAPI_SCHEMA.exists():
        return [f"{ASYNCAPI_SCHEMA} is missing: run `make setup` (npm ci in tools/spectools/)"]
    validator = Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text()))
    spec = yaml.safe_load(path.read_text())
    problems = []
    for error in sorted(validator.iter_errors(spec), key=lambda e: list(map(str, e.absolute_path))):
        for leaf in _leaves(error):
            where = "/".join(map(str, leaf.absolute_path))
            problems.append(f"{path}: at /{where}: {leaf.message[:300]}")
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        problems += [f"{path}: schema {p}" for p in _schema_limits(name, schema)]
    return problems


def lint_protos(specs: Path) -> list[str]:
    if not BUF.exists():
        return [f"{BUF} is missing: run `make setup` (npm ci in tools/spectools/)"]
    result = subprocess.run([str(BUF), "lint"], cwd=specs, capture_output=True, text=True, check=False)
    if result.returncode == 0:
        return []
    return [f"specs/{line}" for line in (result.stdout + result.stderr).splitlines() if line.strip()]


def main() -> int:
    problems = [
        *lint_openapi(SPECS / "openapi.yaml"),
        *lint_asyncapi(SPECS / "asyncapi.yaml"),
        *lint_protos(SPECS),
    ]
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"\nspec lint: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("spec lint: openapi.yaml, asyncapi.yaml and specs/proto are valid")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

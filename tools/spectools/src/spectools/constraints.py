"""``ecommerce.rest.constraints``: every limit of ``specs/openapi.yaml`` as a plain ``Final`` constant.

Code that checks what the spec already limits (a pattern, a length, a range, a number of items) imports
the value from here instead of retyping it, so a spec change cannot leave a stale copy behind.

Names are ``<FIELD>_<KEYWORD>``; the field part is

- ``<SCHEMA>_<PROPERTY>`` for a property of a component schema (``ORDER_LINE_INPUT_QUANTITY``; ``_ITEM``
  for the items of an array, ``<SCHEMA>`` alone for a constrained schema itself);
- ``<LOCATION>_<NAME>`` for a parameter (``QUERY_PAGE_SIZE``, ``PATH_SKU``, ``HEADER_IDEMPOTENCY_KEY``);
- ``HEADER_<NAME>`` for a response header (``HEADER_X_REQUEST_ID``),

and the keyword part is the JSON Schema keyword (``MAX_LENGTH``, ``PATTERN``, ``MAXIMUM``...). Parameters
and headers come from where the operations use them. A field defined twice (a header in several
responses) must be constrained alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from spectools.tree import Tree, header, ruff_format

SOURCE = "specs/openapi.yaml"
# JSON Schema keyword -> constant suffix, in the order constants of one field are written.
KEYWORDS = {
    "pattern": "PATTERN",
    "minLength": "MIN_LENGTH",
    "maxLength": "MAX_LENGTH",
    "minimum": "MINIMUM",
    "exclusiveMinimum": "EXCLUSIVE_MINIMUM",
    "maximum": "MAXIMUM",
    "exclusiveMaximum": "EXCLUSIVE_MAXIMUM",
    "multipleOf": "MULTIPLE_OF",
    "minItems": "MIN_ITEMS",
    "maxItems": "MAX_ITEMS",
    "uniqueItems": "UNIQUE_ITEMS",
    "minProperties": "MIN_PROPERTIES",
    "maxProperties": "MAX_PROPERTIES",
}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
Field = tuple[str, str, dict[str, Any]]  # constant prefix, what it is (for the comment), its limits


def constant_name(*parts: str) -> str:
    """``("OrderLineInput", "quantity")`` -> ``ORDER_LINE_INPUT_QUANTITY``; ``("header", "X-Request-ID")``
    -> ``HEADER_X_REQUEST_ID``."""
    words = [re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", part) for part in parts]
    name = re.sub(r"[^A-Za-z0-9]+", "_", "_".join(words)).strip("_").upper()
    if not name.isidentifier():
        raise ValueError(f"{SOURCE}: {'.'.join(parts)} gives no Python name ({name!r})")
    return name


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _limits(schema: dict[str, Any]) -> dict[str, Any]:
    return {keyword: schema[keyword] for keyword in KEYWORDS if keyword in schema}


def _schema_fields(prefix: str, label: str, schema: dict[str, Any]) -> Iterator[Field]:
    """The constrained parts of an inline schema; a ``$ref`` is a schema of its own, listed by its name."""
    if "$ref" in schema:
        return
    if limits := _limits(schema):
        yield prefix, label, limits
    for name, sub in schema.get("properties", {}).items():
        yield from _schema_fields(constant_name(prefix, name), f"{label}.{name}", sub)
    if isinstance(schema.get("items"), dict):
        yield from _schema_fields(f"{prefix}_ITEM", f"{label}[]", schema["items"])
    for combined in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(combined, []):
            yield from _schema_fields(prefix, label, sub)


def _parameter_fields(spec: dict[str, Any]) -> Iterator[Field]:
    for item in spec.get("paths", {}).values():
        operations = [item[method] for method in METHODS if method in item]
        for raw in [*item.get("parameters", []), *(p for op in operations for p in op.get("parameters", []))]:
            param = _resolve(spec, raw)
            location, name = param["in"], param["name"]
            label = f"{location} parameter {name}" if location != "header" else f"header {name}"
            yield from _schema_fields(
                constant_name(location, name), label, _resolve(spec, param.get("schema", {}))
            )


def _responses(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for item in spec.get("paths", {}).values():
        for method in METHODS:
            for response in item.get(method, {}).get("responses", {}).values():
                yield _resolve(spec, response)
    for response in spec.get("components", {}).get("responses", {}).values():
        yield _resolve(spec, response)


def _header_fields(spec: dict[str, Any]) -> Iterator[Field]:
    for response in _responses(spec):
        for name, raw in response.get("headers", {}).items():
            schema = _resolve(spec, _resolve(spec, raw).get("schema", {}))
            yield from _schema_fields(constant_name("header", name), f"header {name}", schema)


def fields(spec: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Constant prefix -> (what it is, its limits), for every constrained field of ``spec``."""
    schemas = spec.get("components", {}).get("schemas", {})
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    every = [
        *(f for name, schema in schemas.items() for f in _schema_fields(constant_name(name), name, schema)),
        *_parameter_fields(spec),
        *_header_fields(spec),
    ]
    for prefix, label, limits in every:
        if prefix in found and found[prefix][1] != limits:
            raise ValueError(
                f"{SOURCE}: {found[prefix][0]} and {label} are both {prefix} but limited differently:"
                f" {found[prefix][1]} != {limits}"
            )
        found.setdefault(prefix, (label, limits))
    return found


def _literal(value: Any) -> str:
    if isinstance(value, str):
        # Patterns read best raw, as in the spec; repr() for the rare pattern a raw literal cannot hold.
        raw = value.isprintable() and '"' not in value and not value.endswith("\\")
        return f'r"{value}"' if raw else repr(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:_}"
    if isinstance(value, bool | int | float):
        return repr(value)
    raise ValueError(f"{SOURCE}: the limit {value!r} is not a number, a string or a boolean")


def constraints_module(spec: dict[str, Any]) -> str:
    """The source of ``ecommerce.rest.constraints`` for ``spec``."""
    out = [
        header(SOURCE),
        '"""The limits of the REST API (patterns, lengths, ranges, item counts), by schema property,',
        "parameter and header: import them rather than retyping a value of the spec.",
        "",
        "Names are ``<SCHEMA>_<PROPERTY>_<KEYWORD>`` for schema properties (``_ITEM`` for array items),",
        "``<LOCATION>_<NAME>_<KEYWORD>`` for parameters (``QUERY_``, ``PATH_``, ``HEADER_``) and",
        "``HEADER_<NAME>_<KEYWORD>`` for response headers.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import Final",
    ]
    names: set[str] = set()
    for prefix, (label, limits) in sorted(fields(spec).items()):
        out += ["", f"# {label}"]
        for keyword, suffix in KEYWORDS.items():
            if keyword in limits:
                name = f"{prefix}_{suffix}"
                if name in names:
                    raise ValueError(f"{SOURCE}: two limits would both be named {name}")
                names.add(name)
                out.append(f"{name}: Final = {_literal(limits[keyword])}")
    return ruff_format("\n".join(out) + "\n")


def generate(spec_path: Path, tree: Tree, package_dir: str) -> None:
    spec = yaml.safe_load(spec_path.read_text())
    tree.add(f"{package_dir}/ecommerce/rest/constraints.py", constraints_module(spec))

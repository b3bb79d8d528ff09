"""Reading ``specs/openapi.yaml`` into the SDK's model (``spectools.sdk_model``), with the checks the SDK
generator needs (a parameter's type, a Python name...); the REST generator's reading comes first."""

from __future__ import annotations

import keyword
import re
from typing import Any

from spectools import rest
from spectools.sdk_model import (
    LITERALS,
    MODELS,
    PACKAGE,
    PARAMS,
    SOURCE,
    UNION,
    Annotation,
    Arg,
    LiteralAlias,
    Method,
    Mixin,
    ParamDict,
    ParamField,
    Resource,
    Sdk,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"
MIXINS = {"orders": Mixin(f"{PACKAGE}._order_status", "WaitForOrderStatus", "AsyncWaitForOrderStatus")}
"""Hand-written helpers a generated resource takes on."""


def _union(*args: Annotation) -> Annotation:
    return Annotation(UNION, args=args)


def _literal(values: list[Any]) -> Annotation:
    return Annotation("Literal", "typing", values=tuple(v for v in values if v is not None))


def _ref_name(schema: dict[str, Any]) -> str:
    return str(schema["$ref"]).rsplit("/", 1)[-1]


class _TypeReader:
    """Annotations for the spec's schemas; collects the request objects that need a ``TypedDict``."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.params: dict[str, ParamDict | None] = {}  # None while its fields are being read

    def _schema(self, name: str) -> dict[str, Any]:
        schema: dict[str, Any] = self.spec["components"]["schemas"][name]
        return schema

    def scalar(self, schema: dict[str, Any], where: str) -> Annotation:
        if "$ref" in schema:
            if "enum" in self._schema(_ref_name(schema)):
                return Annotation(_ref_name(schema), LITERALS)
            raise ValueError(f"{SOURCE}: {where}: an object is not a parameter type")
        if "enum" in schema:
            return _literal(schema["enum"])
        kind = schema.get("type")
        if kind == "string" and schema.get("format") == "uuid":
            return _union(Annotation("UUID", "uuid"), Annotation("str"))
        simple = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
        if kind in simple:
            return Annotation(simple[kind])
        raise ValueError(f"{SOURCE}: {where}: no Python type for the schema {schema}")

    def input(self, schema: dict[str, Any], where: str) -> Annotation:
        """The annotation of a request field: a nested object as its model or its TypedDict."""
        if "$ref" in schema and "enum" not in self._schema(_ref_name(schema)):
            name = _ref_name(schema)
            if name not in self.params:
                self.params[name] = None
                self.params[name] = self._param_dict(name)
            return _union(Annotation(name, MODELS), Annotation(f"{name}Param", PARAMS))
        if schema.get("type") == "array":
            return Annotation("Sequence", "collections.abc", args=(self.input(schema["items"], where),))
        return self.scalar(schema, where)

    def _param_dict(self, name: str) -> ParamDict:
        schema = self._schema(name)
        fields = []
        for prop_name, prop in schema.get("properties", {}).items():
            annotation = self.input(prop, f"{name}.{prop_name}")
            if prop_name not in schema.get("required", []):
                annotation = Annotation("NotRequired", "typing", args=(annotation,))
            fields.append(ParamField(prop_name, annotation, prop.get("description", "")))
        return ParamDict(f"{name}Param", schema.get("description", name), tuple(fields))


RawOperation = tuple[str, str, dict[str, Any], dict[str, Any]]
"""An operation as the spec has it: path, method, operation, path item."""


def _raw_operations(spec: dict[str, Any]) -> dict[str, RawOperation]:
    """The operations by operationId."""
    return {
        item[method]["operationId"]: (path, method, item[method], item)
        for path, item in spec["paths"].items()
        for method in rest.METHODS
        if method in item
    }


def _parameters(
    spec: dict[str, Any], types: _TypeReader, op_id: str, op: dict[str, Any], item: dict[str, Any]
) -> tuple[list[Arg], Arg | None]:
    """The path and query parameters, and the ``Idempotency-Key`` header if there is one."""
    args: list[Arg] = []
    idempotency = None
    for param_ref in [*item.get("parameters", []), *op.get("parameters", [])]:
        param = rest._resolve(spec, param_ref)
        where = f"{op_id} parameter {param['name']}"
        arg = Arg(
            name=rest._python_name(param["name"]),
            wire=param["name"],
            location=param["in"],
            annotation=types.scalar(param["schema"], where),
            required=bool(param.get("required")) or param["in"] == "path",
            doc=param.get("description", ""),
        )
        if param["in"] == "header" and param["name"] == IDEMPOTENCY_HEADER:
            idempotency = arg
        elif param["in"] in ("path", "query"):
            args.append(arg)
        else:
            raise ValueError(f"{SOURCE}: {where}: the SDK generator supports no {param['in']} parameter")
    return args, idempotency


def _body_args(spec: dict[str, Any], types: _TypeReader, body_model: str) -> list[Arg]:
    body = spec["components"]["schemas"][body_model]
    args = []
    for prop_name, prop in body.get("properties", {}).items():
        if rest._python_name(prop_name) != prop_name:
            raise ValueError(f"{SOURCE}: {body_model}.{prop_name} is not a Python name")
        args.append(
            Arg(
                name=prop_name,
                wire=prop_name,
                location="body",
                annotation=types.input(prop, f"{body_model}.{prop_name}"),
                required=prop_name in body.get("required", []),
                doc=prop.get("description", ""),
            )
        )
    return args


def _method(spec: dict[str, Any], types: _TypeReader, op: rest.Operation, raw: RawOperation) -> Method:
    path, http, raw_op, item = raw
    resource, _, name = op.operation_id.partition(".")
    args, idempotency = _parameters(spec, types, op.operation_id, raw_op, item)
    if set(re.findall(r"\{([^}]*)\}", path)) != {a.wire for a in args if a.location == "path"}:
        raise ValueError(f"{SOURCE}: {op.operation_id}: the path parameters do not match {path}")
    body_model = op.body_model.removeprefix("models.") if op.body_model else None
    if body_model:
        args += _body_args(spec, types, body_model)
    reply = op.reply_model.removeprefix("models.")
    reply_props = spec["components"]["schemas"][reply].get("properties", {})
    page_item = None
    if "items" in reply_props and "next_page_token" in reply_props:
        page_item = _ref_name(reply_props["items"]["items"])
    accept = []
    statuses = []
    for status, response_ref in raw_op["responses"].items():
        if str(status).startswith("2"):
            continue
        content = rest._resolve(spec, response_ref).get("content", {})
        json_schema = content.get("application/json", {}).get("schema", {})
        if json_schema.get("$ref", "").endswith(f"/{reply}"):
            accept.append(int(status))
        elif status != "default":
            statuses.append(str(status))
    return Method(
        resource=resource,
        name=name,
        http=http.upper(),
        path=path,
        summary=raw_op.get("summary", ""),
        description=raw_op.get("description", ""),
        args=tuple(args),
        body_model=body_model,
        reply=reply,
        page_item=page_item,
        accept=tuple(sorted(accept)),
        secured=op.secured,
        keeps_token="access_token" in reply_props,
        idempotency=idempotency,
        error_statuses=tuple(sorted(statuses)),
    )


def read(spec: dict[str, Any]) -> Sdk:
    """The SDK the spec describes."""
    types = _TypeReader(spec)
    raw = _raw_operations(spec)
    # The REST generator's reading of the spec, and its checks.
    methods = [_method(spec, types, op, raw[op.operation_id]) for op in rest._operations(spec)]
    by_resource: dict[str, list[Method]] = {}
    for method in methods:
        if not method.resource.isidentifier() or keyword.iskeyword(method.resource):
            raise ValueError(f"{SOURCE}: resource {method.resource!r} is not a Python name")
        by_resource.setdefault(method.resource, []).append(method)
    tags = {tag["name"]: tag.get("description", tag["name"]) for tag in spec.get("tags", [])}
    schemas = spec["components"]["schemas"]
    return Sdk(
        version=str(spec["info"]["version"]),
        resources=tuple(
            Resource(name, tags.get(name, name), tuple(by_resource[name]), MIXINS.get(name))
            for name in sorted(by_resource)
        ),
        literals=tuple(
            LiteralAlias(name, _literal(schema["enum"]), schema.get("description", name))
            for name, schema in schemas.items()
            if "enum" in schema
        ),
        params=tuple(p for _, p in sorted(types.params.items()) if p),
    )

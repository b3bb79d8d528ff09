"""The typed REST layer from ``specs/openapi.yaml``: models, one Protocol per operation, the route table.

- ``ecommerce.rest.models``: pydantic v2 request/response models (datamodel-code-generator).
- ``ecommerce.rest.operations``: ``Reply``, one ``Protocol`` per operation (what its implementation must
  look like, with typed body, parameters and reply) and ``Operations``, the set of all of them.
- ``ecommerce.rest.routes``: ``route_table(operations, request_headers)``, one adapter per operationId that
  takes what connexion passes (path and query parameters, ``body`` as a dict, ``token_info``), builds
  the typed arguments, calls the operation and renders its ``Reply``. The gateway gives the table to
  connexion as its resolver, so an operation whose signature drifts from the spec fails ``mypy``.
- ``ecommerce/rest/openapi.yaml``: the spec itself, byte for byte, as package data: what the gateway
  serves and validates against is the document its routes were generated from, installed with them.

The generated code does not import connexion: header parameters, which connexion does not pass to
operations, are read through the ``request_headers`` callable the gateway supplies.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from spectools.models import pydantic_models
from spectools.tree import Tree, header, ruff_format

SOURCE = "specs/openapi.yaml"
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Param:
    name: str  # as in the spec
    python: str  # the Python argument name
    location: str  # path, query or header
    annotation: str
    required: bool
    default: Any  # the spec's default, filled in by connexion when the client sends none


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    summary: str
    params: tuple[Param, ...]
    body_model: str | None
    reply_model: str
    secured: bool

    @property
    def attr(self) -> str:
        return self.operation_id.replace(".", "_")

    @property
    def protocol(self) -> str:
        return "".join(part.capitalize() for part in self.attr.split("_"))


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _python_name(name: str) -> str:
    python = name.lower().replace("-", "_")
    return python + "_" if keyword.iskeyword(python) else python


def _annotation(spec: dict[str, Any], schema: dict[str, Any]) -> str:
    if "$ref" in schema and "enum" not in _resolve(spec, schema):
        return "models." + str(schema["$ref"]).rsplit("/", 1)[-1]
    schema = _resolve(spec, schema)
    if "enum" in schema:
        return "Literal[" + ", ".join(f'"{v}"' for v in schema["enum"]) + "]"
    if schema.get("type") == "integer":
        return "int"
    if schema.get("format") == "uuid":
        return "UUID"
    return "str"


def _model_of(spec: dict[str, Any], content: dict[str, Any] | None) -> str | None:
    if not content or "application/json" not in content:
        return None
    schema = content["application/json"]["schema"]
    return "models." + str(schema["$ref"]).rsplit("/", 1)[-1]


def _operations(spec: dict[str, Any]) -> list[Operation]:
    default_security = spec.get("security", [])
    operations = []
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            params = []
            for raw in [*item.get("parameters", []), *op.get("parameters", [])]:
                param = _resolve(spec, raw)
                required = param.get("required", False) or param["in"] == "path"
                schema = _resolve(spec, param["schema"])
                params.append(
                    Param(
                        name=param["name"],
                        python=_python_name(param["name"]),
                        location=param["in"],
                        annotation=_annotation(spec, param["schema"]),
                        required=required,
                        default=schema.get("default"),
                    )
                )
            success = sorted(code for code in op["responses"] if str(code).startswith("2"))
            replies = {
                _model_of(spec, _resolve(spec, op["responses"][code]).get("content")) for code in success
            }
            if len(replies) != 1 or None in replies:
                raise ValueError(f"{SOURCE}: {op['operationId']} needs one JSON schema for its 2xx responses")
            operations.append(
                Operation(
                    operation_id=op["operationId"],
                    method=method.upper(),
                    path=path,
                    summary=op.get("summary", ""),
                    params=tuple(params),
                    body_model=_model_of(spec, op.get("requestBody", {}).get("content")),
                    reply_model=str(replies.pop()),
                    secured=bool(op.get("security", default_security)),
                )
            )
    return sorted(operations, key=lambda o: o.operation_id)


def _signature(op: Operation) -> list[str]:
    """Keyword-only arguments of an operation: token, body, then parameters (required first)."""
    args = []
    if op.secured:
        args.append("token: TokenInfo")
    if op.body_model:
        args.append(f"body: {op.body_model}")
    for p in sorted(op.params, key=lambda p: not (p.required or p.default is not None)):
        optional = not p.required and p.default is None
        args.append(f"{p.python}: {p.annotation}" + (" | None" if optional else ""))
    return args


def _operations_module(ops: list[Operation]) -> str:
    out = [
        header(SOURCE),
        '"""One Protocol per REST operation: the typed shape the gateway implements for each."""',
        "",
        "from __future__ import annotations",
        "",
        "from collections.abc import Mapping",
        "from dataclasses import dataclass, field",
        "from typing import Any, Generic, Literal, Protocol, TypeVar",
        "from uuid import UUID",
        "",
        "from pydantic import BaseModel",
        "",
        "from ecommerce.rest import models",
        "",
        'ModelT = TypeVar("ModelT", bound=BaseModel, covariant=True)',
        "",
        "TokenInfo = Mapping[str, Any]",
        '"""What the bearer-token check returned for the caller (the verified JWT claims)."""',
        "",
        "",
        "@dataclass(frozen=True, slots=True)",
        "class Reply(Generic[ModelT]):",
        '    """A successful response: status, body and extra headers."""',
        "",
        "    status: int",
        "    body: ModelT",
        "    headers: Mapping[str, str] = field(default_factory=dict)",
        "",
        "",
        "class InvalidParameter(ValueError):",
        '    """A parameter its schema let through but typed parsing did not (a malformed UUID)."""',
        "",
        "    def __init__(self, name: str, detail: str) -> None:",
        '        super().__init__(f"{name}: {detail}")',
        "        self.name = name",
        "        self.detail = detail",
    ]
    for op in ops:
        args = ", ".join(["self", "*", *_signature(op)] if _signature(op) else ["self"])
        out += [
            "",
            "",
            f"class {op.protocol}(Protocol):",
            f'    """{op.method} {op.path} ({op.operation_id}): {op.summary}"""',
            "",
            f"    async def __call__({args}) -> Reply[{op.reply_model}]: ...",
        ]
    out += [
        "",
        "",
        "class Operations(Protocol):",
        '    """Every operation of the API; the gateway implements this."""',
    ]
    for op in ops:
        out += ["", "    @property", f"    def {op.attr}(self) -> {op.protocol}: ..."]
    return ruff_format("\n".join(out) + "\n")


def _adapter(op: Operation) -> list[str]:
    """An inner function of route_table for one operation, in connexion's calling convention."""
    conn_args = []
    if op.body_model:
        conn_args.append("body: dict[str, Any]")
    if op.secured:
        conn_args.append("token_info: dict[str, Any]")
    for p in op.params:
        if p.location == "header":
            continue
        raw = "int" if p.annotation == "int" else "str"
        if p.required:
            conn_args.append(f"{p.python}: {raw}")
        elif p.default is not None:
            conn_args.append(f"{p.python}: {raw} = {p.default!r}")
        else:
            conn_args.append(f"{p.python}: {raw} | None = None")
    call = []
    if op.secured:
        call.append("token=token_info")
    if op.body_model:
        call.append(f"body=_parse_body({op.body_model}, body)")
    lines = [f"    async def {op.attr}({', '.join(conn_args)}) -> RouteResult:"]
    if any(p.location == "header" for p in op.params):
        lines.append("        headers = request_headers()")
    for p in op.params:
        if p.location == "header":
            value = f'headers["{p.name}"]' if p.required else f'headers.get("{p.name}")'
        else:
            value = p.python
        if p.annotation == "UUID":
            value = f'_uuid("{p.name}", {value})' if p.required else f'_optional_uuid("{p.name}", {value})'
        elif p.annotation.startswith("Literal["):
            optional = not p.required and p.default is None
            value = f"cast({p.annotation}{' | None' if optional else ''}, {value})"
        call.append(f"{p.python}={value}")
    lines.append(f"        return _render(await operations.{op.attr}({', '.join(call)}))")
    return lines


def _routes_module(ops: list[Operation]) -> str:
    out = [
        header(SOURCE),
        '"""The route table connexion resolves operationIds through; adapters to Operations."""',
        "",
        "from __future__ import annotations",
        "",
        "from collections.abc import Awaitable, Callable, Mapping",
        "from types import MappingProxyType",
        "from typing import Any, Literal, TypeVar, cast",
        "from uuid import UUID",
        "",
        "from pydantic import BaseModel, ValidationError",
        "",
        "from ecommerce.rest import models",
        "from ecommerce.rest.operations import InvalidParameter, Operations, Reply",
        "",
        "RouteResult = tuple[Any, int, dict[str, str]]",
        "Route = Callable[..., Awaitable[RouteResult]]",
        'BodyT = TypeVar("BodyT", bound=BaseModel)',
        "",
        "OPERATION_IDS: tuple[str, ...] = (",
        *[f'    "{op.operation_id}",' for op in ops],
        ")",
        "",
        "",
        "def _uuid(name: str, value: str) -> UUID:",
        "    try:",
        "        return UUID(value)",
        "    except ValueError:",
        '        raise InvalidParameter(name, f"{value!r} is not a UUID") from None',
        "",
        "",
        "def _optional_uuid(name: str, value: str | None) -> UUID | None:",
        "    return None if value is None else _uuid(name, value)",
        "",
        "",
        "def _parse_body(model: type[BodyT], body: dict[str, Any]) -> BodyT:",
        "    try:",
        "        return model.model_validate(body)",
        "    except ValidationError as error:",
        "        first = error.errors()[0]",
        '        where = ".".join(str(part) for part in first["loc"]) or "body"',
        '        raise InvalidParameter(where, first["msg"]) from None',
        "",
        "",
        "def _render(reply: Reply[BaseModel]) -> RouteResult:",
        "    # Every operation also declares application/problem+json, so the success type must be explicit.",
        '    headers = {"Content-Type": "application/json", **reply.headers}',
        '    return reply.body.model_dump(mode="json", exclude_none=True), reply.status, headers',
        "",
        "",
        "def route_table(",
        "    operations: Operations, request_headers: Callable[[], Mapping[str, str]]",
        ") -> Mapping[str, Route]:",
        '    """operationId -> the function connexion calls; ``request_headers()`` gives the headers."""',
    ]
    for op in ops:
        out += ["", *_adapter(op)]
    out += [
        "",
        "    return MappingProxyType(",
        "        {",
        *[f'            "{op.operation_id}": {op.attr},' for op in ops],
        "        }",
        "    )",
    ]
    return ruff_format("\n".join(out) + "\n")


def _verbatim(spec_path: Path) -> str:
    """The spec's text, refused when writing it back as text would not give the same bytes."""
    text = spec_path.read_bytes().decode("utf-8")
    if "\r" in text or not text.endswith("\n"):
        raise ValueError(f"{SOURCE}: use LF line endings and end the file with a newline")
    return text


def generate(spec_path: Path, tree: Tree, package_dir: str) -> None:
    spec = yaml.safe_load(spec_path.read_text())
    ops = _operations(spec)
    base = f"{package_dir}/ecommerce/rest"
    tree.add(f"{base}/__init__.py", header(SOURCE) + '"""The REST contract of the API gateway."""\n')
    tree.add(f"{base}/models.py", pydantic_models(spec_path, "openapi", SOURCE))
    tree.add(f"{base}/operations.py", _operations_module(ops))
    tree.add(f"{base}/routes.py", _routes_module(ops))
    tree.add(f"{base}/openapi.yaml", _verbatim(spec_path))

"""The generated half of the Python client SDK (``sdk/``), from ``specs/openapi.yaml``.

Written into the SDK's package, ``<package_dir>/ecommerce_sdk/`` (``sdk/src``, beside ``generated/``), next
to its hand-written core (``_base_client.py``, ``_client.py``, ``_exceptions.py``, ``pagination.py``...):

- ``_version.py``: ``__version__`` = the spec's ``info.version``; ``sdk/pyproject.toml`` reads it.
- ``types/_models.py``: pydantic models by datamodel-code-generator, from a copy of the spec prepared for a
  client: a schema that appears in a response accepts unknown fields (an older SDK keeps working against a
  newer server), request schemas stay closed; ``format: email`` and ``format: password`` are plain strings
  (no email-validator dependency; a password is sent as typed); the models an operation returns, and the
  items of the pages it returns, derive from ``ResponseModel``, which carries the response's request id.
- ``types/_literals.py``: a ``Literal`` alias per enum schema (``OrderStatus``...).
- ``types/_params.py``: a ``TypedDict`` per object a request body nests (``OrderLineInputParam``), so
  ``items=[{"sku": "MUG-001", "quantity": 2}]`` type-checks as well as a model does.
- ``resources/<resource>.py``: per resource (the operationId before the dot) a sync and an async class,
  one method per operation (the part after the dot): path parameters positional, body fields and query
  parameters keyword-only, an ``idempotency_key`` where the spec has an ``Idempotency-Key`` header, a
  per-call ``timeout``. A list operation (its reply has ``items`` and ``next_page_token``) returns an
  auto-paginating page; an operation whose reply has an ``access_token`` keeps it on the client; error
  statuses whose body is the reply schema (the readiness probe's 503) return it instead of raising.
- ``resources/__init__.py``: ``ClientResources`` / ``AsyncClientResources``, one attribute per resource,
  which ``Client`` / ``AsyncClient`` in ``_client.py`` derive from.
"""

from __future__ import annotations

import copy
import json
import keyword
import re
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from spectools import rest
from spectools.models import pydantic_models
from spectools.tree import Tree, header

SOURCE = "specs/openapi.yaml"
PACKAGE = "ecommerce_sdk"
RESPONSE_BASE = f"{PACKAGE}._base_model.ResponseModel"
PLAIN_FORMATS = frozenset({"email", "password"})
IDEMPOTENCY_HEADER = "Idempotency-Key"
PAGING_PARAMS = ("page_size", "page_token")
MIXINS = {"orders": (f"{PACKAGE}._order_status", "WaitForOrderStatus", "AsyncWaitForOrderStatus")}
"""Hand-written helpers a generated resource takes on: module, sync mixin, async mixin."""
DOC_WIDTH = 108


@dataclass(frozen=True)
class Arg:
    name: str  # the Python argument
    wire: str  # the name in the spec
    location: str  # path, query or body
    annotation: str
    required: bool
    doc: str


@dataclass(frozen=True)
class Method:
    resource: str
    name: str
    http: str
    path: str
    summary: str
    description: str
    args: tuple[Arg, ...]
    body_model: str | None
    reply: str
    page_item: str | None
    accept: tuple[int, ...]
    secured: bool
    keeps_token: bool
    idempotency: Arg | None
    error_statuses: tuple[str, ...]

    @property
    def signature_args(self) -> list[Arg]:
        """Path parameters (positional), then required, then optional keyword arguments (the paging ones
        last: a caller filters more often than they page by hand)."""
        path = [a for a in self.args if a.location == "path"]
        rest_ = [a for a in self.args if a.location != "path"]
        optional = sorted((a for a in rest_ if not a.required), key=lambda a: a.wire in PAGING_PARAMS)
        return path + [a for a in rest_ if a.required] + optional


def _ref_name(schema: dict[str, Any]) -> str:
    return str(schema["$ref"]).rsplit("/", 1)[-1]


def _literal(values: list[Any]) -> str:
    return "Literal[" + ", ".join(json.dumps(v) for v in values if v is not None) + "]"


def _schemas_under(spec: dict[str, Any], node: Any, seen: set[str]) -> None:
    """Adds to ``seen`` every component schema ``node`` refers to, transitively."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = _ref_name(node)
            if name not in seen:
                seen.add(name)
                _schemas_under(spec, spec["components"]["schemas"][name], seen)
        for value in node.values():
            _schemas_under(spec, value, seen)
    elif isinstance(node, list):
        for value in node:
            _schemas_under(spec, value, seen)


def _raw_operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method in rest.METHODS:
            if method in item:
                yield path, method, item[method], item


class _Types:
    """The names of ``ecommerce_sdk.types`` a method needs, and the request objects that need a TypedDict."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.params: set[str] = set()

    def _schema(self, name: str) -> dict[str, Any]:
        schema: dict[str, Any] = self.spec["components"]["schemas"][name]
        return schema

    def scalar(self, schema: dict[str, Any], where: str) -> str:
        if "$ref" in schema:
            target = self._schema(_ref_name(schema))
            if "enum" in target:
                return f"types.{_ref_name(schema)}"
            raise ValueError(f"{SOURCE}: {where}: an object is not a parameter type")
        if "enum" in schema:
            return _literal(schema["enum"])
        kind, fmt = schema.get("type"), schema.get("format")
        if kind == "string":
            return "UUID | str" if fmt == "uuid" else "str"
        simple = {"integer": "int", "number": "float", "boolean": "bool"}
        if kind in simple:
            return simple[kind]
        raise ValueError(f"{SOURCE}: {where}: no Python type for the schema {schema}")

    def input(self, schema: dict[str, Any], where: str) -> str:
        """The annotation of a request field: nested objects as a model or its TypedDict."""
        if "$ref" in schema and "enum" not in self._schema(_ref_name(schema)):
            name = _ref_name(schema)
            if name not in self.params:
                self.params.add(name)
                for prop_name, prop in self._schema(name).get("properties", {}).items():
                    self.input(prop, f"{name}.{prop_name}")
            return f"types.{name} | types.{name}Param"
        if schema.get("type") == "array":
            return f"Sequence[{self.input(schema['items'], where)}]"
        return self.scalar(schema, where)


def _first_line(text: str) -> str:
    return " ".join(text.strip().split("\n\n")[0].split())


def _methods(spec: dict[str, Any], types: _Types) -> list[Method]:
    raw = {op["operationId"]: (path, method, op, item) for path, method, op, item in _raw_operations(spec)}
    schemas = spec["components"]["schemas"]
    methods = []
    for op in rest._operations(spec):  # the REST generator's reading of the spec, and its checks
        path, http, raw_op, item = raw[op.operation_id]
        resource, _, name = op.operation_id.partition(".")
        args: list[Arg] = []
        idempotency = None
        for param_ref in [*item.get("parameters", []), *raw_op.get("parameters", [])]:
            param = rest._resolve(spec, param_ref)
            where = f"{op.operation_id} parameter {param['name']}"
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
        body_model = op.body_model.removeprefix("models.") if op.body_model else None
        if body_model:
            body = schemas[body_model]
            for prop_name, prop in body.get("properties", {}).items():
                python = rest._python_name(prop_name)
                if python != prop_name:
                    raise ValueError(f"{SOURCE}: {body_model}.{prop_name} is not a Python name")
                args.append(
                    Arg(
                        name=python,
                        wire=prop_name,
                        location="body",
                        annotation=types.input(prop, f"{body_model}.{prop_name}"),
                        required=prop_name in body.get("required", []),
                        doc=prop.get("description", ""),
                    )
                )
        reply = op.reply_model.removeprefix("models.")
        reply_props = schemas[reply].get("properties", {})
        page_item = None
        if "items" in reply_props and "next_page_token" in reply_props:
            page_item = _ref_name(reply_props["items"]["items"])
        accept = []
        statuses = []
        for status, response_ref in raw_op["responses"].items():
            content = rest._resolve(spec, response_ref).get("content", {})
            if str(status).startswith("2"):
                continue
            json_schema = content.get("application/json", {}).get("schema", {})
            if json_schema.get("$ref", "").endswith(f"/{reply}"):
                accept.append(int(status))
            elif status != "default":
                statuses.append(str(status))
        methods.append(
            Method(
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
        )
    return methods


# --- rendering --------------------------------------------------------------------------------------------


def _doc_lines(text: str, indent: int, hanging: int = 0) -> list[str]:
    """``text`` re-wrapped to the line length, paragraph by paragraph, escaped for a docstring."""
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    lines: list[str] = []
    for paragraph in text.strip().split("\n\n"):
        if lines:
            lines.append("")
        lines += textwrap.wrap(
            " ".join(paragraph.split()),
            width=DOC_WIDTH - indent,
            subsequent_indent=" " * hanging,
            break_on_hyphens=False,
        )
    return [(" " * indent + line).rstrip() for line in lines]


def _short_doc(text: str, indent: int) -> list[str]:
    """A one-paragraph docstring at ``indent``, wrapped when it does not fit on one line."""
    pad = " " * indent
    lines = _doc_lines(text, 0) or [""]
    if len(lines) == 1 and indent + len(lines[0]) + 6 <= DOC_WIDTH:
        return [f'{pad}"""{lines[0]}"""']
    return [f'{pad}"""{lines[0]}', *[f"{pad}{line}" if line else "" for line in lines[1:]], f'{pad}"""']


def _docstring(method: Method) -> list[str]:
    pad = 8
    lines = [" " * pad + '"""' + method.summary.rstrip(".") + "."]
    if method.description:
        lines += ["", *_doc_lines(method.description, pad)]
    documented = list(method.signature_args)
    arg_docs = [(a.name, a.doc) for a in documented]
    if method.idempotency:
        arg_docs.append(("idempotency_key", method.idempotency.doc + " Generated when not given."))
    arg_docs.append(("timeout", "Seconds (or an ``httpx.Timeout``) for this call instead of the client's."))
    lines += ["", " " * pad + "Args:"]
    for name, doc in arg_docs:
        lines += _doc_lines(f"{name}: {_first_line(doc) or '-'}", pad + 4, hanging=4)
    if method.page_item:
        returns = f"Pages of ``{method.page_item}``; iterating one yields every item of every later page."
    elif method.keeps_token:
        returns = f"The ``{method.reply}``; its token is kept on the client for the calls that need it."
    else:
        returns = f"The ``{method.reply}``."
    if method.accept:
        codes = ", ".join(str(s) for s in method.accept)
        returns += f" Also on {codes}, whose body is a ``{method.reply}`` too."
    lines += ["", " " * pad + "Returns:", *_doc_lines(returns, pad + 4)]
    if method.error_statuses:
        raises = (
            f"APIStatusError: the subclass of the status ({', '.join(method.error_statuses)}); "
            "APIConnectionError when there is no answer."
        )
        lines += ["", " " * pad + "Raises:", *_doc_lines(raises, pad + 4, hanging=4)]
    lines += ["", " " * pad + f"``{method.http} /v1{method.path}``", " " * pad + '"""']
    return lines


def _call(method: Method) -> str:
    """The ``APICall(...)`` expression of a method."""
    path = method.path
    for arg in method.args:
        if arg.location == "path":
            path = path.replace("{" + arg.wire + "}", "{path_segment(" + arg.name + ")}")
    path_expr = ("f" if "{" in path else "") + json.dumps(path)
    parts = [json.dumps(method.http), path_expr]
    query = [a for a in method.args if a.location == "query"]
    if query:
        parts.append("query={" + ", ".join(f"{json.dumps(a.wire)}: {a.name}" for a in query) + "}")
    if method.body_model:
        parts.append("body=body")
    if method.secured:
        parts.append("secured=True")
    if method.idempotency:
        parts.append("idempotency_key=idempotency_key")
    parts.append("timeout=timeout")
    if method.accept:
        parts.append("accept=frozenset({" + ", ".join(str(s) for s in method.accept) + "})")
    return "APICall(" + ", ".join(parts) + ")"


def _method(method: Method, is_async: bool) -> list[str]:
    args = ["self"]
    for arg in method.signature_args:
        if arg.location != "path" and "*" not in args:
            args.append("*")
        optional = "" if arg.required else " | None = None"
        args.append(f"{arg.name}: {arg.annotation}{optional}")
    if "*" not in args:
        args.append("*")
    if method.idempotency:
        args.append("idempotency_key: str | None = None")
    args.append("timeout: RequestTimeout | None = None")
    awaits = is_async and not method.page_item
    if method.page_item:
        returns = f"{'AsyncPaginator' if is_async else 'SyncPage'}[types.{method.page_item}]"
    else:
        returns = f"types.{method.reply}"
    lines = [f"    {'async def' if awaits else 'def'} {method.name}({', '.join(args)}) -> {returns}:"]
    lines += _docstring(method)
    if method.body_model:
        fields = ", ".join(f"{json.dumps(a.wire)}: {a.name}" for a in method.args if a.location == "body")
        lines.append(f"        body = types.{method.body_model}.model_validate({{{fields}}})")
    call = _call(method)
    wait = "await " if awaits else ""
    if method.page_item:
        lines.append(f"        return self._client.get_page({call}, types.{method.reply})")
    elif method.keeps_token:
        lines += [
            f"        reply = {wait}self._client.request({call}, types.{method.reply})",
            "        self._client.api_token = reply.access_token",
            "        return reply",
        ]
    else:
        lines.append(f"        return {wait}self._client.request({call}, types.{method.reply})")
    return lines


def _class_name(resource: str) -> str:
    return "".join(part.capitalize() for part in resource.split("_"))


def _resource_module(resource: str, description: str, methods: list[Method]) -> str:
    name = _class_name(resource)
    source = "\n".join("\n".join(_method(m, a)) for m in methods for a in (False, True))
    mixin = MIXINS.get(resource)
    imports = [
        "from __future__ import annotations",
        "from collections.abc import Sequence" if "Sequence[" in source else "",
        "from typing import Literal" if "Literal[" in source else "",
        "from uuid import UUID" if "UUID" in source else "",
        "from ecommerce_sdk import types",
        "from ecommerce_sdk._base_client import APICall, AsyncAPIResource, RequestTimeout, SyncAPIResource"
        + (", path_segment" if "path_segment(" in source else ""),
    ]
    pages = sorted({"AsyncPaginator", "SyncPage"} if any(m.page_item for m in methods) else set())
    if pages:
        imports.append(f"from ecommerce_sdk.pagination import {', '.join(pages)}")
    if mixin:
        imports.append(f"from {mixin[0]} import {mixin[1]}, {mixin[2]}")
    out = [
        header(SOURCE),
        f'"""{name}: {description}"""',
        "",
        *[line for line in imports if line],
        "",
        f'__all__ = ["Async{name}", "{name}"]',
    ]
    for is_async in (False, True):
        cls = f"Async{name}" if is_async else name
        bases = ["AsyncAPIResource" if is_async else "SyncAPIResource"]
        if mixin:
            bases.insert(0, mixin[2] if is_async else mixin[1])
        doc = f"{description} The asyncio twin of ``{name}``." if is_async else description
        out += ["", "", f"class {cls}({', '.join(bases)}):", *_short_doc(doc, 4)]
        for method in methods:
            out += ["", *_method(method, is_async)]
    return "\n".join(out) + "\n"


def _resources_init(resources: dict[str, str]) -> str:
    out = [
        header(SOURCE),
        '"""The resources of the API, one module each, and the wiring ``Client`` and ``AsyncClient`` get."""',
        "",
        "from __future__ import annotations",
        "",
        "from functools import cached_property",
        "",
        "from ecommerce_sdk._base_client import AsyncAPIClient, SyncAPIClient",
    ]
    names = []
    for resource in resources:
        name = _class_name(resource)
        names += [name, f"Async{name}"]
        out.append(f"from ecommerce_sdk.resources.{resource} import Async{name}, {name}")
    out += ["", f"__all__ = {sorted([*names, 'AsyncClientResources', 'ClientResources'])!r}"]
    for is_async in (False, True):
        base = "AsyncAPIClient" if is_async else "SyncAPIClient"
        cls = "AsyncClientResources" if is_async else "ClientResources"
        out += [
            "",
            "",
            f"class {cls}({base}):",
            f'    """``{base}`` with one attribute per resource of the API."""',
        ]
        for resource, description in resources.items():
            name = ("Async" if is_async else "") + _class_name(resource)
            out += [
                "",
                "    @cached_property",
                f"    def {resource}(self) -> {name}:",
                f'        """{description}"""',
                f"        return {name}(self)",
            ]
    return "\n".join(out) + "\n"


def _literals_module(spec: dict[str, Any]) -> tuple[str, list[str]]:
    out = [
        header(SOURCE),
        '"""A ``Literal`` alias per enum schema of the API."""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import Literal, TypeAlias",
    ]
    names = []
    for name, schema in spec["components"]["schemas"].items():
        if "enum" in schema:
            names.append(name)
            out += ["", f"{name}: TypeAlias = {_literal(schema['enum'])}"]
            out += _short_doc(_first_line(schema.get("description", name)), 0)
    return "\n".join(out) + "\n", names


def _params_module(
    spec: dict[str, Any], types: _Types, model_names: list[str], literal_names: list[str]
) -> tuple[str, list[str]]:
    out = [
        header(SOURCE),
        '"""A ``TypedDict`` per object a request body nests: pass a dict or the model, as is handier."""',
        "",
        "from __future__ import annotations",
        "",
        "from collections.abc import Sequence",
        "from typing import Literal, NotRequired, TypedDict",
        "from uuid import UUID",
        "",
        f"from ecommerce_sdk.types._literals import {', '.join(literal_names)}",
        f"from ecommerce_sdk.types._models import {', '.join(model_names)}",
    ]
    names = []
    for name in sorted(types.params):
        schema = spec["components"]["schemas"][name]
        names.append(f"{name}Param")
        out += ["", "", f"class {name}Param(TypedDict):"]
        out += _short_doc(_first_line(schema.get("description", name)), 4)
        for prop_name, prop in schema.get("properties", {}).items():
            annotation = types.input(prop, f"{name}.{prop_name}").replace("types.", "")
            if prop_name not in schema.get("required", []):
                annotation = f"NotRequired[{annotation}]"
            out.append(f"    {prop_name}: {annotation}")
            out += _short_doc(_first_line(prop.get("description", "")), 4)
    return "\n".join(out) + "\n", names


def _client_spec(spec: dict[str, Any], replies: set[str]) -> dict[str, Any]:
    """The spec as the SDK's models should read it (see the module docstring)."""
    prepared = copy.deepcopy(spec)
    in_responses: set[str] = set()
    for _, _, op, _ in _raw_operations(spec):
        for response in op["responses"].values():
            _schemas_under(spec, rest._resolve(spec, response).get("content", {}), in_responses)
    schemas = prepared["components"]["schemas"]
    for name in sorted(in_responses):
        if schemas[name].get("additionalProperties") is False:
            del schemas[name]["additionalProperties"]
    for name in sorted(replies):
        schemas[name]["customBasePath"] = RESPONSE_BASE
    for node in _walk(schemas):
        if node.get("format") in PLAIN_FORMATS:
            del node["format"]
    return prepared


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _models_module(spec: dict[str, Any], replies: set[str]) -> tuple[str, list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "openapi.json"
        prepared.write_text(json.dumps(_client_spec(spec, replies), indent=1))
        code = pydantic_models(prepared, "openapi", SOURCE)
    names = re.findall(r"^class (\w+)\(", code, flags=re.MULTILINE)
    return code, names


def _types_init(modules: dict[str, list[str]]) -> str:
    out = [
        header(SOURCE),
        '"""The API\'s data types: models of its schemas, ``Literal`` aliases of enums, TypedDicts."""',
        "",
    ]
    everything: list[str] = []
    for module, names in modules.items():
        out.append(f"from ecommerce_sdk.types.{module} import {', '.join(sorted(names))}")
        everything += names
    duplicates = sorted({n for n in everything if everything.count(n) > 1})
    if duplicates:
        raise ValueError(f"{SOURCE}: these type names are generated twice: {duplicates}")
    out += ["", f"__all__ = {sorted(everything)!r}"]
    return "\n".join(out) + "\n"


def _tidy(modules: dict[str, str]) -> dict[str, str]:
    """The modules with imports sorted and unused ones dropped, as ``ruff check`` wants them, then
    formatted by ``ruff format``: two ruff runs over a temporary folder for all of them."""
    ruff = [sys.executable, "-m", "ruff"]
    settings = ["--isolated", "--target-version", "py311", "--line-length", "110", "--no-cache"]
    first_party = ["--config", f'lint.isort.known-first-party=["{PACKAGE}"]']
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for number, code in enumerate(modules.values()):
            (folder / f"m{number}.py").write_text(code)
        for command in (
            [*ruff, "check", *settings, *first_party, "--fix-only", "--exit-zero", "--select", "I,F401", tmp],
            [*ruff, "format", *settings, tmp],
        ):
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise RuntimeError(f"ruff failed on the generated SDK modules:\n{result.stderr}")
        return {path: (folder / f"m{number}.py").read_text() for number, path in enumerate(modules)}


def generate(spec_path: Path, tree: Tree, package_dir: str) -> None:
    spec = yaml.safe_load(spec_path.read_text())
    base = f"{package_dir}/{PACKAGE}"
    types = _Types(spec)
    methods = _methods(spec, types)
    tags = {tag["name"]: tag.get("description", tag["name"]) for tag in spec.get("tags", [])}
    by_resource: dict[str, list[Method]] = {}
    for method in methods:
        if not method.resource.isidentifier() or keyword.iskeyword(method.resource):
            raise ValueError(f"{SOURCE}: resource {method.resource!r} is not a Python name")
        by_resource.setdefault(method.resource, []).append(method)
    resources = {resource: tags.get(resource, resource) for resource in sorted(by_resource)}

    returned = {m.reply for m in methods} | {m.page_item for m in methods if m.page_item}
    models, model_names = _models_module(spec, returned)
    literals, literal_names = _literals_module(spec)
    params, param_names = _params_module(spec, types, model_names, literal_names)
    modules = {
        "_version.py": header(SOURCE)
        + '"""The SDK\'s version: ``info.version`` of the spec it was generated from."""\n\n'
        + f'__version__ = "{spec["info"]["version"]}"\n',
        "types/_models.py": models,
        "types/_literals.py": literals,
        "types/_params.py": params,
        "types/__init__.py": _types_init(
            {"_literals": literal_names, "_models": model_names, "_params": param_names}
        ),
        "resources/__init__.py": _resources_init(resources),
    }
    for resource, description in resources.items():
        modules[f"resources/{resource}.py"] = _resource_module(resource, description, by_resource[resource])
    for path, code in sorted(_tidy(modules).items()):
        tree.add(f"{base}/{path}", code)

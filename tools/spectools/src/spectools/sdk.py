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

``spectools.sdk_reader`` reads the spec into the model of ``spectools.sdk_model``; the Jinja2 templates of
``templates/sdk/`` render it (each module's imports come from the model: what it uses), and ruff formats
the result.
"""

from __future__ import annotations

import ast
import copy
import json
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import yaml

from spectools import rest
from spectools.models import pydantic_models
from spectools.sdk_model import PACKAGE, SOURCE, TYPES, UNION, Annotation, Sdk, import_sections
from spectools.sdk_reader import read
from spectools.tree import Tree, header

RESPONSE_BASE = f"{PACKAGE}._base_model.ResponseModel"
PLAIN_FORMATS = frozenset({"email", "password"})
DOC_WIDTH = 108


# --- filters of the templates -----------------------------------------------------------------------------


def _code(annotation: Annotation, qualified: bool = True) -> str:
    """``annotation`` as Python; the API's types as ``types.X`` when ``qualified``, else as imported."""
    if annotation.name == UNION:
        return " | ".join(_code(arg, qualified) for arg in annotation.args)
    name = annotation.name
    if qualified and annotation.module.startswith(TYPES):
        name = f"types.{name}"
    inside = [*(_code(arg, qualified) for arg in annotation.args), *map(json.dumps, annotation.values)]
    return f"{name}[{', '.join(inside)}]" if inside else name


def _first_line(text: str) -> str:
    """The first paragraph of ``text``, on one line."""
    return " ".join(text.strip().split("\n\n")[0].split())


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


def _doc(text: str, indent: int, hanging: int = 0) -> str:
    """``text`` wrapped for a docstring whose lines start at ``indent`` (the template indents the first)."""
    return "\n".join(_doc_lines(text, indent, hanging))[indent:]


def _short_doc(text: str, indent: int) -> str:
    """A one-paragraph docstring at ``indent`` (the template indents its first line), quotes included,
    wrapped when it does not fit on one line."""
    pad = " " * indent
    lines = _doc_lines(text, 0) or [""]
    if len(lines) == 1 and indent + len(lines[0]) + 6 <= DOC_WIDTH:
        return f'"""{lines[0]}"""'
    return "\n".join([f'"""{lines[0]}', *[f"{pad}{line}" if line else "" for line in lines[1:]], f'{pad}"""'])


_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("spectools", "templates/sdk"),
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_TEMPLATES.filters.update(
    code=_code, doc=_doc, short_doc=_short_doc, first_line=_first_line, literal=json.dumps
)
_TEMPLATES.globals["header"] = header(SOURCE).rstrip("\n")


def _render(template: str, **context: Any) -> str:
    return _TEMPLATES.get_template(template).render(**context)


# --- types/_models.py, by datamodel-code-generator ----------------------------------------------------------


def _client_spec(spec: dict[str, Any], replies: set[str]) -> dict[str, Any]:
    """The spec as the SDK's models should read it (see the module docstring)."""
    prepared = copy.deepcopy(spec)
    in_responses: set[str] = set()
    for path_item in spec["paths"].values():
        for method in rest.METHODS:
            for response in path_item.get(method, {}).get("responses", {}).values():
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


def _schemas_under(spec: dict[str, Any], node: Any, seen: set[str]) -> None:
    """Adds to ``seen`` every component schema ``node`` refers to, transitively."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = str(node["$ref"]).rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                _schemas_under(spec, spec["components"]["schemas"][name], seen)
        for value in node.values():
            _schemas_under(spec, value, seen)
    elif isinstance(node, list):
        for value in node:
            _schemas_under(spec, value, seen)


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _models_module(spec: dict[str, Any], replies: set[str]) -> tuple[str, list[str]]:
    """The models module, and the classes it defines."""
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "openapi.json"
        prepared.write_text(json.dumps(_client_spec(spec, replies), indent=1))
        code = pydantic_models(prepared, "openapi", SOURCE)
    names = [node.name for node in ast.parse(code).body if isinstance(node, ast.ClassDef)]
    return code, names


# --- the modules ------------------------------------------------------------------------------------------


def _modules(spec: dict[str, Any], sdk: Sdk) -> dict[str, str]:
    models, model_names = _models_module(spec, sdk.returned)
    exports = sdk.type_exports(model_names)
    modules = {
        "_version.py": _render("_version.py.j2", version=sdk.version),
        "types/_models.py": models,
        "types/_literals.py": _render("literals.py.j2", literals=sdk.literals, imports=sdk.literals_imports),
        "types/_params.py": _render("params.py.j2", params=sdk.params, imports=sdk.params_imports),
        "types/__init__.py": _render(
            "types_init.py.j2", imports=import_sections(exports), names=sorted(n for _, n in exports)
        ),
        "resources/__init__.py": _render(
            "resources_init.py.j2",
            resources=sdk.resources,
            imports=sdk.resources_imports,
            names=sorted(["AsyncClientResources", "ClientResources", *(n for _, n in sdk.resource_classes)]),
        ),
    }
    for resource in sdk.resources:
        modules[f"resources/{resource.name}.py"] = _render("resource.py.j2", resource=resource)
    return modules


def _tidy(modules: dict[str, str]) -> dict[str, str]:
    """The modules formatted by ``ruff format``, and the imports of datamodel-code-generator's sorted by
    ``ruff check`` (it does not know the SDK is first-party): over a temporary folder, for all at once."""
    ruff = [sys.executable, "-m", "ruff"]
    settings = ["--isolated", "--target-version", "py311", "--line-length", "110", "--no-cache"]
    first_party = ["--config", f'lint.isort.known-first-party=["{PACKAGE}"]']
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = {path: folder / f"m{number}.py" for number, path in enumerate(modules)}
        for path, code in modules.items():
            files[path].write_text(code)
        models = str(files["types/_models.py"])
        for command in (
            [*ruff, "check", *settings, *first_party, "--fix-only", "--exit-zero", "--select", "I", models],
            [*ruff, "format", *settings, tmp],
        ):
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise RuntimeError(f"ruff failed on the generated SDK modules:\n{result.stderr}")
        return {path: file.read_text() for path, file in files.items()}


def generate(spec_path: Path, tree: Tree, package_dir: str) -> None:
    spec = yaml.safe_load(spec_path.read_text())
    for path, code in sorted(_tidy(_modules(spec, read(spec))).items()):
        tree.add(f"{package_dir}/{PACKAGE}/{path}", code)

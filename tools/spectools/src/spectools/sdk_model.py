"""The model of the generated half of the SDK: its resources and their methods, the types their arguments
use, the enums and the request objects; and, from what each module uses, the imports it needs.
``spectools.sdk_reader`` builds it from ``specs/openapi.yaml``; ``spectools.sdk`` renders it through the
templates in ``templates/sdk/``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

SOURCE = "specs/openapi.yaml"
PACKAGE = "ecommerce_sdk"
TYPES = f"{PACKAGE}.types"
MODELS = f"{TYPES}._models"
LITERALS = f"{TYPES}._literals"
PARAMS = f"{TYPES}._params"
BASE_CLIENT = f"{PACKAGE}._base_client"
PAGINATION = f"{PACKAGE}.pagination"
PAGING_PARAMS = ("page_size", "page_token")
UNION = "|"

Use = tuple[str, str]
"""A name a module uses: (the module it is imported from, the name)."""


@dataclass(frozen=True)
class Annotation:
    """A type annotation as a tree: ``name``, imported from ``module`` ("" for a builtin), subscripted with
    ``args`` (or, for a ``Literal``, with ``values``); when ``name`` is ``UNION``, ``args`` joined by ``|``.
    The names of ``ecommerce_sdk.types`` have its submodule (``MODELS``...) as ``module``."""

    name: str
    module: str = ""
    args: tuple[Annotation, ...] = ()
    values: tuple[Any, ...] = ()

    def uses(self) -> Iterator[Use]:
        if self.module:
            yield self.module, self.name
        for arg in self.args:
            yield from arg.uses()


@dataclass(frozen=True)
class Arg:
    name: str  # the Python argument
    wire: str  # the name in the spec
    location: str  # path, query, header or body
    annotation: Annotation
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
    args: tuple[Arg, ...]  # path and query parameters in the spec's order, then the body's fields
    body_model: str | None
    reply: str
    page_item: str | None
    accept: tuple[int, ...]  # error statuses whose body is the reply
    secured: bool
    keeps_token: bool
    idempotency: Arg | None
    error_statuses: tuple[str, ...]

    @property
    def path_args(self) -> list[Arg]:
        return [a for a in self.args if a.location == "path"]

    @property
    def keyword_args(self) -> list[Arg]:
        """Required, then optional keyword arguments (the paging ones last: a caller filters more often
        than they page by hand)."""
        others = [a for a in self.args if a.location != "path"]
        optional = sorted((a for a in others if not a.required), key=lambda a: a.wire in PAGING_PARAMS)
        return [a for a in others if a.required] + optional

    @property
    def signature_args(self) -> list[Arg]:
        """Path parameters (positional), then the keyword arguments."""
        return self.path_args + self.keyword_args

    @property
    def query_args(self) -> list[Arg]:
        return [a for a in self.args if a.location == "query"]

    @property
    def body_args(self) -> list[Arg]:
        return [a for a in self.args if a.location == "body"]

    @property
    def path_parts(self) -> list[str | Arg]:
        """The path split around its parameters: text, a parameter's ``Arg``, text... (no empty text)."""
        args = {a.wire: a for a in self.path_args}
        parts = re.split(r"\{([^}]*)\}", self.path)  # the parameters' names at the odd indices
        return [args[part] if index % 2 else part for index, part in enumerate(parts) if index % 2 or part]


@dataclass(frozen=True)
class Mixin:
    """A hand-written helper a generated resource takes on: its module, sync and async classes."""

    module: str
    sync: str
    async_: str


@dataclass(frozen=True)
class Resource:
    name: str  # the operationId before the dot: module and client attribute
    description: str
    methods: tuple[Method, ...]
    mixin: Mixin | None

    @property
    def class_name(self) -> str:
        return _class_name(self.name)

    @property
    def imports(self) -> list[list[Import]]:
        uses: list[Use] = [
            (BASE_CLIENT, name)
            for name in ("APICall", "AsyncAPIResource", "RequestTimeout", "SyncAPIResource")
        ]
        if self.mixin:
            uses += [(self.mixin.module, self.mixin.sync), (self.mixin.module, self.mixin.async_)]
        for method in self.methods:
            uses.append((PACKAGE, "types"))  # the reply
            if method.path_args:
                uses.append((BASE_CLIENT, "path_segment"))
            if method.page_item:
                uses += [(PAGINATION, "AsyncPaginator"), (PAGINATION, "SyncPage")]
            for arg in method.args:
                # Here the API's types are spelt ``types.X``.
                uses += [
                    (PACKAGE, "types") if m.startswith(TYPES) else (m, n) for m, n in arg.annotation.uses()
                ]
        return import_sections(uses)


def _class_name(resource: str) -> str:
    return "".join(part.capitalize() for part in resource.split("_"))


@dataclass(frozen=True)
class LiteralAlias:
    """A ``Literal`` alias of an enum schema."""

    name: str
    annotation: Annotation
    description: str


@dataclass(frozen=True)
class ParamField:
    name: str
    annotation: Annotation  # ``NotRequired[...]`` when the key may be left out
    description: str


@dataclass(frozen=True)
class ParamDict:
    """The ``TypedDict`` of an object a request body nests (``OrderLineInputParam``), beside its model."""

    name: str
    description: str
    fields: tuple[ParamField, ...]


@dataclass(frozen=True)
class Sdk:
    """The generated half of the SDK."""

    version: str
    resources: tuple[Resource, ...]
    literals: tuple[LiteralAlias, ...]
    params: tuple[ParamDict, ...]

    @property
    def returned(self) -> set[str]:
        """The models an operation returns, and the items of the pages it returns."""
        methods = [m for r in self.resources for m in r.methods]
        return {m.reply for m in methods} | {m.page_item for m in methods if m.page_item}

    @property
    def resource_classes(self) -> list[Use]:
        return [
            (f"{PACKAGE}.resources.{r.name}", name)
            for r in self.resources
            for name in (r.class_name, f"Async{r.class_name}")
        ]

    @property
    def resources_imports(self) -> list[list[Import]]:
        uses = [
            ("functools", "cached_property"),
            (BASE_CLIENT, "AsyncAPIClient"),
            (BASE_CLIENT, "SyncAPIClient"),
        ]
        return import_sections([*uses, *self.resource_classes])

    @property
    def literals_imports(self) -> list[list[Import]]:
        return import_sections(
            use for alias in self.literals for use in (("typing", "TypeAlias"), *alias.annotation.uses())
        )

    @property
    def params_imports(self) -> list[list[Import]]:
        uses = [("typing", "TypedDict")] if self.params else []
        uses += [use for p in self.params for f in p.fields for use in f.annotation.uses()]
        return import_sections(use for use in uses if use[0] != PARAMS)  # those are defined here

    def type_exports(self, model_names: Iterable[str]) -> list[Use]:
        """What ``ecommerce_sdk.types`` re-exports, given the classes of ``_models`` (which
        datamodel-code-generator names)."""
        exports = [
            *((LITERALS, alias.name) for alias in self.literals),
            *((MODELS, name) for name in model_names),
            *((PARAMS, p.name) for p in self.params),
        ]
        names = [name for _, name in exports]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"{SOURCE}: these type names are generated twice: {duplicates}")
        return exports


@dataclass(frozen=True)
class Import:
    module: str
    names: tuple[str, ...]


def import_sections(uses: Iterable[Use]) -> list[list[Import]]:
    """One ``from <module> import <names>`` per module used, in ruff's (isort's) order: the standard
    library, third-party packages, then the SDK, a section each."""
    by_module: dict[str, set[str]] = {}
    for module, name in uses:
        by_module.setdefault(module, set()).add(name)
    sections: list[list[Import]] = [[], [], []]
    for module in sorted(by_module, key=lambda m: (m.lower(), m)):
        root = module.partition(".")[0]
        section = 0 if root in sys.stdlib_module_names else 2 if root == PACKAGE else 1
        sections[section].append(Import(module, tuple(sorted(by_module[module], key=_member_key))))
    return [section for section in sections if section]


def _member_key(name: str) -> tuple[int, str, str]:
    """isort's order by type: constants, classes, then functions and variables."""
    kind = 0 if len(name) > 1 and name.isupper() else 1 if name[:1].isupper() else 2
    return kind, name.lower(), name

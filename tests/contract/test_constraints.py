"""``ecommerce.rest.constraints``: every limit of ``specs/openapi.yaml``, taken from the spec, deterministic.

The hand-written checks (the orders domain and gRPC edge, the gateway's request id, token and settings
limits) import these constants, so what is proved here is what keeps them in step with the spec.
"""

from __future__ import annotations

import copy
import importlib.util
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from ecommerce.rest import constraints as generated
from spectools import constraints
from spectools.tree import Tree

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "specs" / "openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
MODULE = "contracts/src/ecommerce/rest/constraints.py"


def _regenerate(spec_path: Path, out: Path) -> ModuleType:
    """Generates the constraints module for ``spec_path`` under ``out`` and imports it from there."""
    tree = Tree()
    constraints.generate(spec_path, tree, "contracts/src")
    tree.write(out)
    module_spec = importlib.util.spec_from_file_location("regenerated_constraints", out / MODULE)
    assert module_spec is not None
    assert module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _ref(node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" not in node:
        return node
    target: Any = SPEC
    for part in node["$ref"].removeprefix("#/").split("/"):
        target = target[part]
    return _ref(target)


def _limits(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k in constraints.KEYWORDS}


def _expected() -> Iterator[tuple[str, str, Any]]:
    """(where in the spec, constant name, value) for every limit, walked here independently of the
    generator: component schema properties, the parameters and the response headers operations use."""
    for schema_name, schema in SPEC["components"]["schemas"].items():
        for prop, sub in schema.get("properties", {}).items():
            for keyword, value in _limits(sub).items():
                name = f"{constraints.constant_name(schema_name, prop)}_{constraints.KEYWORDS[keyword]}"
                yield f"{schema_name}.{prop}.{keyword}", name, value
    for path, item in SPEC["paths"].items():
        for method, operation in ((m, item[m]) for m in constraints.METHODS if m in item):
            for raw in operation.get("parameters", []):
                param = _ref(raw)
                for keyword, value in _limits(_ref(param["schema"])).items():
                    prefix = constraints.constant_name(param["in"], param["name"])
                    yield (
                        f"{method} {path} {param['name']}",
                        f"{prefix}_{constraints.KEYWORDS[keyword]}",
                        value,
                    )
            for response in operation["responses"].values():
                for header, raw in _ref(response).get("headers", {}).items():
                    for keyword, value in _limits(_ref(_ref(raw)["schema"])).items():
                        prefix = constraints.constant_name("header", header)
                        yield f"{method} {path} {header}", f"{prefix}_{constraints.KEYWORDS[keyword]}", value


def test_the_committed_module_is_what_the_spec_generates() -> None:
    assert (ROOT / "generated" / MODULE).read_text() == constraints.constraints_module(SPEC)


def test_every_limit_of_the_spec_is_a_constant_with_its_value() -> None:
    expected = list(_expected())
    assert len(expected) > 100  # properties, parameters and headers all walked
    for where, name, value in expected:
        assert getattr(generated, name) == value, where


@pytest.mark.parametrize(
    ("name", "pointer"),
    [
        ("ORDER_LINE_INPUT_QUANTITY_MAXIMUM", "schemas/OrderLineInput/properties/quantity/maximum"),
        ("ORDER_LINE_INPUT_SKU_PATTERN", "schemas/OrderLineInput/properties/sku/pattern"),
        ("CREATE_ORDER_REQUEST_ITEMS_MAX_ITEMS", "schemas/CreateOrderRequest/properties/items/maxItems"),
        (
            "CREATE_ORDER_REQUEST_PAYMENT_TOKEN_PATTERN",
            "schemas/CreateOrderRequest/properties/payment_token/pattern",
        ),
        ("REGISTER_REQUEST_PASSWORD_MIN_LENGTH", "schemas/RegisterRequest/properties/password/minLength"),
        ("TOKEN_ACCESS_TOKEN_MAX_LENGTH", "schemas/Token/properties/access_token/maxLength"),
        ("TOKEN_EXPIRES_IN_MAXIMUM", "schemas/Token/properties/expires_in/maximum"),
        ("USER_EMAIL_MAX_LENGTH", "schemas/User/properties/email/maxLength"),
        ("HEADER_X_REQUEST_ID_PATTERN", "headers/XRequestId/schema/pattern"),
        ("HEADER_RETRY_AFTER_MAXIMUM", "headers/RetryAfter/schema/maximum"),
        ("HEADER_IDEMPOTENCY_KEY_PATTERN", "parameters/IdempotencyKey/schema/pattern"),
        ("QUERY_PAGE_SIZE_MAXIMUM", "parameters/PageSize/schema/maximum"),
    ],
)
def test_the_limits_the_services_import_are_the_spec_ones(name: str, pointer: str) -> None:
    value: Any = SPEC["components"]
    for part in pointer.split("/"):
        value = value[part]
    assert getattr(generated, name) == value


def test_every_constant_is_final() -> None:
    names = [name for name in vars(generated) if name.isupper()]
    assert names
    assert {generated.__annotations__[name] for name in names} == {"Final"}


def test_a_changed_limit_in_the_spec_changes_the_regenerated_constant(tmp_path: Path) -> None:
    spec = tmp_path / "openapi.yaml"
    shutil.copy(SPEC_PATH, spec)
    edited = yaml.safe_load(spec.read_text())
    edited["components"]["schemas"]["OrderLineInput"]["properties"]["quantity"]["maximum"] = 7
    edited["components"]["headers"]["XRequestId"]["schema"]["pattern"] = "^[a-f0-9]{32}$"
    spec.write_text(yaml.safe_dump(edited, sort_keys=False))

    regenerated = _regenerate(spec, tmp_path / "out")

    assert regenerated.ORDER_LINE_INPUT_QUANTITY_MAXIMUM == 7
    assert regenerated.HEADER_X_REQUEST_ID_PATTERN == "^[a-f0-9]{32}$"
    assert regenerated.ORDER_LINE_INPUT_QUANTITY_MINIMUM == generated.ORDER_LINE_INPUT_QUANTITY_MINIMUM


def test_the_regenerated_module_from_the_unchanged_spec_is_the_committed_one(tmp_path: Path) -> None:
    regenerated = _regenerate(SPEC_PATH, tmp_path)
    assert (tmp_path / MODULE).read_bytes() == (ROOT / "generated" / MODULE).read_bytes()
    assert regenerated.PATH_SKU_PATTERN == generated.PATH_SKU_PATTERN


def test_output_does_not_depend_on_the_order_of_the_spec() -> None:
    shuffled = copy.deepcopy(SPEC)
    rng = random.Random(4)
    for section in ("schemas", "parameters", "headers", "responses"):
        entries = list(shuffled["components"][section].items())
        rng.shuffle(entries)
        shuffled["components"][section] = dict(entries)
    for schema in shuffled["components"]["schemas"].values():
        if "properties" in schema:
            entries = list(schema["properties"].items())
            rng.shuffle(entries)
            schema["properties"] = dict(entries)
    paths = list(shuffled["paths"].items())
    rng.shuffle(paths)
    shuffled["paths"] = dict(paths)

    assert constraints.constraints_module(shuffled) == constraints.constraints_module(SPEC)
    assert constraints.constraints_module(SPEC) == constraints.constraints_module(copy.deepcopy(SPEC))


def test_one_header_limited_two_ways_is_refused() -> None:
    spec = copy.deepcopy(SPEC)
    readyz = spec["paths"]["/readyz"]["get"]["responses"]["503"]["headers"]["Retry-After"]
    readyz["schema"]["maximum"] = 60
    with pytest.raises(ValueError, match=r"HEADER_RETRY_AFTER but limited differently"):
        constraints.constraints_module(spec)


@pytest.mark.parametrize(
    ("parts", "name"),
    [
        (("OrderLineInput", "quantity"), "ORDER_LINE_INPUT_QUANTITY"),
        (("header", "X-Request-ID"), "HEADER_X_REQUEST_ID"),
        (("header", "WWW-Authenticate"), "HEADER_WWW_AUTHENTICATE"),
        (("query", "page_size"), "QUERY_PAGE_SIZE"),
        (("Order", "createdAt"), "ORDER_CREATED_AT"),
    ],
)
def test_names_are_derived_from_the_spec_names(parts: tuple[str, ...], name: str) -> None:
    assert constraints.constant_name(*parts) == name

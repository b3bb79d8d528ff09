"""The three specs are valid, and the spec lint really rejects what it claims to reject."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import yaml

from spectools import lint

SPECS = Path(__file__).resolve().parents[2] / "specs"


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((SPECS / name).read_text())
    return loaded


def _write(tmp_path: Path, name: str, doc: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_openapi_is_valid() -> None:
    assert lint.lint_openapi(SPECS / "openapi.yaml") == []


def test_asyncapi_is_valid_against_the_official_schema() -> None:
    assert lint.lint_asyncapi(SPECS / "asyncapi.yaml") == []


def test_protos_pass_buf_lint() -> None:
    assert lint.lint_protos(SPECS) == []


def test_openapi_lint_rejects_a_string_without_limits(tmp_path: Path) -> None:
    doc = _load("openapi.yaml")
    doc["components"]["schemas"]["RegisterRequest"]["properties"]["email"] = {"type": "string"}
    problems = lint.lint_openapi(_write(tmp_path, "openapi.yaml", doc))
    assert any("RegisterRequest.email: string without maxLength" in p for p in problems), problems


def test_openapi_lint_rejects_an_open_object(tmp_path: Path) -> None:
    doc = _load("openapi.yaml")
    del doc["components"]["schemas"]["CreateOrderRequest"]["additionalProperties"]
    problems = lint.lint_openapi(_write(tmp_path, "openapi.yaml", doc))
    assert any("CreateOrderRequest: object schema without additionalProperties" in p for p in problems)


def test_openapi_lint_rejects_an_invalid_document(tmp_path: Path) -> None:
    doc = _load("openapi.yaml")
    doc["paths"]["/orders"]["post"]["responses"] = "not a mapping"
    problems = lint.lint_openapi(_write(tmp_path, "openapi.yaml", doc))
    assert len(problems) == 1
    assert "not a mapping" in problems[0] or "responses" in problems[0]


def test_asyncapi_lint_rejects_a_wrong_operation_action(tmp_path: Path) -> None:
    doc = _load("asyncapi.yaml")
    first = next(iter(doc["operations"]))
    doc["operations"][first]["action"] = "publish"
    problems = lint.lint_asyncapi(_write(tmp_path, "asyncapi.yaml", doc))
    assert any("'publish' is not one of ['send', 'receive']" in p for p in problems), problems


def test_asyncapi_lint_rejects_an_unbounded_payload_field(tmp_path: Path) -> None:
    doc = copy.deepcopy(_load("asyncapi.yaml"))
    doc["components"]["schemas"]["PaymentFailed"]["properties"]["message"] = {"type": "string"}
    problems = lint.lint_asyncapi(_write(tmp_path, "asyncapi.yaml", doc))
    assert any("PaymentFailed.message: string without maxLength" in p for p in problems), problems


def test_buf_lint_rejects_a_badly_named_rpc_message(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    shutil.copytree(SPECS, specs)
    proto = specs / "proto" / "ecommerce" / "payments" / "v1" / "payments.proto"
    proto.write_text(proto.read_text().replace("GetPaymentResponse", "PaymentAnswer"))
    problems = lint.lint_protos(specs)
    assert any("PaymentAnswer" in p for p in problems), problems


def test_rest_and_event_contract_versions_move_in_step() -> None:
    """The SDK and the contracts package take their version from openapi.yaml; events are released with it."""
    assert _load("openapi.yaml")["info"]["version"] == _load("asyncapi.yaml")["info"]["version"]

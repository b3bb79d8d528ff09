"""The spec the gateway serves: it must be the one the routes were generated from."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.adapters.http_app import PACKAGED_SPEC, SpecMismatch, allowed_methods, load_spec

REPOSITORY_SPEC = Path(__file__).resolve().parents[4] / "specs" / "openapi.yaml"


def test_the_default_spec_is_the_packaged_copy_of_the_repository_one_and_matches_the_routes() -> None:
    assert PACKAGED_SPEC.read_bytes() == REPOSITORY_SPEC.read_bytes()
    assert load_spec()["info"]["title"] == "E-commerce API"


def test_a_spec_with_other_operations_is_refused(tmp_path: Path) -> None:
    spec = yaml.safe_load(PACKAGED_SPEC.read_text(encoding="utf-8"))
    del spec["paths"]["/healthz"]
    path = tmp_path / "openapi.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecMismatch, match=r"make generate"):
        load_spec(path)


def test_allowed_methods_come_from_the_spec() -> None:
    allowed = allowed_methods(load_spec())
    assert allowed("/v1/orders") == "GET, HEAD, POST"
    assert allowed("/v1/orders/3f2b8c1e-7a4d-4e5f-9b6a-1c2d3e4f5a6b/payment") == "GET, HEAD"
    assert allowed("/v1/auth/token") == "POST"
    assert allowed("/v1/orders/a/b/c") is None

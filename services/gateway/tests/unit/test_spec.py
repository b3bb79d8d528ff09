"""The spec the gateway serves: it must be the one the routes were generated from."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from gateway_fakes import settings

from gateway.adapters.http_app import SpecMismatch, allowed_methods, load_spec


def test_the_default_spec_is_the_repository_one_and_matches_the_routes() -> None:
    path = settings().openapi_spec
    assert path.parts[-2:] == ("specs", "openapi.yaml")
    assert load_spec(path)["info"]["title"] == "E-commerce API"


def test_a_spec_with_other_operations_is_refused(tmp_path: Path) -> None:
    spec = yaml.safe_load(settings().openapi_spec.read_text())
    del spec["paths"]["/healthz"]
    path = tmp_path / "openapi.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecMismatch, match=r"make generate"):
        load_spec(path)


def test_allowed_methods_come_from_the_spec() -> None:
    allowed = allowed_methods(load_spec(settings().openapi_spec))
    assert allowed("/v1/orders") == "GET, HEAD, POST"
    assert allowed("/v1/orders/3f2b8c1e-7a4d-4e5f-9b6a-1c2d3e4f5a6b/payment") == "GET, HEAD"
    assert allowed("/v1/auth/token") == "POST"
    assert allowed("/v1/orders/a/b/c") is None

"""The SDK is a publishable package: built (sdist + wheel), checked by twine, uploaded to a package index
and installed by pip into a fresh virtual environment, where it imports and reports the spec's version (the
helpers are in ``sdk_packaging``). The installed files are compared with the built wheel's RECORD."""

from __future__ import annotations

import json
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sdk_packaging import SPEC_VERSION, build_dist, install_into_fresh_venv, one, package_index, run, upload

CHECK_INSTALLED = """
import json, sys
import httpx
import ecommerce_sdk
from ecommerce_sdk import Client
from importlib.metadata import distribution
from importlib.resources import files

def api(request):
    return httpx.Response(200, json={"status": "ok"}, headers={"X-Request-ID": "fresh-venv"})

with httpx.Client(transport=httpx.MockTransport(api)) as http:
    client = Client(base_url="http://127.0.0.1:9/v1", http_client=http)
    health = client.health.live()
print(json.dumps({
    "version": ecommerce_sdk.__version__,
    "file": ecommerce_sdk.__file__,
    "health": [health.status, health.request_id],
    "typed": files("ecommerce_sdk").joinpath("py.typed").is_file(),
    "email_validator": "email_validator" in sys.modules,
    "requires": sorted(distribution("ecommerce-sdk").requires or []),
    "record": distribution("ecommerce-sdk").read_text("RECORD"),
}))
"""


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_dist(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with package_index(tmp_path_factory.mktemp("packages")) as url:
        yield url


def test_sdist_and_wheel_build_and_pass_twine_check(dist: Path) -> None:
    wheel = one(dist, "*.whl")
    sdist = one(dist, "*.tar.gz")

    run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist)

    assert wheel.name == f"ecommerce_sdk-{SPEC_VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"ecommerce_sdk-{SPEC_VERSION}.dist-info/METADATA").decode()
    assert {
        "ecommerce_sdk/py.typed",
        "ecommerce_sdk/types/_models.py",
        "ecommerce_sdk/resources/orders.py",
    } <= names
    assert not any(name.startswith(("tests/", "ecommerce_sdk/tests")) for name in names)
    requires = sorted(line for line in metadata.splitlines() if line.startswith("Requires-Dist:"))
    assert requires == ["Requires-Dist: httpx>=0.27", "Requires-Dist: pydantic>=2.7"]
    assert "Requires-Python: >=3.11" in metadata


def test_uploaded_package_installs_from_the_index_into_a_fresh_venv(
    dist: Path, index: str, tmp_path: Path
) -> None:
    wheel = one(dist, "*.whl")
    upload(index, wheel, one(dist, "*.tar.gz"))
    python, pip_env = install_into_fresh_venv(index, tmp_path / "venv")
    venv = tmp_path / "venv"

    seen = json.loads(run(python, "-c", CHECK_INSTALLED, cwd=tmp_path, env=pip_env))

    assert seen["version"] == SPEC_VERSION
    assert Path(seen["file"]).is_relative_to(venv)
    assert seen["health"] == ["ok", "fresh-venv"]
    assert seen["typed"] is True
    assert seen["email_validator"] is False
    assert seen["requires"] == ["httpx>=0.27", "pydantic>=2.7"]
    with zipfile.ZipFile(wheel) as archive:
        built = archive.read(f"ecommerce_sdk-{SPEC_VERSION}.dist-info/RECORD").decode()
    installed = set(seen["record"].splitlines())
    ours = {line for line in built.splitlines() if line.startswith("ecommerce_sdk/")}
    assert ours <= installed, "the installed files are not the ones this test built"

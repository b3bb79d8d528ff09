"""The SDK is a publishable package: built (sdist + wheel), checked by twine, uploaded to a package index and
installed by pip into a fresh virtual environment, where it imports and reports the spec's version.

The index is a local ``pypiserver`` on a free loopback port with an empty package folder, uploads open
(``-a . -P .``) and no fallback to PyPI (``--disable-fallback``), so ``ecommerce-sdk`` can only come from
what this test uploaded; pip finds the SDK's dependencies (httpx, pydantic...) through the indexes this
machine's pip is configured with (a local mirror here, so the test needs no network), or PyPI when pip has
no extra index configured. The installed files are compared with the built wheel's RECORD.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

SDK = Path(__file__).resolve().parents[1]
SPEC_VERSION = str(yaml.safe_load((SDK.parent / "specs" / "openapi.yaml").read_text())["info"]["version"])
TOOLS = ("build", "twine", "pypiserver")
PYPI = "https://pypi.org/simple/"

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


def run(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Runs ``command``; on failure the assertion shows everything it printed."""
    result = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built the way a release is (the wheel from the sdist, in isolation)."""
    missing = [tool for tool in TOOLS if importlib.util.find_spec(tool) is None]
    assert not missing, f"{missing} missing: they belong to the dev dependency group (make setup)"
    out = tmp_path_factory.mktemp("dist")
    env = dict(os.environ)
    uv = env.get("UV") or shutil.which("uv")  # `uv run` names itself in $UV: much faster build envs
    installer = ["--installer", "uv"] if uv else []
    if uv:
        env["PATH"] = f"{Path(uv).parent}{os.pathsep}{env['PATH']}"
    run(sys.executable, "-m", "build", *installer, "--outdir", out, SDK, env=env)
    return out


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local pypiserver with an empty package folder; yields its URL."""
    packages = tmp_path_factory.mktemp("packages")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = packages.parent / "pypiserver.log"
    command = [sys.executable, "-m", "pypiserver", "run", "-i", "127.0.0.1", "-p", str(port)]
    command += ["-a", ".", "-P", ".", "--disable-fallback", "--log-file", str(log), str(packages)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{url}/health", server, log)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        exited = server.poll()
        if exited is not None or time.monotonic() > deadline:
            text = log.read_text() if log.exists() else ""
            raise AssertionError(f"pypiserver did not come up (exit code {exited}):\n{text}")
        time.sleep(0.1)


def test_sdist_and_wheel_build_and_pass_twine_check(dist: Path) -> None:
    wheel = _one(dist, "*.whl")
    sdist = _one(dist, "*.tar.gz")

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
    wheel = _one(dist, "*.whl")
    upload_env = {
        **os.environ,
        "TWINE_NON_INTERACTIVE": "1",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    }
    run(
        sys.executable, "-m", "twine", "upload", "--repository-url", f"{index}/",
        "-u", "sdk-tests", "-p", "unused", wheel, _one(dist, "*.tar.gz"), env=upload_env,
    )  # fmt: skip
    with urllib.request.urlopen(f"{index}/simple/ecommerce-sdk/", timeout=5) as listing:
        assert wheel.name in listing.read().decode()

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    pip_env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", "UV"}}
    extra = [] if _pip_has_extra_index(python, pip_env) else ["--extra-index-url", PYPI]
    run(
        python, "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check",
        "--index-url", f"{index}/simple/", *extra, f"ecommerce-sdk=={SPEC_VERSION}", env=pip_env,
    )  # fmt: skip
    run(python, "-m", "pip", "check", env=pip_env)

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


def _pip_has_extra_index(python: Path, env: dict[str, str]) -> bool:
    configured = run(python, "-m", "pip", "config", "list", env=env)
    return "extra-index-url" in configured or "PIP_EXTRA_INDEX_URL" in env


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, f"{pattern} in {folder}: {found}"
    return found[0]

"""Publishing the SDK for tests: build sdist + wheel, serve them from a local package index, install them
into a fresh virtual environment. Used by the SDK's packaging test and by the end-to-end test that runs
the live scenario from the installed package.

The index is a local ``pypiserver`` on a free loopback port with an empty package folder, uploads open
(``-a . -P .``) and no fallback to PyPI (``--disable-fallback``), so ``ecommerce-sdk`` can only come from
what was uploaded; pip finds the SDK's dependencies (httpx, pydantic...) through the indexes this machine's
pip is configured with (a local mirror here, so no network is needed), or PyPI when pip has no extra index.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

SDK = Path(__file__).resolve().parents[1]
SPEC_VERSION = str(yaml.safe_load((SDK.parent / "specs" / "openapi.yaml").read_text())["info"]["version"])
TOOLS = ("build", "twine", "pypiserver")
PYPI = "https://pypi.org/simple/"


def run(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Runs ``command``; on failure the assertion shows everything it printed."""
    result = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def build_dist(out: Path) -> Path:
    """The sdist and the wheel in ``out``, built the way a release is (the wheel from the sdist)."""
    missing = [tool for tool in TOOLS if importlib.util.find_spec(tool) is None]
    assert not missing, f"{missing} missing: they belong to the dev dependency group (make setup)"
    env = dict(os.environ)
    uv = env.get("UV") or shutil.which("uv")  # `uv run` names itself in $UV: much faster build envs
    installer = ["--installer", "uv"] if uv else []
    if uv:
        env["PATH"] = f"{Path(uv).parent}{os.pathsep}{env['PATH']}"
    run(sys.executable, "-m", "build", *installer, "--outdir", out, SDK, env=env)
    return out


@contextmanager
def package_index(packages: Path) -> Iterator[str]:
    """A local pypiserver serving the (empty) folder ``packages``; yields its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = packages.parent / f"pypiserver-{port}.log"
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


def upload(index: str, *files: Path) -> None:
    """Uploads ``files`` with twine, then checks the index lists the wheel."""
    env = {
        **os.environ,
        "TWINE_NON_INTERACTIVE": "1",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    }
    run(
        sys.executable, "-m", "twine", "upload", "--repository-url", f"{index}/",
        "-u", "sdk-tests", "-p", "unused", *files, env=env,
    )  # fmt: skip
    with urllib.request.urlopen(f"{index}/simple/ecommerce-sdk/", timeout=5) as listing:
        listed = listing.read().decode()
    assert all(f.name in listed for f in files if f.suffix == ".whl"), listed


def install_into_fresh_venv(index: str, venv: Path) -> tuple[Path, dict[str, str]]:
    """``pip install --index-url <index> ecommerce-sdk==<spec version>`` into a new venv; returns its
    python and the environment to run it with (nothing of this workspace's environment leaks in)."""
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", "UV"}}
    configured = run(python, "-m", "pip", "config", "list", env=env)
    extra = (
        [] if "extra-index-url" in configured or "PIP_EXTRA_INDEX_URL" in env else ["--extra-index-url", PYPI]
    )
    run(
        python, "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check",
        "--index-url", f"{index}/simple/", *extra, f"ecommerce-sdk=={SPEC_VERSION}", env=env,
    )  # fmt: skip
    run(python, "-m", "pip", "check", env=env)
    return python, env


def one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, f"{pattern} in {folder}: {found}"
    return found[0]

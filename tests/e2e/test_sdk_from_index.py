"""The SDK as a user gets it: built, published to a package index (a local pypiserver), installed with pip
into a fresh virtual environment, and driven against the live gateway by a script in that environment:
register, log in, list products, place an order, wait for it to be PAID, read its payment and emails."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from e2e_stack import RunningStack
from sdk_packaging import SDK, build_dist, install_into_fresh_venv, one, package_index, upload

pytestmark = pytest.mark.asyncio(loop_scope="module")
SCENARIO = SDK / "tests" / "sdk_live_scenario.py"


async def test_the_published_sdk_completes_a_purchase_against_the_live_gateway(
    sqlite_stack: RunningStack, tmp_path: Path
) -> None:
    dist = await asyncio.to_thread(build_dist, tmp_path / "dist")
    (tmp_path / "packages").mkdir()
    with package_index(tmp_path / "packages") as index:
        await asyncio.to_thread(upload, index, one(dist, "*.whl"), one(dist, "*.tar.gz"))
        python, env = await asyncio.to_thread(install_into_fresh_venv, index, tmp_path / "venv")

    # The script runs in the fresh venv, from a folder outside the workspace: only the installed SDK
    # (and its own dependencies) can satisfy `import ecommerce_sdk`.
    process = await asyncio.create_subprocess_exec(
        python,
        "-I",  # isolated: no user site, no PYTHONPATH, no current directory on sys.path
        SCENARIO,
        sqlite_stack.base_url,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()[-4000:]
    assert " PAID, " in stdout.decode()

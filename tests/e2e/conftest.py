"""The running stack for the end-to-end tests: once on SQLite and once on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from e2e_stack import RunningStack, running_stack

SETTINGS = {
    # A slow provider makes "cancel while the charge is in flight" a real race.
    "PAYMENTS_PROVIDER_LATENCY_MS": "300",
    "NOTIFICATIONS_RETRY_FIRST_DELAY_SECONDS": "0.2",
    "NOTIFICATIONS_MAILER_POLL_SECONDS": "0.2",
}


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgres"])
async def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningStack]:
    async with running_stack(tmp_path_factory.mktemp("var"), request.param, SETTINGS) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sqlite_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningStack]:
    async with running_stack(tmp_path_factory.mktemp("var"), "sqlite", SETTINGS) as running:
        yield running

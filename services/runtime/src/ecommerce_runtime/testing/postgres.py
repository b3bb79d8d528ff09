"""Throwaway PostgreSQL databases for tests: created uniquely named, dropped afterwards."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import uuid4

import asyncpg
from sqlalchemy.engine import make_url

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
START_HINT = "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


@asynccontextmanager
async def temporary_postgres_database() -> AsyncIterator[str]:
    """Yields the SQLAlchemy URL (asyncpg driver) of a new empty database, dropped on exit.

    The server comes from ``PG_TEST_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``).
    Fails, never skips, when the server is unreachable.
    """
    admin_url = os.environ.get("PG_TEST_URL", DEFAULT_ADMIN_URL)
    name = f"test_{uuid4().hex[:16]}"
    try:
        admin = await asyncpg.connect(admin_url, timeout=10)
    except (OSError, asyncpg.PostgresError) as error:
        raise RuntimeError(f"PostgreSQL is not reachable at {admin_url} ({error!r}); {START_HINT}") from error
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = make_url(admin_url).set(drivername="postgresql+asyncpg", database=name)
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()

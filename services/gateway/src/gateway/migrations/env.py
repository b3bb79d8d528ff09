"""Alembic environment of the gateway (run through ``ecommerce_runtime.migrations``)."""

from ecommerce_runtime.migrations import run_migrations
from gateway.adapters.tables import metadata

run_migrations(metadata)

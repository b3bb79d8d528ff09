"""Alembic environment of the Payment Service (run through ``ecommerce_runtime.migrations``)."""

from ecommerce_runtime.migrations import run_migrations
from payments.adapters.tables import metadata

run_migrations(metadata)

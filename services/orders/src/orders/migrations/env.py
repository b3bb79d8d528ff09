"""Alembic environment of the Order Service (run through ``ecommerce_runtime.migrations``)."""

from ecommerce_runtime.migrations import run_migrations
from orders.adapters.tables import metadata

run_migrations(metadata)

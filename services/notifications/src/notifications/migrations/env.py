"""Alembic environment of the Notification Service (run through ``ecommerce_runtime.migrations``)."""

from ecommerce_runtime.migrations import run_migrations
from notifications.adapters.tables import metadata

run_migrations(metadata)

"""Alembic environment: always driven programmatically by shiftdesk.storage.Database."""

from __future__ import annotations

from alembic import context

from shiftdesk.domains import load_records
from shiftdesk.storage.models import Base

load_records()  # every domain's tables, for autogenerate's comparison

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the CLI path always passes a connection
    raise RuntimeError("run migrations through `shiftdesk db upgrade` or Database.upgrade()")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

"""Alembic's entry point: runs migrations on the connection Awareness hands it."""

from __future__ import annotations

from alembic import context

from awareness.store.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - Awareness always passes a connection
    raise RuntimeError("run migrations with `awareness db upgrade`, which passes the database connection")

context.configure(connection=connection, target_metadata=metadata, compare_type=True,
                  include_name=lambda name, type_, parent: not (type_ == "table" and name == "apscheduler_jobs"))
with context.begin_transaction():
    context.run_migrations()

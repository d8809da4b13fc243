"""Alembic environment for the store: runs on the connection `hyperhub.store.migrate` passes in.

There is no alembic.ini: `hyperhub.store.migrate` builds the config in code, and its
`autogenerate()` writes new revisions.
"""

from __future__ import annotations

from alembic import context

from hyperhub.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the store's migrations run through hyperhub.store.migrate, not alembic")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE support on SQLite
)
with context.begin_transaction():
    context.run_migrations()

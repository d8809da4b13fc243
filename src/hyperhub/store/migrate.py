"""Schema migrations: the Alembic scripts ship in `migrations/`, run in code at open.

To change the schema, edit `schema.py`, then write the next revision with
`python -c 'from hyperhub.store.migrate import autogenerate; autogenerate("add x")'`
and review it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from hyperhub.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision in migrations/versions; a test keeps it equal to Alembic's head. A database
# already there is opened without importing Alembic at all (a third of the CLI's start-up time).
HEAD = "0003"


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic config built in code (no alembic.ini); `connection` is the one to migrate."""
    from alembic.config import Config

    config = Config()
    # configparser treats % as interpolation, so a path with % must be escaped
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this HyperHub knows, as Alembic sees it."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the store ships at least one revision"
    return head


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: sa.Connection, where: str) -> None:
    """Bring the database on `connection` to head; refuse one from a newer HyperHub."""
    if _stamped(connection) == HEAD:
        return
    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    scripts = ScriptDirectory.from_config(alembic_config())
    current = current_revision(connection)
    if current is not None and current not in {s.revision for s in scripts.walk_revisions()}:
        raise StoreError(
            f"database schema of {where} is newer than this HyperHub (revision {current!r}, "
            f"this version knows up to {scripts.get_current_head()!r}): upgrade HyperHub, "
            "or use another data dir"
        )
    if current != scripts.get_current_head():
        try:
            command.upgrade(alembic_config(connection), "head")
        except CommandError as err:
            raise StoreError(f"cannot migrate database {where}: {err}") from None


def autogenerate(message: str) -> None:
    """Development aid: write the next revision (0002, ...) from the changes in `schema.py`."""
    from alembic import command
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
    rev_id = f"{len(list(scripts.walk_revisions())) + 1:04d}"
    with tempfile.TemporaryDirectory() as scratch:
        engine = sa.create_engine(f"sqlite:///{scratch}/scratch.db")
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
            command.revision(alembic_config(conn), message, autogenerate=True, rev_id=rev_id)
        engine.dispose()


def _stamped(connection: sa.Connection) -> str | None:
    """The revision recorded in alembic_version, read with plain SQL (None if there is none)."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

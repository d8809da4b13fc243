"""Schema migrations: run at open, idempotent, and a newer schema is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hyperhub.errors import StoreError
from hyperhub.store import StateStore
from hyperhub.store.migrate import head_revision
from hyperhub.store.schema import metadata


def revision_in(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]


def test_fresh_database_is_at_the_head_revision(tmp_path: Path) -> None:
    StateStore.open(data_dir=tmp_path).close()

    assert revision_in(tmp_path / "hyperhub.db") == [head_revision()]


def test_fresh_database_has_every_table(tmp_path: Path) -> None:
    StateStore.open(data_dir=tmp_path).close()

    with sqlite3.connect(tmp_path / "hyperhub.db") as conn:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    assert {"meta", "current_state", "series", "history", "audit"} <= tables


def test_reopening_keeps_revision_and_data(tmp_path: Path) -> None:
    with StateStore.open(data_dir=tmp_path) as store:
        store.set_meta("k", "v")

    with StateStore.open(data_dir=tmp_path) as store:
        assert store.get_meta("k") == "v"
    assert revision_in(tmp_path / "hyperhub.db") == [head_revision()]


def test_database_from_a_newer_hyperhub_is_refused(tmp_path: Path) -> None:
    StateStore.open(data_dir=tmp_path).close()
    with sqlite3.connect(tmp_path / "hyperhub.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'f00dfeed9999'")

    with pytest.raises(StoreError, match="newer than this HyperHub") as caught:
        StateStore.open(data_dir=tmp_path)
    assert "f00dfeed9999" in str(caught.value)
    assert str(tmp_path / "hyperhub.db") in str(caught.value)


def test_migration_scripts_ship_inside_the_package() -> None:
    import hyperhub.store.migrate as migrate

    assert (migrate.MIGRATIONS / "env.py").is_file()
    assert any((migrate.MIGRATIONS / "versions").glob("*.py"))


def test_migrations_build_exactly_the_tables_of_schema_py(store: StateStore) -> None:
    with store._engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)

    assert diffs == []


def test_the_fast_path_head_constant_is_alembics_head():
    from hyperhub.store import migrate as m

    assert head_revision() == m.HEAD

"""Schema migrations: run at open, idempotent, and a newer schema is refused."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import make_url

from hyperhub.errors import StoreError
from hyperhub.store import StateStore
from hyperhub.store.migrate import head_revision
from hyperhub.store.schema import metadata


@contextmanager
def connected(url: str) -> Iterator[sa.Connection]:
    """A plain connection to the database, not through the store; committed at the end."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def revision_in(url: str) -> list[str]:
    with connected(url) as conn:
        return list(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())


def test_fresh_database_is_at_the_head_revision(store_url: str) -> None:
    StateStore.open(store_url).close()

    assert revision_in(store_url) == [head_revision()]


def test_fresh_database_has_every_table(store_url: str) -> None:
    StateStore.open(store_url).close()

    with connected(store_url) as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert {"meta", "current_state", "series", "history", "audit"} <= tables


def test_reopening_keeps_revision_and_data(store_url: str) -> None:
    with StateStore.open(store_url) as store:
        store.set_meta("k", "v")

    with StateStore.open(store_url) as store:
        assert store.get_meta("k") == "v"
    assert revision_in(store_url) == [head_revision()]


def test_database_from_a_newer_hyperhub_is_refused(store_url: str) -> None:
    StateStore.open(store_url).close()
    with connected(store_url) as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'f00dfeed9999'"))

    with pytest.raises(StoreError, match="newer than this HyperHub") as caught:
        StateStore.open(store_url)
    assert "f00dfeed9999" in str(caught.value)
    url = make_url(store_url)
    assert url.render_as_string(hide_password=True) in str(caught.value)
    assert str(url.database) in str(caught.value)
    assert url.password is None or str(url.password) not in str(caught.value)


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

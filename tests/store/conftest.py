"""Fixtures for the store tests: a real SQLite file in a temporary directory, and the same
behaviour tests against a real PostgreSQL server (one per session, see tests/helpers/pg.py).

`store` and `store_url` are parametrised over both backends (test ids `[sqlite]` and
`[postgresql]`); `sqlite_store` is for the tests of SQLite-only settings. The PostgreSQL
cases skip, with the reason, where PostgreSQL isn't installed (./hub installs it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.helpers import pg

from hyperhub.store import StateStore
from hyperhub.store.schema import metadata

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore.open(data_dir=tmp_path) as opened:
        yield opened


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> StateStore:
    """An open, empty store: SQLite in a temporary directory, or on the test PostgreSQL."""
    return request.getfixturevalue("sqlite_store" if request.param == "sqlite" else "pg_store")


# -- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    """A PostgreSQL server of our own for the session (skips if PostgreSQL isn't installed)."""
    bin_dir = pg.find_bin_dir()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL server not installed (no initdb, pg_ctl and postgres in "
            "/usr/lib/postgresql/*/bin, $HYPERHUB_PG_BIN or PATH): apt-get install postgresql"
        )
    pytest.importorskip("psycopg", reason="psycopg not installed: pip install -e '.[dev]'")
    cluster = pg.PgCluster(bin_dir)
    try:
        cluster.start()
    except pg.PgError as err:
        cluster.stop()
        pytest.fail(f"cannot start the test PostgreSQL server: {err}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg_url(pg_cluster: Any) -> str:
    """postgresql+psycopg://hyperhub:<password>@127.0.0.1:<port>/hyperhub on the test server.

    `pg_store` keeps this database migrated and empties its tables before each test.
    """
    return pg_cluster.url()


@pytest.fixture
def pg_store(pg_cluster: Any, pg_url: str) -> Iterator[StateStore]:
    """A store on `pg_url`, with no rows (emptying the tables is far faster than a new
    database: ~30 ms per test in all, mostly connecting)."""
    try:
        pg_cluster.delete_rows([table.name for table in reversed(metadata.sorted_tables)])
    except Exception:  # the first test (no tables yet), or a test broke the schema
        pg_cluster.empty()
    with StateStore.open(pg_url) as opened:
        yield opened


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database (no tables): a new SQLite file, or a PostgreSQL database
    emptied for this test (for the migration and reopening tests)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hyperhub.db'}"
    return request.getfixturevalue("pg_cluster").empty_database()

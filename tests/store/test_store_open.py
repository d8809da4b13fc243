"""Opening: where the database goes, SQLite settings, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from hyperhub.errors import StoreError
from hyperhub.store import StateStore


def pragma(store: StateStore, name: str) -> object:
    with store._engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_data_dir_gets_hyperhub_db_created_with_parents(tmp_path: Path) -> None:
    data_dir = tmp_path / "a" / "b"

    StateStore.open(data_dir=data_dir).close()

    assert (data_dir / "hyperhub.db").is_file()


def test_url_opens_that_file(tmp_path: Path) -> None:
    db = tmp_path / "other.db"

    with StateStore.open(f"sqlite:///{db}") as store:
        store.set_meta("k", "v")

    assert db.is_file()


def test_sqlite_runs_in_wal_mode(sqlite_store: StateStore) -> None:
    assert pragma(sqlite_store, "journal_mode") == "wal"


def test_synchronous_defaults_to_normal(sqlite_store: StateStore) -> None:
    assert pragma(sqlite_store, "synchronous") == 1  # NORMAL


def test_synchronous_full_can_be_chosen(tmp_path: Path) -> None:
    with StateStore.open(data_dir=tmp_path, synchronous="FULL") as store:
        assert pragma(store, "synchronous") == 2  # FULL


def test_unknown_synchronous_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="synchronous"):
        StateStore.open(data_dir=tmp_path, synchronous="OFF")  # type: ignore[arg-type]


def test_missing_directory_in_url_is_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/missing/hyperhub.db"

    with pytest.raises(StoreError, match=r"directory .*missing does not exist") as caught:
        StateStore.open(url)
    assert url in str(caught.value)


def test_data_dir_that_cannot_be_created_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")

    with pytest.raises(StoreError, match="cannot create data directory") as caught:
        StateStore.open(data_dir=blocker / "data")
    assert str(blocker / "data") in str(caught.value)


def test_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / "hyperhub.db").write_bytes(b"this is not sqlite" * 100)

    with pytest.raises(StoreError, match=r"cannot open database .*hyperhub\.db"):
        StateStore.open(data_dir=tmp_path)


def test_malformed_url_is_refused() -> None:
    with pytest.raises(StoreError, match="invalid database URL"):
        StateStore.open("not a url")


def test_unknown_database_kind_is_refused() -> None:
    with pytest.raises(StoreError, match="unknown database kind 'nosuchdb'"):
        StateStore.open("nosuchdb://host/db")


def test_password_is_hidden_in_errors() -> None:
    with pytest.raises(StoreError) as caught:
        StateStore.open("nosuchdb://user:s3cret@host/db")
    assert "s3cret" not in str(caught.value)


def test_closed_store_refuses_use(tmp_path: Path) -> None:
    store = StateStore.open(data_dir=tmp_path)
    store.close()

    with pytest.raises(StoreError, match="closed"):
        store.write_state("x", {"on": True})


def test_in_memory_database_works_for_scratch_use() -> None:
    with StateStore.open("sqlite://") as store:
        store.write_state("x", {"on": True}, ts=1.0)
        assert store.current("x") == {"on": True}
        assert store.history("x", "on", since=0)[0].value is True


def test_plain_postgresql_url_uses_psycopg_3(pg_url: str) -> None:
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")

    with StateStore.open(plain) as store:
        assert store._engine.dialect.driver == "psycopg"
        assert store.url == plain.replace(f":{make_url(plain).password}@", ":***@")
        store.set_meta("plain_url", "yes")
        assert store.get_meta("plain_url") == "yes"


def test_wrong_postgresql_password_is_refused_without_showing_it(pg_url: str) -> None:
    url = make_url(pg_url).set(password="not-the-password")

    with pytest.raises(StoreError, match="cannot open database postgresql") as caught:
        StateStore.open(url.render_as_string(hide_password=False))
    assert "not-the-password" not in str(caught.value)
    assert "password authentication failed" in str(caught.value)


def test_the_data_dir_and_its_databases_are_private(tmp_path: Path) -> None:
    """hyperhub.db (location history, the audit log) was created 0644 in a 0755 folder."""
    import stat

    from hyperhub.auth import AuthStore

    fresh = tmp_path / "fresh" / "data"
    with StateStore.open(data_dir=fresh) as store:
        store.write_state("lamp", {"on": True})
    AuthStore(fresh).close()
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    for name in ("hyperhub.db", "auth.db"):
        assert stat.S_IMODE((fresh / name).stat().st_mode) == 0o600, name
    for extra in fresh.glob("hyperhub.db-*"):  # SQLite's -wal / -shm take the db's mode
        assert not stat.S_IMODE(extra.stat().st_mode) & 0o077, extra
    old = tmp_path / "old"
    old.mkdir(mode=0o755)
    (old / "hyperhub.db").touch(mode=0o644)
    old.chmod(0o755)
    (old / "hyperhub.db").chmod(0o644)
    StateStore.open(data_dir=old).close()
    assert stat.S_IMODE(old.stat().st_mode) == 0o700
    assert stat.S_IMODE((old / "hyperhub.db").stat().st_mode) == 0o600

"""From a URL or a data dir to a configured SQLAlchemy engine, with errors that name the URL.

SQLite durability, deliberately:

- WAL journal: readers never block the writer and the writer never blocks readers; a commit
  appends to the -wal file.
- `synchronous=NORMAL` (the default): a commit is written to the OS before the write call
  returns, so a crash or kill -9 of the hub loses nothing acknowledged; only a power cut or
  kernel crash may roll back the last few commits (the database never corrupts).
- `synchronous=FULL`: also fsyncs the WAL on every commit, so acknowledged writes survive
  power loss, at one fsync per transaction (cheap with batched writes, slow on SD cards for
  single writes).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import platformdirs
import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

from hyperhub.config import private_dir, private_file
from hyperhub.errors import StoreError

Synchronous = Literal["NORMAL", "FULL"]
DB_FILE = "hyperhub.db"
BUSY_TIMEOUT_S = 10.0
WRITE_OPTION = "hyperhub_write"  # execution option that makes SQLite take the write lock early


def default_data_dir() -> Path:
    """The user's data dir for HyperHub (e.g. ~/.local/share/hyperhub)."""
    return Path(platformdirs.user_data_dir("hyperhub"))


def resolve_url(url: str | None, data_dir: Path | None) -> URL:
    """The database URL: `url` if given, else SQLite `hyperhub.db` in `data_dir` (created)."""
    if url is not None:
        try:
            return make_url(url)
        except exc.ArgumentError:
            shown = re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)  # hide a password
            raise StoreError(
                f"invalid database URL {shown!r}: expected e.g. sqlite:////path/hyperhub.db "
                "or postgresql+psycopg://user@host/db"
            ) from None
    directory = data_dir if data_dir is not None else default_data_dir()
    try:
        private_file(private_dir(directory) / DB_FILE)  # history and audit: owner only
    except OSError as err:
        raise StoreError(
            f"cannot create data directory {directory}: {err.strerror or err}"
        ) from None
    return URL.create("sqlite", database=str(directory / DB_FILE))


def show(url: URL) -> str:
    """The URL as text for messages, password hidden."""
    return url.render_as_string(hide_password=True)


def is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def create_engine(url: URL, synchronous: Synchronous = "NORMAL") -> Engine:
    """An engine for `url`; SQLite gets WAL, `synchronous`, a busy timeout and a real BEGIN."""
    if synchronous not in ("NORMAL", "FULL"):
        raise StoreError(f"synchronous must be 'NORMAL' or 'FULL', not {synchronous!r}")
    sqlite = url.get_backend_name() == "sqlite"
    if sqlite and not is_memory(url):
        _check_sqlite_file(url)
    if url.drivername == "postgresql":  # the driver of hyperhub[postgres], on any SQLAlchemy 2.x
        url = url.set(drivername="postgresql+psycopg")
    kwargs: dict[str, Any] = {}
    if sqlite:
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
        if is_memory(url):
            kwargs["poolclass"] = StaticPool  # one shared connection, or each sees its own DB
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = sa.create_engine(url, **kwargs)
    except exc.NoSuchModuleError:
        raise StoreError(
            f"cannot open database {show(url)}: unknown database kind {url.drivername!r}"
        ) from None
    except ImportError as err:
        raise StoreError(
            f"cannot open database {show(url)}: driver not installed ({err.name}); "
            "for PostgreSQL: pip install 'hyperhub[postgres]'"
        ) from None
    if sqlite:
        _configure_sqlite(engine, synchronous)
    return engine


def _check_sqlite_file(url: URL) -> None:
    path = Path(url.database or "")
    parent = path.parent if path.parent != Path("") else Path(".")
    if not parent.is_dir():
        reason = "is not a directory" if parent.exists() else "does not exist"
        raise StoreError(f"cannot open database {show(url)}: directory {parent} {reason}")
    if path.is_dir():
        raise StoreError(f"cannot open database {show(url)}: {path} is a directory")


def _configure_sqlite(engine: Engine, synchronous: Synchronous) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA cache_size=-32000")  # 32 MB: keeps the history index hot
            cursor.execute("PRAGMA journal_size_limit=67108864")  # trim the WAL to 64 MB
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Writers take the lock up front, so a read-then-write never fails with SQLITE_BUSY.
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def reason(err: exc.SQLAlchemyError) -> str:
    """The driver's own message for a database error, on one line."""
    detail = str(getattr(err, "orig", None) or err).strip()
    return detail.splitlines()[0] if detail else type(err).__name__

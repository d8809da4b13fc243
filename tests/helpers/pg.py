"""A throwaway PostgreSQL server for the store tests: initdb, pg_ctl start, one per session.

The cluster lives in a temporary directory, listens on 127.0.0.1 only (a free TCP port, its
Unix socket in that directory), runs with fsync off, and is stopped and deleted at the end.
initdb refuses to run as root, so as root the cluster belongs to the `postgres` OS user.
The store connects as an ordinary role that owns its databases and logs in with a password
over TCP, as in a real deployment. Tests don't each get a new database (CREATE DATABASE
costs ~150 ms): `delete_rows` empties the tables of the migrated one, `empty_database` hands out
a scratch database with nothing in it (for the migration tests).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

ADMIN = "hh_admin"  # the cluster's superuser (initdb --username)
ROLE = "hyperhub"  # the role the store connects as
DATABASE = "hyperhub"  # created at start, for the store
SCRATCH = "hyperhub_scratch"  # emptied for each test that needs a database with no tables
WAIT_S = 30  # pg_ctl -w -t
RUN_TIMEOUT_S = 90  # for each command we run
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",  # a test cluster: no durability needed, much faster DDL
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "shared_buffers": "32MB",
}


def find_bin_dir() -> Path | None:
    """The directory of initdb/pg_ctl/postgres: $HYPERHUB_PG_BIN, Debian's newest, or PATH."""
    candidates: list[Path] = []
    if os.environ.get("HYPERHUB_PG_BIN"):
        candidates.append(Path(os.environ["HYPERHUB_PG_BIN"]))
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versions, key=lambda p: _version_key(p.parent.name), reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for directory in candidates:
        if all((directory / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return directory
    return None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name))


def _temp_parent() -> str | None:
    """Where to make the cluster's directory: the usual temp dir, unless (as root) the
    postgres user could not reach it (e.g. TMPDIR under /root); then /tmp."""
    parent = Path(tempfile.gettempdir())
    if os.geteuid() != 0:
        return None
    while parent != parent.parent:  # every ancestor must be searchable by others
        if not parent.stat().st_mode & 0o001:
            return "/tmp"
        parent = parent.parent
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgError(RuntimeError):
    """The test cluster could not be set up (the message carries the server's log)."""


class PgCluster:
    """One PostgreSQL cluster in a temporary directory. `start()`, then `stop()` (always)."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="hyperhub-pg-", dir=_temp_parent()))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self.admin_password = secrets.token_hex(12)
        self.password = secrets.token_hex(12)
        self.version = ""
        self._admin: Any = None  # psycopg connection as the superuser, autocommit
        self._owned: dict[str, Any] = {}  # psycopg connections as the role, by database
        self._owner: pwd.struct_passwd | None = None
        self._started = False
        self._scratch = False  # SCRATCH created

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        if os.geteuid() == 0:
            try:
                self._owner = pwd.getpwnam("postgres")
            except KeyError:
                raise PgError("running as root and there is no 'postgres' user") from None
            os.chown(self.root, self._owner.pw_uid, self._owner.pw_gid)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.admin_password + "\n")
        self._give(pwfile)
        self._run(
            "initdb", "-D", str(self.data), "--username", ADMIN, "--pwfile", str(pwfile),
            "--auth", "scram-sha-256", "--encoding", "UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        self.version = self._run("postgres", "--version").strip()
        with (self.data / "postgresql.conf").open("a") as conf:  # appending keeps the owner
            conf.write(f"unix_socket_directories = '{_quote(str(self.root))}'\n")
            for key, value in SETTINGS.items():
                conf.write(f"{key} = {value}\n")
        self._started = True  # from here on, stop() stops it, even after a failed start
        for attempt in range(3):  # another process may take the free port before us
            self.port = free_port()
            try:
                self._run(
                    "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(WAIT_S),
                    "-o", f"-p {self.port}", "start",
                )  # fmt: skip
                break
            except PgError:
                if attempt == 2 or "could not bind" not in self._log_tail():
                    raise
        self._connect_admin()
        self.admin(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{self.password}'")
        self.admin(f"CREATE DATABASE {DATABASE} OWNER {ROLE}")

    def create_database(self, name: str) -> str:
        """A new empty database owned by the store's role; returns its URL."""
        self.admin(f"CREATE DATABASE {name} OWNER {ROLE}")
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (fast, else immediate) and delete its directory; never raises."""
        for conn in [self._admin, *self._owned.values()]:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
        self._admin = None
        self._owned.clear()
        if self._started:
            for mode in ("fast", "immediate"):
                try:
                    self._run("pg_ctl", "-D", str(self.data), "-w", "-t", str(WAIT_S),
                              "-m", mode, "stop")  # fmt: skip
                    break
                except PgError:
                    continue
            else:
                self._kill_postmaster()
            self._started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        """Last resort when pg_ctl can't stop it: SIGKILL our server by its pid."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)

    # -- databases -------------------------------------------------------------------------

    def url(self, database: str = DATABASE) -> str:
        """The SQLAlchemy URL of `database` for the store's role."""
        return f"postgresql+psycopg://{ROLE}:{self.password}@127.0.0.1:{self.port}/{database}"

    def empty_database(self) -> str:
        """The URL of a database with no tables at all (the scratch one, emptied)."""
        if not self._scratch:
            self.create_database(SCRATCH)
            self._scratch = True
        self.empty(SCRATCH)
        return self.url(SCRATCH)

    def empty(self, database: str = DATABASE) -> None:
        """Make `database` as new: drop everything in it (as its owner), keep the database."""
        self._connection(database).execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")

    def delete_rows(self, tables: list[str], database: str = DATABASE) -> None:
        """Delete every row of `tables` (children first), in one transaction. For a few rows
        this is ~20x faster than TRUNCATE, which makes new files for each table and index."""
        conn = self._connection(database)
        with conn.transaction():
            for table in tables:
                conn.execute(f"DELETE FROM {table}")

    def admin(self, sql: str) -> None:
        """Run one statement as the superuser, outside a transaction (for CREATE DATABASE)."""
        self._admin.execute(sql)

    # -- plumbing --------------------------------------------------------------------------

    def _connect_admin(self) -> None:
        self._admin = self._connect(ADMIN, self.admin_password, "postgres")

    def _connection(self, database: str) -> Any:
        if database not in self._owned:
            self._owned[database] = self._connect(ROLE, self.password, database)
        return self._owned[database]

    def _connect(self, user: str, password: str, database: str) -> Any:
        import psycopg

        conn = psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=user,
            password=password,
            dbname=database,
            autocommit=True,
            connect_timeout=WAIT_S,
        )
        # a test that left a connection in a transaction fails the next one, not hangs it
        conn.execute(f"SET lock_timeout = '{WAIT_S}s'")
        return conn

    def _give(self, path: Path) -> None:
        if self._owner is not None:
            os.chown(path, self._owner.pw_uid, self._owner.pw_gid)

    def _run(self, program: str, *args: str) -> str:
        command = [str(self.bin_dir / program), *args]
        if self._owner is not None and shutil.which("runuser"):
            command = ["runuser", "-u", self._owner.pw_name, "--", *command]
        elif self._owner is not None:
            command = ["su", "-s", "/bin/sh", self._owner.pw_name, "-c", shlex.join(command)]
        env = {**os.environ, "LC_ALL": "C", "PGTZ": "UTC"}
        try:
            done = subprocess.run(
                command, cwd=self.root, env=env, capture_output=True, text=True,
                timeout=RUN_TIMEOUT_S, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise PgError(f"{program} took over {RUN_TIMEOUT_S} s\n{self._log_tail()}") from None
        if done.returncode != 0:
            raise PgError(
                f"{program} failed ({done.returncode}): {done.stderr.strip() or done.stdout}\n"
                f"{self._log_tail()}"
            )
        return done.stdout

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "''")

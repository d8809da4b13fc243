"""Where HyperHub keeps things by default, and the environment variables that move them."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from platformdirs import user_data_dir

ENV_DATA_DIR = "HYPERHUB_DATA_DIR"
ENV_DB = "HYPERHUB_DB"
ENV_SPACE = "HYPERHUB_SPACE"


def data_dir(given: Path | None = None) -> Path:
    """The data dir: `given`, else $HYPERHUB_DATA_DIR, else the user's data dir."""
    if given is not None:
        return given.expanduser()
    env = os.environ.get(ENV_DATA_DIR)
    return Path(env).expanduser() if env else Path(user_data_dir("hyperhub"))


def db_url(given: str | None = None) -> str | None:
    """A database URL: `given`, else $HYPERHUB_DB, else None (SQLite in the data dir)."""
    return given or os.environ.get(ENV_DB) or None


def demo_space() -> Path:
    """The demo space that ships inside the package."""
    return Path(str(resources.files("hyperhub") / "demo" / "space.yaml"))


def space_from_env() -> Path | None:
    """$HYPERHUB_SPACE as a path, if set."""
    env = os.environ.get(ENV_SPACE)
    return Path(env).expanduser() if env else None


def private_dir(path: Path) -> Path:
    """Create `path` (and its parents) readable by its owner only (0700), and tighten an
    existing one: a data dir holds location history, the audit log and credentials."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)
    except OSError:
        pass  # not ours to change (a shared folder): the files in it are still 0600
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty with mode 0600 if missing (before a database opens it: SQLite gives
    its -wal and -shm files the same mode), or tighten an existing one."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        try:
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
        except OSError:
            pass
    return path

"""The running hub's lock: `HubLock` marks a data dir as served by a running hub (see
`runtime.serve`); `running_hub` tells whether one is (the CLI then sends commands to it
instead of simulating the space itself, `local.LocalSpace`)."""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

from hyperhub.config import private_dir
from hyperhub.errors import NotAllowed

log = logging.getLogger("hyperhub.hub")
LOCK_FILE = "hub.lock"


class HubLock:
    """Marks a data dir as served by a running hub: an flock that vanishes with the process."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = running_hub(self.path.parent)
            where = self.path.parent
            raise NotAllowed(f"a hub is already running on {where} (pid {pid})") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def running_hub(data_dir: Path) -> int | None:
    """The pid of the hub serving `data_dir`, or None when no hub holds its lock."""
    path = data_dir / LOCK_FILE
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = path.read_text().strip()
        return int(text) if text.isdigit() else -1
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)

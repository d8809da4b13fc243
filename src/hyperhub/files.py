"""Writing a file so that a reader never sees half of it: beside it, flushed, then renamed."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` at once: written to a hidden file in the same folder
    (a folder's loader skips it), synced, renamed over `path`; removed if anything fails."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_checked(path: Path, data: bytes, old: bytes | None, check: Callable[[], object]) -> None:
    """Write `data` to `path` (at once), then `check()` it from the disk; if the check
    raises, the file is as it was (`old`, or none) and the error goes on."""
    write_atomic(path, data)
    try:
        check()
    except BaseException:
        if old is None:
            path.unlink(missing_ok=True)
        else:
            write_atomic(path, old)
        raise

"""Writing a file so that a reader never sees half of it: beside it, flushed, then renamed."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace `path` with `data` at once: written to a hidden file in the same folder
    (a folder's loader skips it), synced, renamed over `path`; removed if anything fails.
    The file gets permissions `mode` (default: 0600, only its owner's)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_checked(
    path: Path,
    data: bytes,
    old: bytes | None,
    check: Callable[[], object],
    *,
    mode: int | None = None,
) -> None:
    """Write `data` to `path` (at once, with `mode` as `write_atomic`), then `check()` it
    from the disk; if the check raises, the file is as it was (`old`, or none) and the
    error goes on."""
    write_atomic(path, data, mode=mode)
    try:
        check()
    except BaseException:
        if old is None:
            path.unlink(missing_ok=True)
        else:
            write_atomic(path, old, mode=mode)
        raise

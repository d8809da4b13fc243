"""Accepting and rejecting found devices: edits of the accepted-devices file beside the space
file (`hyperhub.space.adapters.accepted_path`), which a person may edit too — comments and
order are kept (YAML round trip).

Every edit is checked before it is kept: the new file must load with the space
(`load_space`); otherwise the old file stays and the error says why. `rejected:` lists the
devices a person turned down, so they no longer show as pending.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from hyperhub._yaml import dump, styled, yaml_12, yaml_problem
from hyperhub.adapters.found import Found
from hyperhub.errors import AdapterError, did_you_mean
from hyperhub.files import write_checked
from hyperhub.ids import unique
from hyperhub.space import Space, load_space
from hyperhub.space.adapters import accepted_path

try:  # advisory lock between the CLI and the hub (POSIX only)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_ID = re.compile(r"^[a-z0-9_]+$")
HEADER = """\
# Devices accepted from this space's adapters (hyperhub adapters accept, or the dashboard).
# Ordinary device entries, plus the adapter each came from and its id there (external).
# Edit freely: names, areas, aliases; `properties` lists exactly what a device exposes.
# `rejected` lists found devices turned down, so they are no longer offered.
"""


def _read(path: Path) -> tuple[CommentedMap, bytes | None]:
    if not path.exists():
        doc = yaml_12(lines=True).load(HEADER + "devices: []\n")
        return doc, None
    old = path.read_bytes()
    try:
        doc = yaml_12(lines=True).load(old)
    except MarkedYAMLError as exc:
        line, why = yaml_problem(exc, old.decode("utf-8", "replace"))
        raise AdapterError(f"{path}:{line}: {why} (fix the file by hand first)") from None
    except Exception as exc:  # ruamel raises a few unmarked errors too (duplicate keys …)
        raise AdapterError(f"{path}: not a YAML mapping: {exc}") from None
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, CommentedMap):
        raise AdapterError(f"{path}: must be a mapping with `devices`")
    return doc, old


def _list(doc: CommentedMap, key: str) -> CommentedSeq:
    found = doc.get(key)
    if found is None:
        found = doc[key] = CommentedSeq()
    if not isinstance(found, CommentedSeq):
        raise AdapterError(f"the accepted devices file: `{key}` must be a list")
    return found


def rejected(space: Space) -> set[tuple[str, str]]:
    """(adapter, external) of the found devices turned down."""
    if space.path is None:
        return set()
    path = accepted_path(space.path)
    if not path.exists():
        return set()
    doc, _ = _read(path)
    out = set()
    for item in doc.get("rejected") or ():
        if isinstance(item, dict):
            out.add((str(item.get("adapter")), str(item.get("external"))))
    return out


def free_id(space: Space, wanted: str, taken: Iterable[str] = ()) -> str:
    """`wanted`, or `wanted_2`, `wanted_3` … when the space has a device of that id."""
    return unique(wanted, set(space.devices) | set(taken))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One edit of the accepted-devices file at a time, across processes (the CLI and the
    hub's `accept: all` or API): an advisory lock beside it (POSIX)."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def accept(
    space: Space,
    found: Found,
    *,
    device_id: str | None = None,
    name: str | None = None,
    area: str | None = None,
    aliases: Iterable[str] = (),
) -> dict[str, Any]:
    """Accept `found` as a device of `space` (its proposal, with these changes); returns
    the entry written. `AdapterError` / `SpaceError` say why not, and nothing changes."""
    path = _path(space)
    if found.adapter not in space.adapters:
        raise AdapterError(f"the space declares no adapter {found.adapter!r}")
    for dev in space.devices.values():
        if dev.adapter == found.adapter and dev.external == found.external:
            raise AdapterError(f"{found.key} is accepted already, as device {dev.id}")
    entry: dict[str, Any] = dict(found.proposal)
    if device_id is not None:
        if not _ID.match(device_id):
            raise AdapterError(f"bad device id {device_id!r}: use only a-z, 0-9 and _")
        entry["id"] = device_id
    if entry.get("id") in space.devices:
        raise AdapterError(
            f"the space has a device {entry.get('id')!r} already; choose another id "
            f"(--id {free_id(space, str(entry.get('id')))})"
        )
    if name is not None:
        entry["name"] = name
    if area is not None:
        if area not in space.areas:
            raise AdapterError(
                f"no area {area!r} in the space{did_you_mean(area, space.areas)}; "
                f"areas: {', '.join(space.areas) or 'none'}"
            )
        entry["area"] = area
    more = [a for a in aliases if a.strip()]
    if more:
        entry["aliases"] = more
    entry["adapter"] = found.adapter
    entry["external"] = found.external
    with _locked(path):
        _append(space, path, found, entry)
    return entry


def _append(space: Space, path: Path, found: Found, entry: dict[str, Any]) -> None:
    doc, old = _read(path)
    devices = _list(doc, "devices")
    devices.append(styled(entry))
    still = [
        r
        for r in doc.get("rejected") or ()
        if not (
            isinstance(r, dict)
            and (r.get("adapter"), r.get("external")) == (found.adapter, found.external)
        )
    ]
    if "rejected" in doc:
        doc["rejected"] = CommentedSeq(still)
    _write_checked(space, path, doc, old)


def reject(space: Space, adapter: str, what: str, found: Iterable[str] | None = None) -> str:
    """Turn down a found device (`what`: its external id) or remove an accepted one (its
    external id or its device id); returns what was done, in words. With `found` (the
    external ids the adapter found), a name that is neither is refused, not remembered."""
    path = _path(space)
    if adapter not in space.adapters:
        raise AdapterError(f"the space declares no adapter {adapter!r}")
    with _locked(path):
        return _reject(space, path, adapter, what, found)


def _reject(space: Space, path: Path, adapter: str, what: str, found: Iterable[str] | None) -> str:
    doc, old = _read(path)
    devices = _list(doc, "devices")
    for i, item in enumerate(devices):
        if (
            isinstance(item, dict)
            and item.get("adapter") == adapter
            and what in (item.get("external"), item.get("id"))
        ):
            external = str(item.get("external"))
            del devices[i]
            _add_rejected(doc, adapter, external)
            _write_checked(space, path, doc, old)
            return (
                f"removed device {item.get('id')} ({adapter}:{external}); it is not offered again"
            )
    if (adapter, what) in rejected(space):
        return f"{adapter}:{what} was rejected already"
    if found is not None and what not in set(found):
        accepted_ids = [d.id for d in space.devices.values() if d.adapter == adapter]
        raise AdapterError(
            f"adapter {adapter} has found no {what!r} and has no such device"
            f"{did_you_mean(what, [*accepted_ids, *found])}"
        )
    _add_rejected(doc, adapter, what)
    _write_checked(space, path, doc, old)
    return f"rejected {adapter}:{what}; it is not offered again"


def _add_rejected(doc: CommentedMap, adapter: str, external: str) -> None:
    item = CommentedMap([("adapter", adapter), ("external", external)])
    item.fa.set_flow_style()
    _list(doc, "rejected").append(item)


def _path(space: Space) -> Path:
    if space.path is None:
        raise AdapterError("this space was not read from a file, so nothing can be accepted")
    return accepted_path(space.path)


def _write_checked(space: Space, path: Path, doc: CommentedMap, old: bytes | None) -> None:
    """Write `doc` to `path` if the space still loads with it; else keep the old file."""
    text = dump(doc)
    assert space.path is not None
    where = space.path
    write_checked(path, text.encode("utf-8"), old, lambda: load_space(where))

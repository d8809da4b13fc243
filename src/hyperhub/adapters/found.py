"""What a running adapter found, for the CLI and the API: `<data dir>/adapters/<space>/<id>.json`.

The hub writes it whenever an adapter has read its system's device list (atomically, so a
reader never sees half a file); `hyperhub adapters pending` and `accept` read it, with or
without a running hub (then it says when it was written). One entry per device found:

    {"external": "0x00158d…", "friendly_name": "kitchen/Floor Lamp", "model": "LED1545G12",
     "vendor": "IKEA", "description": "…", "proposal": {id, type, name, area, properties, …},
     "unmapped": ["effect", …]}
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperhub.errors import HyperHubError
from hyperhub.files import write_atomic


@dataclass(frozen=True)
class Found:
    """One device an adapter found, with the HyperHub device it proposes."""

    adapter: str
    external: str
    proposal: dict[str, Any]  # as the accepted-devices file would keep it
    friendly_name: str = ""
    model: str = ""
    vendor: str = ""
    description: str = ""
    unmapped: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """`ADAPTER:EXTERNAL_ID`, as the CLI names it."""
        return f"{self.adapter}:{self.external}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "adapter": self.adapter,
            "external": self.external,
            "friendly_name": self.friendly_name,
            "model": self.model,
            "vendor": self.vendor,
            "description": self.description,
            "proposal": self.proposal,
            "unmapped": list(self.unmapped),
        }


def split_key(key: str) -> tuple[str, str] | None:
    """(adapter, external id) of an `ADAPTER:EXTERNAL_ID` (`Found.key`), or None when it is
    not one."""
    adapter, sep, external = key.partition(":")
    return (adapter, external) if sep and adapter and external else None


@dataclass
class FoundList:
    """Everything one adapter found, when, and whether its system was online."""

    adapter: str
    kind: str
    updated: float = 0.0
    online: bool = False
    found: list[Found] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what it had to leave out, and why


def found_path(data_dir: Path, space_slug: str, adapter: str) -> Path:
    return data_dir / "adapters" / space_slug / f"{adapter}.json"


def write_found(data_dir: Path, space_slug: str, found: FoundList) -> Path:
    """Write `found` for readers in other processes (atomically)."""
    path = found_path(data_dir, space_slug, found.adapter)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "adapter": found.adapter,
        "kind": found.kind,
        "updated": found.updated or time.time(),
        "online": found.online,
        "found": [f.as_dict() for f in found.found],
        "problems": list(found.problems),
    }
    write_atomic(path, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))
    return path


def read_found(data_dir: Path, space_slug: str, adapter: str, kind: str) -> FoundList:
    """What the adapter last found (an empty list if it never ran)."""
    path = found_path(data_dir, space_slug, adapter)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return FoundList(adapter, kind)
    except (OSError, ValueError) as exc:
        raise HyperHubError(f"{path}: cannot read what adapter {adapter} found: {exc}") from None
    out = FoundList(adapter, kind, float(data.get("updated") or 0), bool(data.get("online")))
    out.problems = [str(p) for p in data.get("problems") or () if isinstance(p, str)]
    for entry in data.get("found") or ():
        if isinstance(entry, dict) and isinstance(entry.get("proposal"), dict):
            out.found.append(
                Found(
                    adapter,
                    str(entry.get("external")),
                    dict(entry["proposal"]),
                    str(entry.get("friendly_name") or ""),
                    str(entry.get("model") or ""),
                    str(entry.get("vendor") or ""),
                    str(entry.get("description") or ""),
                    tuple(str(u) for u in entry.get("unmapped") or ()),
                )
            )
    return out

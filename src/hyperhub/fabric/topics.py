"""The topic layout of the fabric, in one place (design.md, "Topics on the fabric").

hyperhub/<space>/<device>/state             retained {"ts", "state"}
hyperhub/<space>/<device>/set               {"cid", "property", "value"}
hyperhub/<space>/<device>/call/<action>     {"cid", "args"}
hyperhub/<space>/<device>/ack               {"cid", "ok", "error", "message", "changes"}
hyperhub/<space>/<device>/event/<name>      {"ts", "args"}
hyperhub/<space>/<device>/availability      retained "online" / "offline"
hyperhub/<space>/discovery/<device>         retained device description; empty = removed
hyperhub/<space>/node/<node>/availability   retained "online" / "offline" (the node's LWT)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from hyperhub.topic_names import ROOT

_SLUG = re.compile(r"[^a-z0-9_-]+")
_ID = re.compile(r"^[a-z0-9_]+$")
Kind = Literal["state", "set", "call", "ack", "event", "availability", "discovery", "node"]


def space_slug(name: str) -> str:
    """A topic-safe id for a space name: 'Lin family' → 'lin_family'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = _SLUG.sub("_", ascii_name.lower()).strip("_")
    if slug:
        return slug
    # A name with no ASCII letters (e.g. 陈家) still needs a stable, readable-enough id.
    return "space_" + "".join(f"{ord(c):x}" for c in name)[:24]


@dataclass(frozen=True)
class Topics:
    """Topic names for one space."""

    space: str  # the slug

    @property
    def base(self) -> str:
        return f"{ROOT}/{self.space}"

    def state(self, device: str) -> str:
        return f"{self.base}/{device}/state"

    def set(self, device: str) -> str:
        return f"{self.base}/{device}/set"

    def call(self, device: str, action: str) -> str:
        return f"{self.base}/{device}/call/{action}"

    def ack(self, device: str) -> str:
        return f"{self.base}/{device}/ack"

    def event(self, device: str, name: str) -> str:
        return f"{self.base}/{device}/event/{name}"

    def availability(self, device: str) -> str:
        return f"{self.base}/{device}/availability"

    def discovery(self, device: str) -> str:
        return f"{self.base}/discovery/{device}"

    def node_availability(self, node: str) -> str:
        return f"{self.base}/node/{node}/availability"

    # Wildcards the hub subscribes to.
    def all_states(self) -> str:
        return f"{self.base}/+/state"

    def all_acks(self) -> str:
        return f"{self.base}/+/ack"

    def all_events(self) -> str:
        return f"{self.base}/+/event/+"

    def all_availability(self) -> str:
        return f"{self.base}/+/availability"

    def all_discovery(self) -> str:
        return f"{self.base}/discovery/+"

    def all_nodes(self) -> str:
        return f"{self.base}/node/+/availability"

    def commands_for(self, device: str) -> list[str]:
        """What a node subscribes to for one device it hosts."""
        return [self.set(device), f"{self.base}/{device}/call/+"]


@dataclass(frozen=True)
class Parsed:
    """A topic taken apart: which kind, which device (or node), and the action/event name."""

    kind: Kind
    device: str
    name: str | None = None


def parse_topic(topics: Topics, topic: str) -> Parsed | None:
    """Take a topic of this space apart; None for anything that is not ours or malformed."""
    prefix = topics.base + "/"
    if not topic.startswith(prefix):
        return None
    parts = topic[len(prefix) :].split("/")
    if len(parts) == 2 and parts[0] == "discovery" and _ID.match(parts[1]):
        return Parsed("discovery", parts[1])
    if len(parts) == 3 and parts[0] == "node" and parts[2] == "availability":
        return Parsed("node", parts[1]) if _ID.match(parts[1]) else None
    if not parts or not _ID.match(parts[0]):
        return None
    device, rest = parts[0], parts[1:]
    if len(rest) == 1 and rest[0] in ("state", "set", "ack", "availability"):
        return Parsed(rest[0], device)  # type: ignore[arg-type]
    if len(rest) == 2 and rest[0] in ("call", "event") and _ID.match(rest[1]):
        return Parsed(rest[0], device, rest[1])  # type: ignore[arg-type]
    return None

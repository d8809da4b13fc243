"""Who may log in to the embedded broker, and which topics each may use.

Kept in `<data_dir>/broker/credentials.json` (mode 0600): the hub principal (full access
under `hyperhub/#`) and one principal per node, with a generated password and the device
ids it owns. From it come the Mosquitto password file (PBKDF2-SHA512 `$7$` hashes, the
format of `mosquitto_passwd` 2.0) and ACL file, and the same rules feed the amqtt fallback.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hyperhub.errors import BrokerError
from hyperhub.fabric.topics import Topics
from hyperhub.topic_names import ROOT, foreign_topic_problem

try:  # advisory lock so the hub and a CLI command do not interleave edits (POSIX only)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

HUB = "hub"
_ID = re.compile(r"^[a-z0-9_]+$")
_RESERVED_DEVICE_IDS = frozenset({"discovery", "node"})  # topic levels of their own
_PBKDF2_ITERATIONS = 101  # what mosquitto_passwd 2.0 writes
Access = Literal["read", "write", "readwrite"]


class Principal(BaseModel):
    """One login on the broker: the hub or a node, with the devices a node owns and the
    topics of another system it may use (an adapter's: `zigbee2mqtt/#`)."""

    model_config = ConfigDict(frozen=True)

    name: str
    role: Literal["hub", "node"]
    password: str = Field(repr=False)
    devices: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()  # another system's filters it may read and write
    reads: tuple[str, ...] = ()  # … only read
    writes: tuple[str, ...] = ()  # … only write


@dataclass(frozen=True)
class AclRule:
    """`topic <access> <filter>` as in a Mosquitto ACL file."""

    access: Access
    topic: str

    def allows_write(self, topic: str) -> bool:
        return self.access != "read" and topic_matches(self.topic, topic)

    def allows_read(self, topic: str) -> bool:
        return self.access != "write" and topic_matches(self.topic, topic)

    def covers_subscription(self, topic_filter: str) -> bool:
        """True if every topic `topic_filter` can match is readable under this rule."""
        return self.access != "write" and filter_within(topic_filter, self.topic)


class AclIndex:
    """A principal's rules, indexed for checks that do not scan every rule.

    Same answers as `any(rule.allows_write(topic) for rule in rules)` and friends, but a
    check costs a few dict look-ups instead of one test per rule: exact rules by topic, and
    wildcard rules by the literal levels before their first wildcard (which a topic must
    share to match). What the in-process amqtt broker checks on every publish and delivery.
    """

    def __init__(self, rules: Iterable[AclRule]) -> None:
        self.rules = list(rules)
        self._exact: dict[str, list[AclRule]] = {}
        self._by_prefix: dict[tuple[str, ...], list[AclRule]] = {}
        for rule in self.rules:
            levels = rule.topic.split("/")
            wild = next((i for i, level in enumerate(levels) if level in ("+", "#")), None)
            if wild is None:
                self._exact.setdefault(rule.topic, []).append(rule)
            else:
                self._by_prefix.setdefault(tuple(levels[:wild]), []).append(rule)

    def _candidates(self, topic: str) -> Iterator[AclRule]:
        yield from self._exact.get(topic, ())
        levels = topic.split("/")
        for end in range(len(levels) + 1):
            yield from self._by_prefix.get(tuple(levels[:end]), ())

    def allows_write(self, topic: str) -> bool:
        return any(rule.allows_write(topic) for rule in self._candidates(topic))

    def allows_read(self, topic: str) -> bool:
        return any(rule.allows_read(topic) for rule in self._candidates(topic))

    def covers_subscription(self, topic_filter: str) -> bool:
        """True if one rule makes every topic `topic_filter` can match readable."""
        return any(
            rule.covers_subscription(topic_filter) for rule in self._candidates(topic_filter)
        )


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT matching of a concrete topic against a filter with `+` / `#` wildcards."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False  # wildcards at the first level never match $SYS and friends
    want, have = topic_filter.split("/"), topic.split("/")
    for i, level in enumerate(want):
        if level == "#":
            return True
        if i >= len(have) or level not in ("+", have[i]):
            return False
    return len(want) == len(have)


def filter_within(inner: str, outer: str) -> bool:
    """True if every topic matched by filter `inner` is also matched by filter `outer`."""
    if inner.startswith("$") and outer[:1] in ("+", "#"):
        return False  # as in topic_matches: first-level wildcards skip $SYS
    sub, acl = inner.split("/"), outer.split("/")
    for i, level in enumerate(acl):
        if level == "#":
            return True
        if i >= len(sub) or sub[i] == "#":
            return False
        if level != "+" and sub[i] != level:
            return False
    return len(sub) == len(acl)


def acl_rules(principal: Principal, space: str) -> list[AclRule]:
    """The topics `principal` may use in space `space` (the slug).

    A node gets two lines per device it owns, `readwrite hyperhub/S/D/#` and `write
    hyperhub/S/discovery/D`, plus its own last-will topic. Mosquitto checks a client's lines
    in order until one matches, for every publish, so the `#` lines (where a node's states go)
    come first, and there are as few as the fixed topic layout allows: a node with 1,000
    devices has 2,001 lines instead of the 7,001 of one line per topic and direction.

    `…/D/#` also lets a node publish its own devices' `set` and `call/…` and read their
    `ack`, `event/…` and `availability`: what it could do to them anyway. No rule matches
    another device's topics, so it can neither publish for nor read the commands of a device
    it does not own.
    """
    if principal.role == "hub":
        return [AclRule("readwrite", f"{ROOT}/#"), AclRule("read", "$SYS/#")]
    t = Topics(space)
    rules = [AclRule("readwrite", f"{t.base}/{device}/#") for device in principal.devices]
    rules += [AclRule("write", t.discovery(device)) for device in principal.devices]
    rules.append(AclRule("write", t.node_availability(principal.name)))
    rules += [AclRule("readwrite", topic) for topic in principal.topics]
    rules += [AclRule("read", topic) for topic in principal.reads]
    rules += [AclRule("write", topic) for topic in principal.writes]
    return rules


NODE_ID_PREFIX = "hyperhub-node-"
HUB_ID_PREFIX = "hyperhub-hub-"


def node_client_id(space: str, name: str, password: str | None) -> str:
    """The MQTT client id of node `name`: stable (the broker keeps its persistent session)
    and known only to whoever knows the node's password.

    An MQTT broker disconnects a client when another connects with the same id, whatever
    login it uses: with a guessable id ("hyperhub-node-home-local") any node could knock
    any other off the broker, and take over its session. The id's last part is an HMAC of
    the node's password, so a node can only name its own. (Without a password, on an open
    external broker, the id is the plain one: that broker must bind ids to logins itself;
    docs/fabric.md.) The amqtt fallback also refuses a node any other id."""
    base = f"{NODE_ID_PREFIX}{space}-{name}"
    if not password:
        return base
    tag = hmac.new(password.encode(), f"client-id/{space}/{name}".encode(), "sha256")
    return f"{base}-{tag.hexdigest()[:16]}"


def hub_client_id(space: str) -> str:
    """A fresh client id for one of the hub's connections (the hub opens several: its own,
    each CLI command's): unguessable, so no node can name it to knock it off."""
    return f"{HUB_ID_PREFIX}{space}-{secrets.token_hex(8)}"


def client_id_allowed(principal: Principal, space: str, client_id: str) -> bool:
    """Whether `principal` may connect as `client_id` (a broker that can check it: amqtt):
    a node only as its own id, the hub as any id but a node's."""
    if principal.role == "node":
        return client_id == node_client_id(space, principal.name, principal.password)
    return not client_id.startswith(NODE_ID_PREFIX)


def mosquitto_hash(password: str, *, salt: bytes | None = None) -> str:
    """A password hash in Mosquitto 2.0's `$7$` format (PBKDF2-HMAC-SHA512, 12-byte salt)."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _PBKDF2_ITERATIONS)
    b64 = base64.b64encode
    return f"$7${_PBKDF2_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def _check_id(kind: str, value: str) -> None:
    if not _ID.match(value):
        raise BrokerError(f"{kind} {value!r} is not a valid id: use lower-case letters, digits, _")


class CredentialStore:
    """The broker's principals, persisted in `<data_dir>/broker/credentials.json`.

    Every call re-reads the file if another process changed it, so a CLI command that adds
    a node and the running hub see the same principals.
    """

    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir) / "broker"
        self.path = self.dir / "credentials.json"
        self.password_file = self.dir / "passwd"
        self.acl_file = self.dir / "acl"
        self.revision = 0  # bumped on every change seen, so caches know when to refresh
        self._data: dict[str, Any] = {}
        self._stamp: tuple[int, int] | None = None
        self._loaded = False

    # -- reading -------------------------------------------------------------------------
    def hub(self) -> Principal:
        """The hub's principal (created with a fresh password the first time)."""
        self._refresh()
        if "hub" not in self._data:
            with self._editing() as data:
                data.setdefault("hub", {"password": secrets.token_urlsafe(24)})
        return Principal(name=HUB, role="hub", password=self._data["hub"]["password"])

    def nodes(self) -> list[Principal]:
        """Every node principal, by name."""
        self._refresh()
        return [self._node(name) for name in sorted(self._data.get("nodes", {}))]

    def principal(self, name: str) -> Principal | None:
        """The hub or node called `name`, or None."""
        if name == HUB:
            return self.hub()
        self._refresh()
        return self._node(name) if name in self._data.get("nodes", {}) else None

    def verify(self, username: str | None, password: str | None) -> Principal | None:
        """The principal these credentials log in as, or None (constant-time comparison)."""
        found = self.principal(username) if username else None
        if found is None or password is None:
            return None
        return found if hmac.compare_digest(found.password, password) else None

    def current_revision(self) -> int:
        """`revision` after re-reading the file if another process changed it."""
        self._refresh()
        return self.revision

    # -- changing ------------------------------------------------------------------------
    def add_node(
        self,
        name: str,
        devices: Iterable[str],
        topics: Iterable[str] = (),
        *,
        reads: Iterable[str] = (),
        writes: Iterable[str] = (),
    ) -> Principal:
        """Add node `name` owning `devices` (and allowed another system's `topics` to read
        and write, `reads` only to read, `writes` only to write: an adapter's), or update
        them (its password stays)."""
        _check_id("node name", name)
        foreign = tuple(sorted(set(topics)))
        only = {"reads": tuple(sorted(set(reads))), "writes": tuple(sorted(set(writes)))}
        for topic in (*foreign, *only["reads"], *only["writes"]):
            why = foreign_topic_problem(topic)
            if why:
                raise BrokerError(f"node {name}: {why}")
        if name == HUB:
            raise BrokerError(f"node name {name!r} is reserved for the hub")
        wanted = tuple(sorted(set(devices)))
        for device in wanted:
            _check_id("device id", device)
            if device in _RESERVED_DEVICE_IDS:
                raise BrokerError(f"device id {device!r} is reserved by the topic layout")
        with self._editing() as data:
            nodes = data.setdefault("nodes", {})
            for other, entry in nodes.items():
                taken = sorted(set(entry.get("devices", ())) & set(wanted)) if other != name else []
                if taken:
                    raise BrokerError(
                        f"device {taken[0]!r} already belongs to node {other!r}; "
                        f"remove it there before giving it to node {name!r}"
                    )
            entry = nodes.setdefault(name, {"password": secrets.token_urlsafe(24)})
            entry["devices"] = list(wanted)
            for key, value in (("topics", foreign), *only.items()):
                if value:
                    entry[key] = list(value)
                else:
                    entry.pop(key, None)
        return self._node(name)

    def remove_node(self, name: str) -> bool:
        """Forget node `name`; True if it existed. Its next login is refused (after reload)."""
        with self._editing() as data:
            return data.get("nodes", {}).pop(name, None) is not None

    def write_mosquitto_files(self, space: str) -> tuple[Path, Path]:
        """Write the Mosquitto password and ACL files for space `space`; return their paths."""
        principals = [self.hub(), *self.nodes()]
        passwd = "".join(f"{p.name}:{mosquitto_hash(p.password)}\n" for p in principals)
        acl = ["# Generated by HyperHub from credentials.json; edits are overwritten."]
        for p in principals:
            acl.append(f"\nuser {p.name}")
            acl += [f"topic {rule.access} {rule.topic}" for rule in acl_rules(p, space)]
        _write_private(self.password_file, passwd)
        _write_private(self.acl_file, "\n".join(acl) + "\n")
        return self.password_file, self.acl_file

    # -- internals -----------------------------------------------------------------------
    def _node(self, name: str) -> Principal:
        entry = self._data["nodes"][name]
        return Principal(
            name=name,
            role="node",
            password=entry["password"],
            devices=tuple(entry.get("devices", ())),
            topics=tuple(entry.get("topics", ())),
            reads=tuple(entry.get("reads", ())),
            writes=tuple(entry.get("writes", ())),
        )

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _refresh(self) -> None:
        stamp = self._file_stamp()
        if self._loaded and stamp == self._stamp:
            return
        data: dict[str, Any] = {}
        if stamp is not None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise BrokerError(f"{self.path}: cannot read broker credentials: {exc}") from exc
            if not isinstance(data, dict):
                raise BrokerError(f"{self.path}: broker credentials must be a JSON object")
        self._data, self._stamp, self._loaded = data, stamp, True
        self.revision += 1

    @contextlib.contextmanager
    def _editing(self) -> Iterator[dict[str, Any]]:
        """Lock, re-read, let the caller change a copy, and save it if it changed."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.dir / ".lock", "a") as lock:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            self._refresh()
            before = json.dumps(self._data, sort_keys=True)
            data = json.loads(before)
            yield data  # an exception here leaves both the file and self._data untouched
            after = json.dumps(data, sort_keys=True)
            if after != before:
                _write_private(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")
                self._data, self._stamp = data, self._file_stamp()
                self.revision += 1


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable by this user only (0600)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

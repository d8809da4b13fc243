"""The two-way (siid, piid) ↔ HyperHub mapping an adapter uses, and the loaded `MiotType`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from hyperhub.errors import SpecError, ValueNotAllowed
from hyperhub.spec.miot.codecs import Codec
from hyperhub.spec.model import DeviceType


class MiotWrite(NamedTuple):
    """Set MIoT property (siid, piid) to a raw value."""

    siid: int
    piid: int
    value: Any


class MiotCall(NamedTuple):
    """Call MIoT action (siid, aiid) with raw `in` values, in the action's order."""

    siid: int
    aiid: int
    args: tuple[Any, ...]


@dataclass(frozen=True)
class MiotPropertyLink:
    """One MIoT property under a HyperHub name, with its value conversion."""

    siid: int
    piid: int
    name: str
    urn: str
    codec: Codec

    def to_hyperhub(self, raw: Any, where: str) -> Any:
        try:
            return self.codec.decode(raw)
        except (ValueError, TypeError) as exc:
            raise ValueNotAllowed(f"{where}: {exc}") from None

    def to_miot(self, value: Any) -> Any:
        return self.codec.encode(value)


@dataclass(frozen=True)
class MiotActionLink:
    """A HyperHub action as a MIoT action (`aiid`, `ins`) or as a fixed write (`piid`, `value`)."""

    name: str
    siid: int
    aiid: int | None = None
    ins: tuple[MiotPropertyLink, ...] = ()
    piid: int | None = None
    value: Any = None


@dataclass(frozen=True)
class MiotEventLink:
    """A MIoT event under a HyperHub event name; `args` are its argument properties."""

    name: str
    siid: int
    eiid: int
    args: tuple[MiotPropertyLink, ...] = ()


@dataclass(frozen=True)
class MiotMapping:
    """(siid, piid) ↔ HyperHub names and values, for one MIoT device type."""

    device_type: DeviceType
    reads: dict[tuple[int, int], MiotPropertyLink]  # what a readable MIoT property means
    writes: dict[str, MiotPropertyLink]  # where a HyperHub property write goes
    actions: dict[str, MiotActionLink]
    events: dict[tuple[int, int], MiotEventLink]

    def to_hyperhub(self, siid: int, piid: int, raw: Any) -> tuple[str, Any]:
        """The HyperHub (name, value) of a raw MIoT property value."""
        link = self.reads.get((siid, piid))
        if link is None:
            known = ", ".join(f"{s}.{p}" for s, p in self.reads) or "none"
            raise SpecError(
                f"{self.device_type.origin}: no readable property siid={siid} piid={piid}; "
                f"readable (siid.piid): {known}"
            )
        where = f"{self.device_type.type}.{link.name} (siid={siid} piid={piid})"
        return link.name, self.device_type.prop(link.name).check(
            link.to_hyperhub(raw, where), where
        )

    def to_miot(self, name: str, value: Any) -> MiotWrite:
        """The MIoT (siid, piid, raw) write for setting HyperHub property `name` to `value`."""
        value = self.device_type.check_write(name, value)
        link = self.writes[name]  # every writable property has a write link
        return MiotWrite(link.siid, link.piid, link.to_miot(value))

    def call(self, name: str, args: dict[str, Any] | None = None) -> MiotCall | MiotWrite:
        """The MIoT command for HyperHub action `name`; `SpecError` if it has none."""
        args = self.device_type.check_args(name, args or {})
        link = self.actions.get(name)
        if link is None:
            raise SpecError(
                f"{self.device_type.type}.{name} has no MIoT command; apply its effects as writes"
            )
        if link.aiid is None:
            return MiotWrite(link.siid, link.piid or 0, link.value)
        return MiotCall(link.siid, link.aiid, tuple(a.to_miot(args[a.name]) for a in link.ins))

    def event(
        self, siid: int, eiid: int, arguments: Iterable[dict[str, Any]] = ()
    ) -> tuple[str, dict[str, Any]]:
        """The HyperHub (name, args) of a MIoT event; `arguments` as [{"piid": …, "value": …}]."""
        link = self.events.get((siid, eiid))
        if link is None:
            raise SpecError(f"{self.device_type.origin}: no event siid={siid} eiid={eiid}")
        # keyed by int, looked up with whatever the JSON held (None or another type finds none)
        by_piid: dict[Any, MiotPropertyLink] = {a.piid: a for a in link.args}
        out: dict[str, Any] = {}
        for item in arguments:
            arg = by_piid.get(item.get("piid"))
            if arg is None:
                raise SpecError(f"event {link.name}: unknown argument piid={item.get('piid')}")
            out[arg.name] = arg.to_hyperhub(item.get("value"), f"event {link.name}({arg.name})")
        return link.name, out


@dataclass(frozen=True)
class MiotType:
    """A loaded MIoT instance: the HyperHub type, its base, and the value mapping."""

    urn: str
    base: str | None  # the built-in type it extends, or None for an unknown kind of device
    device_type: DeviceType
    mapping: MiotMapping

    @property
    def model(self) -> str:
        """The model part of the URN, e.g. "yeelink-ceiling4"."""
        parts = self.urn.split(":")
        return parts[5] if len(parts) > 5 else ""

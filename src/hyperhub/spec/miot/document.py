"""Reading and validating a raw MIoT instance document into plain `_Instance` records."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperhub.errors import SpecError

_FORMATS = {"bool": "bool", "float": "float", "string": "str", "hex": "str"} | {
    f: "int" for f in ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64")
}


@dataclass(frozen=True)
class _Prop:
    siid: int
    piid: int
    service: str  # MIoT service name, e.g. "air-conditioner"
    primary: bool  # first service of that name in the instance
    name: str  # MIoT property name, e.g. "target-temperature"
    urn: str
    description: str
    kind: str  # bool / int / float / str
    access: frozenset[str]
    unit: str | None
    range: tuple[float, float] | None
    choices: tuple[tuple[Any, str], ...] | None  # the value-list: (raw, description)

    @property
    def readable(self) -> bool:
        return bool(self.access & {"read", "notify"})

    @property
    def writable(self) -> bool:
        return "write" in self.access


@dataclass(frozen=True)
class _Item:  # an action or an event
    siid: int
    iid: int
    service: str
    primary: bool
    name: str
    description: str
    piids: tuple[int, ...]  # `in` of an action, `arguments` of an event


@dataclass(frozen=True)
class _Instance:
    urn: str
    kind: str  # the device kind in the URN, e.g. "air-conditioner"
    description: str
    services: tuple[str, ...]
    props: tuple[_Prop, ...]
    actions: tuple[_Item, ...]
    events: tuple[_Item, ...]


def _key(p: _Prop) -> tuple[int, int]:
    return (p.siid, p.piid)


def _load(doc: dict | str | Path) -> _Instance:
    """A MIoT instance (dict, JSON text, or a file path), read and validated."""
    data, source = _read(doc)
    if not isinstance(data, dict):
        got = type(data).__name__
        raise SpecError(f"{source}: a MIoT instance must be a JSON object, not {got}")
    return _parse(data, source)


def _read(doc: dict | str | Path) -> tuple[Any, str]:
    if isinstance(doc, dict):
        return doc, "MIoT instance"
    if isinstance(doc, str) and doc.lstrip().startswith(("{", "[")):
        source, text = "MIoT instance", doc
    elif isinstance(doc, str | Path):
        source = str(doc)
        try:
            text = Path(doc).read_text(encoding="utf-8")
        except OSError as exc:
            raise SpecError(f"{source}: cannot read: {exc.strerror}") from None
    else:
        return doc, "MIoT instance"
    try:
        return json.loads(text), source
    except json.JSONDecodeError as exc:
        raise SpecError(f"{source}: not valid JSON: {exc.msg} at line {exc.lineno}") from None


def _urn_name(urn: Any, kind: str, where: str) -> str:
    parts = urn.split(":") if isinstance(urn, str) else []
    if len(parts) < 4 or parts[0] != "urn" or parts[2] != kind or not parts[3]:
        shape = f"urn:<namespace>:{kind}:<name>:…"
        raise SpecError(f"{where}: {urn!r} is not a MIoT {kind} URN ({shape})")
    return parts[3]


def _iid(entry: dict, where: str) -> int:
    iid = entry.get("iid")
    if not isinstance(iid, int) or isinstance(iid, bool) or iid < 0:
        raise SpecError(f"{where}.iid: {iid!r} is not an instance id (a whole number)")
    return iid


def _entries(parent: dict, key: str, where: str) -> list[dict]:
    items = parent.get(key) or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise SpecError(f"{where}.{key}: must be a list of objects")
    return items


def _description(entry: dict) -> str:
    return str(entry.get("description") or "")


def _parse(data: dict, source: str) -> _Instance:
    urn = data.get("type")
    kind = _urn_name(urn, "device", f"{source}: type")
    assert isinstance(urn, str)  # _urn_name raised otherwise
    services = _entries(data, "services", source)
    if not services:
        raise SpecError(f"{source}: services: the instance has no services")
    props: list[_Prop] = []
    actions: list[_Item] = []
    events: list[_Item] = []
    siids: set[int] = set()
    names: list[str] = []
    for i, srv in enumerate(services):
        where = f"{source}: services[{i}]"
        siid, sname = _iid(srv, where), _urn_name(srv.get("type"), "service", f"{where}.type")
        if siid in siids:
            raise SpecError(f"{where}.iid: siid {siid} is used twice")
        siids.add(siid)
        primary = sname not in names
        names.append(sname)
        piids: set[int] = set()
        for j, raw in enumerate(_entries(srv, "properties", where)):
            prop = _property(raw, siid, sname, primary, f"{where}.properties[{j}]")
            if prop.piid in piids:
                raise SpecError(f"{where}.properties[{j}].iid: piid {prop.piid} is used twice")
            piids.add(prop.piid)
            props.append(prop)
        for key, out, args in (("actions", actions, "in"), ("events", events, "arguments")):
            for j, raw in enumerate(_entries(srv, key, where)):
                item_where = f"{where}.{key}[{j}]"
                name = _urn_name(raw.get("type"), key[:-1], f"{item_where}.type")
                refs = raw.get(args) or []
                if not isinstance(refs, list) or not all(r in piids for r in refs):
                    raise SpecError(f"{item_where}.{args}: {refs!r} must be piids of this service")
                desc = _description(raw)
                iid = _iid(raw, item_where)
                out.append(_Item(siid, iid, sname, primary, name, desc, tuple(refs)))
    return _Instance(
        urn,
        kind,
        _description(data),
        tuple(names),
        tuple(props),
        tuple(actions),
        tuple(events),
    )


def _property(raw: dict, siid: int, service: str, primary: bool, where: str) -> _Prop:
    piid = _iid(raw, where)
    name = _urn_name(raw.get("type"), "property", f"{where}.type")
    fmt = raw.get("format")
    if fmt not in _FORMATS:
        known = ", ".join(_FORMATS)
        raise SpecError(f"{where}.format: unknown format {fmt!r}; expected one of {known}")
    access = raw.get("access") or []
    if not isinstance(access, list) or not all(isinstance(a, str) for a in access):
        raise SpecError(f'{where}.access: {access!r} must be a list like ["read", "write"]')
    unit = raw.get("unit")
    unit = None if unit in (None, "", "none", "null") else str(unit)
    rng = raw.get("value-range")
    if rng is not None:
        nums = (
            isinstance(rng, list)
            and len(rng) in (2, 3)
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in rng)
        )
        if not nums or rng[0] > rng[1]:
            raise SpecError(f"{where}.value-range: {rng!r} must be [min, max, step], min <= max")
        rng = (rng[0], rng[1])
    choices = raw.get("value-list")
    if choices is not None:
        if not isinstance(choices, list) or not all(
            isinstance(c, dict) and isinstance(c.get("value"), int | float) for c in choices
        ):
            raise SpecError(f"{where}.value-list: each entry needs a numeric `value`")
        choices = tuple((c["value"], _description(c)) for c in choices) or None
    return _Prop(
        siid,
        piid,
        service,
        primary,
        name,
        raw["type"],
        _description(raw),
        _FORMATS[fmt],
        frozenset(access),
        unit,
        rng,
        choices,
    )

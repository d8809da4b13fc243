"""Read a space file: every problem is collected with its line; a bad file yields no space."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ruamel.yaml.error import MarkedYAMLError

from hyperhub._yaml import to_plain, too_deep, yaml_12, yaml_problem
from hyperhub.errors import HyperHubError, Problem, SpaceError
from hyperhub.space.adapters import ACCEPTED_KEYS, AdapterDecl, accepted_path, read_adapter
from hyperhub.space.model import Area, Device, Location, Route, Space
from hyperhub.spec import DeviceType, TypeRegistry, builtin_types

ID = re.compile(r"^[a-z0-9_]+$")
SPACE_KEYS = ("space", "location", "timezone", "areas", "devices", "adapters")
AREA_KEYS = ("id", "name", "aliases", "floor")
DEVICE_KEYS = (
    "id", "type", "name", "aliases", "area", "class", "values", "state", "properties", "route",
)  # fmt: skip
MAX_BYTES = 5_000_000
RESERVED_IDS = ("discovery", "node")
T = TypeVar("T")  # hyperhub/<space>/discovery/… and …/node/… are not devices


def load_space(path: str | Path, types: TypeRegistry | None = None) -> Space:
    """Load and validate a space file; raise `SpaceError` listing every problem."""
    path = Path(path)
    text = _read_text(path)
    assert text is not None
    space = parse_space(text, str(path), types, file=path)
    return with_accepted(space, accepted_path(path))


def _read_text(path: Path, *, missing_ok: bool = False) -> str | None:
    """A space's file as text (None when it is missing and may be); `SpaceError` when it
    cannot be read, is too big or is no UTF-8 text."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        if missing_ok and isinstance(exc, FileNotFoundError):
            return None
        raise SpaceError(str(path), [Problem(0, f"cannot read the file: {exc.strerror}")]) from None
    if len(raw) > MAX_BYTES:
        raise SpaceError(str(path), [Problem(0, f"file is larger than {MAX_BYTES} bytes")])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpaceError(str(path), [Problem(0, f"not UTF-8 text ({exc.reason})")]) from None


def with_accepted(space: Space, path: Path) -> Space:
    """`space` with the devices accepted from its adapters (the file at `path`, if there is
    one); `SpaceError` naming that file when it has problems."""
    text = _read_text(path, missing_ok=True)
    if text is None:
        return space

    def read(reader: _Reader, doc: Any) -> dict[str, Device]:
        return reader.accepted(doc, space)

    accepted = _parsed(text, str(path), space.types, read)
    return replace(space, devices={**space.devices, **accepted})


def parse_space(
    text: str, name: str = "<space>", types: TypeRegistry | None = None, file: Path | None = None
) -> Space:
    """Validate space YAML given as text; `name` is used in problem messages.

    A fast parse without line numbers comes first; only a file with problems is parsed
    again, keeping lines, so that every problem can name its line.
    """
    types = types or builtin_types()

    def read(reader: _Reader, doc: Any) -> Space | None:
        return reader.read(doc, file)

    space = _parsed(text, name, types, read)
    assert space is not None
    return space


def _parsed(text: str, name: str, types: TypeRegistry, read: Callable[[_Reader, Any], T]) -> T:
    """`read` the YAML `text`: a fast parse without line numbers first; only a file with
    problems is parsed again, keeping lines, so that every problem can name its line."""
    deep = too_deep(text)
    if deep is not None:  # before any parser: deep nesting overflows ruamel's C stack
        raise SpaceError(name, [Problem(*deep)])
    try:
        fast = yaml_12().load(text)
    except Exception:
        pass  # the careful parse below names the problem and its line
    else:
        reader = _Reader(types)
        found = read(reader, fast)
        if not reader.problems and found is not None:
            return found
    try:
        doc = yaml_12(lines=True).load(text)
    except MarkedYAMLError as exc:
        raise SpaceError(name, [Problem(*yaml_problem(exc, text))]) from None
    except Exception as exc:  # ruamel raises a few unmarked errors too (duplicate keys…)
        raise SpaceError(
            name, [Problem(_line_of(exc), f"YAML error: {_first_line(exc)}")]
        ) from None
    reader = _Reader(types)
    found = read(reader, doc)
    if reader.problems:
        raise SpaceError(name, reader.problems)
    return found


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _line_of(exc: Exception) -> int:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return mark.line + 1 if mark else 0


def _key_line(node: Any, key: str, default: int) -> int:
    try:
        return int(node.lc.key(key)[0]) + 1
    except Exception:
        return default


def _value_line(node: Any, key: str, default: int) -> int:
    try:
        return int(node.lc.value(key)[0]) + 1
    except Exception:
        return default


def _item_line(seq: Any, index: int, default: int) -> int:
    try:
        return int(seq.lc.item(index)[0]) + 1
    except Exception:
        return default


def _node_line(node: Any, default: int = 1) -> int:
    try:
        return int(node.lc.line) + 1
    except Exception:
        return default


class _Reader:
    """Walks the YAML document, collecting problems instead of stopping at the first."""

    def __init__(self, types: TypeRegistry) -> None:
        self.types = types
        self.problems: list[Problem] = []

    def problem(self, line: int, message: str) -> None:
        self.problems.append(Problem(line, message))

    def read(self, doc: Any, file: Path | None) -> Space | None:
        if not isinstance(doc, dict):
            self.problem(1, "a space file must be a mapping with `space`, `areas` and `devices`")
            return None
        self.unknown_keys(doc, SPACE_KEYS, "the space", 1)
        name = doc.get("space")
        if not isinstance(name, str) or not name.strip():
            line = _key_line(doc, "space", 1)
            self.problem(line, "missing field `space`: the space's name (text)")
            name = "space"
        location = None
        if "location" in doc:
            location = self.location(doc["location"], "location", _key_line(doc, "location", 1))
        timezone = None
        if "timezone" in doc:
            timezone = self.timezone(doc["timezone"], _key_line(doc, "timezone", 1))
        areas = self.areas(doc)
        devices = self.devices(doc, areas)
        adapters = self.adapters(doc)
        self.phones_of(adapters, devices)
        return Space(str(name), areas, devices, self.types, location, file, timezone, adapters)

    def unknown_keys(self, node: Any, allowed: tuple[str, ...], what: str, line: int) -> None:
        for key in node:
            if key not in allowed:
                self.problem(
                    _key_line(node, key, line),
                    f"unknown key {key!r} in {what}; expected one of: {', '.join(allowed)}",
                )

    def location(self, loc: Any, what: str, line: int) -> Location | None:
        if isinstance(loc, dict) and set(loc) == {"lat", "lon"}:
            lat, lon = loc["lat"], loc["lon"]
            if _number(lat) and _number(lon) and -90 <= lat <= 90 and -180 <= lon <= 180:
                return Location(float(lat), float(lon))
        self.problem(
            line, f"`{what}` must be {{lat: -90..90, lon: -180..180}}, got {to_plain(loc)!r}"
        )
        return None

    def timezone(self, value: Any, line: int) -> str | None:
        """An IANA timezone name (Asia/Shanghai), checked against the tz database."""
        if isinstance(value, str) and value.strip():
            try:
                ZoneInfo(value.strip())
            except (ZoneInfoNotFoundError, ValueError, OSError):
                pass
            else:
                return value.strip()
        self.problem(
            line,
            f"unknown timezone {to_plain(value)!r}; use an IANA name such as Asia/Shanghai",
        )
        return None

    def seq(self, doc: Any, key: str) -> list[tuple[int, Any]]:
        """The items of a top-level list with their lines; a problem if it is not a list."""
        line = _key_line(doc, key, 1)
        value = doc.get(key)
        if key not in doc:
            self.problem(1, f"missing field `{key}`: a list of {key}")
            return []
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(line, f"`{key}` must be a list")
            return []
        return [(_item_line(value, i, line), item) for i, item in enumerate(value)]

    def ident(self, node: dict, line: int, what: str, seen: dict[str, int]) -> str | None:
        ident = node.get("id")
        id_line = _value_line(node, "id", line)
        if ident is None:
            self.problem(line, f"{what} without `id`")
            return None
        if not isinstance(ident, str) or not ID.match(ident):
            self.problem(id_line, f"bad {what} id {to_plain(ident)!r}: use only a-z, 0-9 and _")
            return None
        if what == "device" and ident in RESERVED_IDS:
            self.problem(id_line, f"device id {ident!r} is reserved by the fabric's topic layout")
            return None
        if ident in seen:
            self.problem(
                id_line, f"duplicate {what} id {ident!r} (first defined on line {seen[ident]})"
            )
            return None
        seen[ident] = id_line
        return ident

    def text_list(self, node: dict, key: str, line: int, what: str) -> tuple[str, ...]:
        value = node.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.problem(_value_line(node, key, line), f"{what}: `{key}` must be a list of texts")
            return ()
        return tuple(str(v) for v in value)

    def name(self, node: dict, line: int, ident: str, what: str) -> str:
        value = node.get("name")
        if value is None:
            return ident.replace("_", " ").title()
        if not isinstance(value, str) or not value.strip():
            self.problem(_value_line(node, "name", line), f"{what} {ident}: `name` must be a text")
            return ident
        return str(value)

    def areas(self, doc: Any) -> dict[str, Area]:
        areas: dict[str, Area] = {}
        seen: dict[str, int] = {}
        for line, node in self.seq(doc, "areas"):
            if not isinstance(node, dict):
                self.problem(line, "an area must be a mapping with `id` and `name`")
                continue
            self.unknown_keys(node, AREA_KEYS, "an area", line)
            ident = self.ident(node, line, "area", seen)
            if ident is None:
                continue
            floor = node.get("floor")
            if floor is not None and not isinstance(floor, str | int):
                self.problem(
                    _value_line(node, "floor", line), f"area {ident}: `floor` must be a text"
                )
                floor = None
            areas[ident] = Area(
                ident,
                self.name(node, line, ident, "area"),
                self.text_list(node, "aliases", line, f"area {ident}"),
                None if floor is None else str(floor),
            )
        return areas

    def adapters(self, doc: Any) -> dict[str, AdapterDecl]:
        """The `adapters:` list (optional): each adapter's kind, broker and options."""
        found: dict[str, AdapterDecl] = {}
        if doc.get("adapters") is None:
            return found
        seen: dict[str, int] = {}
        for line, node in self.seq(doc, "adapters"):
            if not isinstance(node, dict):
                self.problem(line, "an adapter must be a mapping with `id` and `kind`")
                continue
            ident = self.ident(node, line, "adapter", seen)
            if ident is None:
                continue
            decl, problems = read_adapter(node, line)
            for message in problems:
                self.problem(line, message)
            if decl is not None:
                found[ident] = decl
        return found

    def phones_of(self, adapters: dict[str, AdapterDecl], devices: dict[str, Device]) -> None:
        """An OwnTracks adapter's `users:` map names phones of the space."""
        for decl in adapters.values():
            for who, device_id in (getattr(decl.options, "users", None) or {}).items():
                device = devices.get(device_id)
                if device is None or device.type != "phone":
                    phones = ", ".join(d.id for d in devices.values() if d.type == "phone")
                    self.problem(
                        decl.line,
                        f"adapter {decl.id}: users: {who!r} names {device_id!r}, which is not "
                        f"a phone of the space (phones: {phones or 'none'})",
                    )

    def accepted(self, doc: Any, space: Space) -> dict[str, Device]:
        """The devices of an accepted-devices file: devices as in a space file, each with
        the `adapter` it came from (declared in the space) and its `external` id."""
        if not isinstance(doc, dict):
            self.problem(1, "the accepted devices file must be a mapping with `devices`")
            return {}
        self.unknown_keys(doc, ("devices", "rejected"), "the accepted devices file", 1)
        rejected = doc.get("rejected")
        if rejected is not None and not (
            isinstance(rejected, list)
            and all(isinstance(r, dict) and {"adapter", "external"} <= set(r) for r in rejected)
        ):
            self.problem(
                _key_line(doc, "rejected", 1),
                "`rejected` must be a list of {adapter: …, external: …}",
            )
        devices: dict[str, Device] = {}
        seen: dict[str, int] = {}
        externals: dict[tuple[str, str], int] = {}
        for line, node in self.seq(doc, "devices"):
            if not isinstance(node, dict):
                self.problem(line, "a device must be a mapping with `id`, `type` and `adapter`")
                continue
            ident = node.get("id")
            if isinstance(ident, str) and ident in space.devices:
                self.problem(
                    _value_line(node, "id", line),
                    f"device id {ident!r} is taken by a device of the space file",
                )
                continue
            adapter, external = node.get("adapter"), node.get("external")
            if adapter not in space.adapters:
                known = ", ".join(space.adapters) or "none declared"
                self.problem(
                    _value_line(node, "adapter", line),
                    f"device {ident}: unknown adapter {to_plain(adapter)!r} (adapters of the "
                    f"space: {known}); declare it in the space file or remove the device",
                )
                continue
            if not isinstance(external, str) or not external.strip():
                self.problem(line, f"device {ident}: `external` must be its id in {adapter}")
                continue
            if (adapter, external) in externals:
                self.problem(
                    _value_line(node, "external", line),
                    f"device {ident}: {adapter}:{external} is accepted already "
                    f"(line {externals[adapter, external]})",
                )
                continue
            externals[adapter, external] = line
            device = self.device(node, line, space.areas, seen, ACCEPTED_KEYS)
            if device is not None:
                devices[device.id] = replace(device, adapter=str(adapter), external=external)
        return devices

    def devices(self, doc: Any, areas: dict[str, Area]) -> dict[str, Device]:
        devices: dict[str, Device] = {}
        seen: dict[str, int] = {}
        for line, node in self.seq(doc, "devices"):
            if not isinstance(node, dict):
                self.problem(line, "a device must be a mapping with `id` and `type`")
                continue
            device = self.device(node, line, areas, seen)
            if device is not None:
                devices[device.id] = device
        return devices

    def device(
        self,
        node: dict,
        line: int,
        areas: dict[str, Area],
        seen: dict[str, int],
        more_keys: tuple[str, ...] = (),
    ) -> Device | None:
        self.unknown_keys(node, DEVICE_KEYS + more_keys, "a device", line)
        ident = self.ident(node, line, "device", seen)
        label = f"device {ident}" if ident else "device"
        type_name = node.get("type")
        dtype: DeviceType | None = None
        if type_name is None:
            self.problem(
                line, f"{label} without `type`; known types: {', '.join(self.types.names())}"
            )
        elif not isinstance(type_name, str) or type_name not in self.types:
            self.problem(
                _value_line(node, "type", line),
                f"{label}: unknown type {to_plain(type_name)!r}; known types: "
                f"{', '.join(self.types.names())}",
            )
        else:
            dtype = self.types.get(type_name)
        area = node.get("area")
        if area is not None and (not isinstance(area, str) or area not in areas):
            known = ", ".join(areas) or "none defined"
            self.problem(
                _value_line(node, "area", line),
                f"{label}: unknown area {to_plain(area)!r}; areas: {known}",
            )
            area = None
        name = self.name(node, line, ident or "device", "device")
        aliases = self.text_list(node, "aliases", line, label)
        if dtype is None or ident is None:
            return None
        cls = self.device_class(node, line, label, dtype)
        dtype = self.narrowed(node, line, label, dtype)
        # an adapter's device exposes exactly what it lists (a light that cannot dim)
        exact = bool(more_keys) and "properties" in node
        props = self.exposed(node, line, label, dtype, exact)
        state = self.state(node, line, ident, dtype, props)
        route = self.route(node, line, label, dtype)
        return Device(ident, dtype.type, name, dtype, aliases, area, cls, props, state, route)

    def device_class(self, node: dict, line: int, label: str, dtype: DeviceType) -> str | None:
        cls = node.get("class")
        if not dtype.classes:
            if cls is not None:
                self.problem(
                    _key_line(node, "class", line), f"{label}: type {dtype.type} has no classes"
                )
            return None
        allowed = ", ".join(dtype.classes)
        if cls is None:
            self.problem(
                line, f"{label}: missing field `class` for a {dtype.type}; one of: {allowed}"
            )
            return None
        if cls not in dtype.classes:
            self.problem(
                _value_line(node, "class", line),
                f"{label}: unknown class {to_plain(cls)!r} for a {dtype.type}; one of: {allowed}",
            )
            return None
        return str(cls)

    def narrowed(self, node: dict, line: int, label: str, dtype: DeviceType) -> DeviceType:
        """The type with the enum values this device takes (`values: {mode: [heat]}`)."""
        given = node.get("values")
        if given is None:
            return dtype
        where = _value_line(node, "values", line)
        if not isinstance(given, dict) or not all(isinstance(v, list) for v in given.values()):
            self.problem(where, f"{label}: `values` must map a property to a list of its values")
            return dtype
        try:
            return dtype.narrowed({str(k): [str(x) for x in v] for k, v in given.items()}, label)
        except HyperHubError as exc:
            self.problem(where, str(exc))
            return dtype

    def exposed(
        self, node: dict, line: int, label: str, dtype: DeviceType, exact: bool = False
    ) -> tuple[str, ...]:
        """What a device exposes: every property of its type that is not optional, and the
        optional ones listed or given a state — or, `exact`, just those listed."""
        listed = set(self.text_list(node, "properties", line, label))
        given = node.get("state")
        state = given if isinstance(given, dict) else {}
        for name in sorted(listed - set(dtype.properties)):
            self.problem(
                _value_line(node, "properties", line),
                f"{label}: unknown property {name!r} for a {dtype.type}; "
                f"it has: {', '.join(dtype.properties)}",
            )
        out = tuple(
            p
            for p, spec in dtype.properties.items()
            if p in listed or (not exact and (not spec.optional or p in state))
        )
        if not out:
            optional = ", ".join(dtype.properties)
            self.problem(
                line,
                f"{label}: a {dtype.type} needs at least one of {optional} "
                "in `state` or `properties`",
            )
        return out

    def state(
        self, node: dict, line: int, ident: str, dtype: DeviceType, props: tuple[str, ...]
    ) -> dict[str, Any]:
        state = {
            p: dtype.properties[p].check(_fresh(dtype.properties[p].default), p) for p in props
        }
        given = node.get("state")
        if given is None:
            return state
        state_line = _key_line(node, "state", line)
        if not isinstance(given, dict):
            self.problem(
                state_line, f"device {ident}: `state` must be a mapping of property: value"
            )
            return state
        for key, value in given.items():
            key_line = _key_line(given, key, state_line)
            try:
                state[str(key)] = dtype.check_write(
                    str(key), to_plain(value), ident, allow_readonly=True
                )
            except HyperHubError as exc:
                self.problem(key_line, str(exc))
        return state

    def route(self, node: dict, line: int, label: str, dtype: DeviceType) -> Route | None:
        spec = node.get("route")
        if spec is None:
            return None
        rline = _key_line(node, "route", line)
        if "location" not in dtype.properties:
            self.problem(
                rline, f"{label}: a {dtype.type} has no `location`, so it cannot have a route"
            )
            return None
        if not isinstance(spec, dict) or not isinstance(spec.get("waypoints"), list):
            self.problem(rline, f"{label}: `route` needs `waypoints`: a list of {{lat, lon}}")
            return None
        self.unknown_keys(spec, ("waypoints", "speed_kmh", "loop"), "a route", rline)
        points = []
        for i, point in enumerate(spec["waypoints"]):
            loc = self.location(point, "waypoint", _item_line(spec["waypoints"], i, rline))
            if loc:
                points.append(loc)
        speed = spec.get("speed_kmh", 40.0)
        if not _number(speed) or not 0 < speed <= 400:
            self.problem(rline, f"{label}: route `speed_kmh` must be a number from 0 to 400")
            speed = 40.0
        if len(points) < 2:
            self.problem(rline, f"{label}: a route needs at least two waypoints")
            return None
        return Route(tuple(points), float(speed), bool(spec.get("loop", False)))


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _fresh(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else value

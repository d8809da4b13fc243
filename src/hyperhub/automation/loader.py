"""Read a space's automation files (places, scenes, rules) and check them against the space.

The files live in `automations/` next to the space file; each is YAML 1.2 with optional
`places`, `scenes` and `rules` lists. Every problem of every file is collected with its
file and line, e.g. "a.yaml:7: rules[2].triggers[0].state: missing field `property`"; one
problem anywhere and nothing is loaded: `AutomationError` lists them all.
"""

from __future__ import annotations

import contextlib
import re
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, Union, cast, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml.error import MarkedYAMLError

from hyperhub import templates
from hyperhub._yaml import dump, styled, to_plain, too_big, too_deep, yaml_12, yaml_problem
from hyperhub.automation import when
from hyperhub.automation.model import (
    Action,
    AutomationFile,
    Condition,
    GeoCondition,
    GeofenceTrigger,
    NotifyAction,
    Place,
    Rule,
    Scene,
    StateCondition,
    Trigger,
)
from hyperhub.errors import (
    AutomationError,
    HyperHubError,
    Problem,
    UnknownDevice,
    closest,
    did_you_mean,
)
from hyperhub.spec.policy import Command, may_be_risky

if TYPE_CHECKING:
    from hyperhub.space.model import Device, Space
    from hyperhub.spec import PropertySpec
    from hyperhub.spec.model import ArgSpec

SUFFIXES = (".yaml", ".yml")
MAX_BYTES = 1_000_000
MAX_VALUES = 200_000  # values in a file once aliases are followed (1,000 rules: ~30,000)
HOME = "home"
HOME_RADIUS_KM = 0.2
SCENE_ACTIONS = ("set", "call", "notify")
NUMERIC = ("int", "float")
T = TypeVar("T")
_SECTIONS: tuple[tuple[str, str, type[BaseModel]], ...] = (
    ("places", "place", Place),
    ("scenes", "scene", Scene),
    ("rules", "rule", Rule),
)
_UNION_TAG = re.compile(r"^(str|int|float|bool|none|.*\[.*\]|function-.*)$")
_NOT_TEMPLATES = ("id", "name", "description", "aliases")  # plain text even with braces
_DURATIONS = ("for", "delay", "offset", "after_offset", "before_offset")

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Book:
    """A space's automations, all valid: places (with `home` when the space has a
    location), scenes and rules by id; `sources` maps "rule:<id>" / "scene:<id>" /
    "place:<id>" to (file, line); `risky` lists ("rule:<id>" or "scene:<id>",
    "device.prop=value" or "device.action") for every risky write or call, a rule also
    listing those of the scenes it activates."""

    places: dict[str, Place] = field(default_factory=dict)
    scenes: dict[str, Scene] = field(default_factory=dict)
    rules: dict[str, Rule] = field(default_factory=dict)
    sources: dict[str, tuple[str, int]] = field(default_factory=dict)
    risky: list[tuple[str, str]] = field(default_factory=list)


def automations_path(space: Space) -> Path | None:
    """The `automations/` directory next to the space file (None for a space from text)."""
    return None if space.path is None else space.path.parent / "automations"


def load_automations(
    space: Space, path: Path | None = None, override: Mapping[Path, str] | None = None
) -> Book:
    """Load and check a directory of automation files (every *.yaml / *.yml in it, not
    recursive) or one file; `path` defaults to `automations_path(space)`. `override` gives
    some files' text instead of what is on disk (a file there that is not on disk yet is
    read too): to check a change before it is written.

    A missing directory gives an empty book; a missing file named explicitly is an error.
    Raises `AutomationError` listing every problem of every file.
    """
    if path is None:
        path = automations_path(space)
        if path is None:
            return _Loader(space).book("<automations>")
    return _load(space, Path(path), dict(override or {}))


def automation_files(path: Path, also: Iterable[Path] = ()) -> list[Path]:
    """The files a folder of automations holds, in the order they are read (`path` itself
    when it is one file); `also` adds files not on disk yet."""
    if path.is_dir() or (not path.exists() and path.suffix not in SUFFIXES):
        names = {p for p in path.iterdir() if p.is_file()} if path.is_dir() else set()
        names |= {p for p in also if p.parent == path}
        return sorted(p for p in names if p.suffix in SUFFIXES and p.name[0] != ".")
    return [path]


def parse_automations(text: str, name: str, space: Space) -> Book:
    """Check one automation file given as text; `name` is its file name in problems."""

    def load(fast: bool) -> Book:
        loader = _Loader(space, fast=fast)
        loader.add_text(text, name)
        return loader.book(name)

    return _fast_then_careful(load)


def _fast_then_careful(load: Callable[[bool], Book]) -> Book:
    """A fast parse without line numbers first (ruamel's C loader: ~10x faster, which
    matters for a thousand rules); only files with problems are parsed again keeping
    lines, so that every problem can name its line."""
    try:
        return load(True)
    except AutomationError:
        return load(False)  # raises the same problems, with their lines


def dump_rule(rule: Rule) -> str:
    """The YAML text of one rule (a mapping), as an automation file would hold it."""
    return dump(styled(file_data(rule)))


def file_data(item: BaseModel) -> Any:
    """A rule (or a scene, a place) as a file holds it: what differs from the defaults, whole
    floats as ints, durations as text (`for: 5m`)."""
    return _tidy(item.model_dump(mode="json", by_alias=True, exclude_defaults=True))


# ---------------------------------------------------------------------------- reading


def _load(space: Space, path: Path, override: dict[Path, str] | None = None) -> Book:
    """Load `path` (a directory or a file); `override` gives some files' text instead."""
    return _fast_then_careful(lambda fast: _load_with(space, path, override or {}, fast))


def _load_with(space: Space, path: Path, override: dict[Path, str], fast: bool) -> Book:
    loader = _Loader(space, fast=fast)
    for file in automation_files(path, override):
        loader.add_file(file, override.get(file))
    return loader.book(str(path))


@dataclass
class _File:
    """One file's document (ruamel nodes, for lines) and the items that validated."""

    name: str
    doc: Any = None
    plain: Any = None
    text: str | None = None  # kept when `doc` has no lines (the fast parse)
    id_lines: dict[str, int] | None = None  # id → line of its `id:`, found in `text`
    items: dict[str, list[tuple[Loc, Any]]] = field(
        default_factory=lambda: {"places": [], "scenes": [], "rules": []}
    )


class _Loader:
    """Collects files, then checks them together; problems are gathered, not raised."""

    def __init__(self, space: Space, *, fast: bool = False) -> None:
        self.space = space
        self.fast = fast  # plain YAML, no lines: item lines come from `_id_lines`
        self.files: list[_File] = []
        self.problems: list[tuple[str, Problem]] = []
        self.broken: dict[str, set[str]] = {"place": set(), "scene": set(), "rule": set()}

    def file_problem(self, name: str, line: int, message: str, loc: Loc | None = None) -> None:
        self.problems.append((name, Problem(line, message, loc)))

    def add_file(self, path: Path, text: str | None = None) -> None:
        name = str(path)
        if text is None:
            try:
                raw = path.read_bytes()
            except OSError as exc:
                self.file_problem(name, 0, f"cannot read the file: {exc.strerror}")
                return
            if len(raw) > MAX_BYTES:
                self.file_problem(name, 0, f"file is larger than {MAX_BYTES} bytes")
                return
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.file_problem(name, 0, f"not UTF-8 text ({exc.reason})")
                return
        self.add_text(text, name)

    def add_text(self, text: str, name: str) -> None:
        deep = too_deep(text)
        if deep is not None:  # before any parser: deep nesting overflows ruamel's C stack
            self.file_problem(name, *deep)
            return
        try:
            doc = yaml_12(lines=not self.fast).load(text)
        except MarkedYAMLError as exc:
            self.file_problem(name, *yaml_problem(exc, text))
            return
        except Exception as exc:  # ruamel raises a few unmarked errors too
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.file_problem(name, 0, f"YAML error: {first}")
            return
        if too_big(doc, MAX_VALUES):
            self.file_problem(
                name, 0, f"the file holds more than {MAX_VALUES:,} values (YAML aliases?)"
            )
            return
        file = _File(name, doc, to_plain(doc), text=text if self.fast else None)
        self.files.append(file)
        if doc is None:
            return  # an empty file is fine
        if not isinstance(doc, dict):
            self.file_problem(
                name, 1, "an automation file must be a mapping with `places`, `scenes` and `rules`"
            )
            return
        allowed = [_key(info, n) for n, info in AutomationFile.model_fields.items()]
        for key in doc:
            if key not in allowed:
                message = _unknown_key(str(key), allowed)
                self.file_problem(name, _line_at(doc, (str(key),)), message, (str(key),))
        for section, kind, model in _SECTIONS:
            self.validate_section(file, section, kind, model)

    def validate_section(
        self, file: _File, section: str, kind: str, model: type[BaseModel]
    ) -> None:
        """Validate each item alone, so that one bad rule does not hide the others."""
        items = file.plain.get(section)
        if items is None:
            return
        if not isinstance(items, list):
            line = _line_at(file.doc, (section,))
            message = f"{section}: should be a list, not {_short(items)}"
            self.file_problem(file.name, line, message, (section,))
            return
        for i, item in enumerate(items):
            loc: Loc = (section, i)
            try:
                obj = model.model_validate(item)
            except ValidationError as exc:
                for line, message, where in _pydantic_problems(exc, loc, model, file):
                    self.file_problem(file.name, line, message, where)
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    self.broken[kind].add(item["id"])  # known, so references do not complain
                continue
            file.items[section].append((loc, obj))

    def book(self, label: str) -> Book:
        """Check ids and names across files; the book, or `AutomationError`."""
        places: dict[str, Place] = {}
        if self.space.location is not None:
            home = self.space.location
            places[HOME] = Place(
                id=HOME, name="Home", lat=home.lat, lon=home.lon, radius_km=HOME_RADIUS_KM
            )
        found: dict[str, dict[str, Any]] = {"places": {}, "scenes": {}, "rules": {}}
        sources: dict[str, tuple[str, int]] = {}
        for file in self.files:
            for section, kind, _model in _SECTIONS:
                for loc, obj in file.items[section]:
                    key = f"{kind}:{obj.id}"
                    if key in sources:
                        other_file, other_line = sources[key]
                        self.file_problem(
                            file.name,
                            _line_at(file.doc, (*loc, "id")),
                            f"{dotted((*loc, 'id'))}: duplicate {kind} id {obj.id!r} "
                            f"(also in {other_file}:{other_line})",
                            (*loc, "id"),
                        )
                        continue
                    sources[key] = (file.name, _item_line(file, loc, obj.id))
                    found[section][obj.id] = obj
        places.update(found["places"])
        checker = _Checker(self.space, places, found["scenes"], self.broken)
        for file in self.files:
            checker.check_file(file)
        problems = self.problems + checker.problems
        if problems:
            raise AutomationError(label, problems)
        return Book(places, found["scenes"], found["rules"], sources, checker.risky_list())


def rule_risks(space: Space, rule: Rule) -> list[str]:
    """The risky writes and calls of one rule not in a file yet ("garage_door.open",
    "front_door.locked=false"), found as `Book.risky` finds them for rules in files."""
    checker = _Checker(space, {}, {}, {"place": set(), "scene": set(), "rule": set()})
    checker.owner = f"rule:{rule.id}"
    for i, action in enumerate(rule.actions):
        checker.action(("rules", 0, "actions", i), action)
    return [what for _, what in checker.risky_list()]


_ID_AT = re.compile(r"""(?:^|[\s{,-])id:[ \t]*["']?([a-z0-9_]+)""", re.M)


def _item_line(file: _File, loc: Loc, item_id: str) -> int:
    """The line of an item: from the nodes, or (fast parse) the line of its `id:`."""
    if file.text is None:
        return _line_at(file.doc, loc)
    if file.id_lines is None:
        file.id_lines = {}
        for match in _ID_AT.finditer(file.text):
            line = file.text.count("\n", 0, match.start(1)) + 1
            file.id_lines.setdefault(match[1], line)
    return file.id_lines.get(item_id, 1)


# ---------------------------------------------------------------------------- locations


def _line_at(doc: Any, loc: Loc) -> int:
    """The line of the node at `loc` (a key's line, a list item's line), else of its
    nearest parent that has one; 1 for the document."""
    node, line = doc, 1
    for part in loc:
        if isinstance(node, dict):
            if isinstance(part, int):
                if part == 0:
                    continue  # one mapping given where a list is expected (listified)
                break
            if part not in node:
                break
            with contextlib.suppress(Exception):  # ruamel's nodes have `.lc`, plain dicts not
                line = int(cast(Any, node).lc.key(part)[0]) + 1
            node = node[part]
        elif isinstance(node, list):
            if not isinstance(part, int) or not 0 <= part < len(node):
                break
            with contextlib.suppress(Exception):
                line = int(cast(Any, node).lc.item(part)[0]) + 1
            node = node[part]
        else:
            break
    return line


def dotted(loc: Iterable[str | int]) -> str:
    """A place in a file's data as its problems say it: ("rules", 0, "triggers") is
    "rules[0].triggers"."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _at(loc: Loc, message: str) -> str:
    return f"{dotted(loc)}: {message}" if loc else message


# ---------------------------------------------------------------------------- pydantic errors


def _pydantic_problems(
    exc: ValidationError, prefix: Loc, model: type[BaseModel], file: _File
) -> list[tuple[int, str, Loc]]:
    """(line, message, where) for each error; errors of one union's members are merged."""
    groups: dict[Loc, list[ErrorDetails]] = {}
    for err in exc.errors():
        loc = _clean_loc((*prefix, *err["loc"]), file.plain)
        groups.setdefault(loc, []).append(err)
    out = []
    for loc, errs in groups.items():
        err = errs[0]
        if err["type"] == "missing":
            where, message = loc[:-1], f"missing field `{loc[-1]}`"
            line = _line_at(file.doc, where)
        elif err["type"] == "extra_forbidden":
            fields = _fields_at(model, loc[len(prefix) : -1])
            where, message = loc[:-1], _unknown_key(str(loc[-1]), fields)
            line = _line_at(file.doc, loc)
        else:
            where, message = loc, _friendly(errs, loc)
            line = _line_at(file.doc, loc)
        out.append((line, _at(where, message), where))
    return out


def _clean_loc(loc: tuple[Any, ...], data: Any) -> Loc:
    """`loc` without the tags pydantic adds for union members (`str`, `list[str]`)."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict):
            if isinstance(part, int):
                out.append(part)  # a single mapping given for a list: the model made it one
                continue
            if part not in node and _UNION_TAG.match(part):
                continue
            node = node.get(part)
        elif isinstance(node, list):
            if not isinstance(part, int):
                continue
            node = node[part] if 0 <= part < len(node) else None
        elif isinstance(part, str) and _UNION_TAG.match(part):
            continue
        else:
            node = None
        out.append(part)
    return tuple(out)


def _friendly(errs: list[ErrorDetails], loc: Loc) -> str:
    """A user's message for one (or several union members') pydantic error(s)."""
    err = errs[0]
    kind, value = err["type"], err.get("input")
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    if kind in ("model_type", "dict_type"):
        return f"should be a mapping, not {_short(value)}"
    if kind == "list_type" and len(errs) == 1:
        return f"should be a list, not {_short(value)}"
    if kind == "too_short" and "min_length" in err.get("ctx", {}):
        n = err["ctx"]["min_length"]
        return "needs at least one item" if n == 1 else f"needs at least {n} items"
    if kind == "string_pattern_mismatch" and loc and loc[-1] == "id":
        return f"bad id {_short(value)}: use only a-z, 0-9 and _"
    if len(errs) > 1 and loc and loc[-1] == "device":
        return f"should be a device id or a list of device ids, not {_short(value)}"
    wants = [_should(str(e["msg"])) for e in errs]
    return "should be " + " or ".join(dict.fromkeys(wants)) + f", not {_short(value)}"


def _should(msg: str) -> str:
    """The wanted part of a message: 'Input should be a valid number, unable to …' gives
    'a valid number'."""
    msg = msg.split(", unable to")[0]
    for lead in ("Input should be ", "String should ", "List should ", "Dictionary should "):
        if msg.startswith(lead):
            return msg.removeprefix(lead)
    return msg[:1].lower() + msg[1:]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unknown_key(key: str, allowed: list[str]) -> str:
    close = closest(key, allowed)
    hint = f" (did you mean `{close}`?)" if close is not None else ""
    expected = f"; expected one of: {', '.join(allowed)}" if allowed else ""
    return f"unknown key `{key}`{hint}{expected}"


def _key(info: Any, name: str) -> str:
    return info.alias or name


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys of the model found by following `loc` from `model` (empty if none)."""
    tp: Any = model
    for part in loc:
        tp = _step(tp, part)
        if tp is None:
            return []
    for member in _members(tp):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return [_key(info, n) for n, info in member.model_fields.items()]
    return []


def _members(tp: Any) -> list[Any]:
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return [m for arg in get_args(tp) for m in _members(arg)]
    if origin is Annotated:
        return _members(get_args(tp)[0])
    return [tp]


def _step(tp: Any, part: str | int) -> Any:
    for member in _members(tp):
        origin = get_origin(member)
        if isinstance(part, int):
            if origin in (list, tuple):
                return get_args(member)[0]
            if isinstance(member, type) and issubclass(member, BaseModel) and part == 0:
                return member
        elif isinstance(member, type) and issubclass(member, BaseModel):
            for name, info in member.model_fields.items():
                if part in (name, info.alias):
                    return info.annotation
        elif origin is dict:
            return get_args(member)[1]
    return None


# ---------------------------------------------------------------------------- the space


class _Checker:
    """Checks valid items against the space: devices, properties, values, places, scenes,
    templates, cron; records risky writes and calls."""

    def __init__(
        self,
        space: Space,
        places: dict[str, Place],
        scenes: dict[str, Scene],
        broken: dict[str, set[str]],
    ) -> None:
        self.space = space
        self.places = set(places) | broken["place"]
        self.scenes = set(scenes) | broken["scene"]
        self.problems: list[tuple[str, Problem]] = []
        self.risky: dict[str, list[str]] = {}
        self.uses: dict[str, list[str]] = {}  # rule key → scenes it activates
        self.file = _File("")
        self.owner = ""

    def problem(self, loc: Loc, message: str) -> None:
        line = _line_at(self.file.doc, loc)
        self.problems.append((self.file.name, Problem(line, _at(loc, message), loc)))

    def risky_list(self) -> list[tuple[str, str]]:
        """Every risky entry; a rule also lists those of the scenes it activates."""
        out: list[tuple[str, str]] = []
        keys = dict.fromkeys([*self.risky, *self.uses])
        for key in keys:
            own = self.risky.get(key, [])
            via = [w for s in self.uses.get(key, []) for w in self.risky.get(f"scene:{s}", [])]
            out.extend((key, what) for what in dict.fromkeys([*own, *via]))
        return out

    def check_file(self, file: _File) -> None:
        self.file = file
        for loc, scene in file.items["scenes"]:
            self.owner = f"scene:{scene.id}"
            self.templates(loc, file)
            for device_id, values in scene.states.items():
                self.scene_states((*loc, "states", device_id), device_id, values)
            for i, action in enumerate(scene.actions):
                aloc = (*loc, "actions", i)
                if action.kind not in SCENE_ACTIONS:
                    self.problem(
                        aloc,
                        f"a scene's actions may only be set, call or notify, not {action.kind}",
                    )
                else:
                    self.action(aloc, action)
        for loc, rule in file.items["rules"]:
            self.owner = f"rule:{rule.id}"
            self.templates(loc, file)
            for i, trigger in enumerate(rule.triggers):
                self.trigger((*loc, "triggers", i), trigger)
            self.conditions((*loc, "conditions"), rule.conditions)
            for i, action in enumerate(rule.actions):
                self.action((*loc, "actions", i), action)

    # ------------------------------------------------------------------ shared checks

    def templates(self, loc: Loc, file: _File) -> None:
        """Every template string in an item compiles (a `template` condition always)."""
        node = file.plain
        for part in loc:
            node = node[part]
        for where, text in _strings(node, loc):
            if templates.is_template(text) or where[-1] == "template":
                why = templates.check(text)
                if why is not None:
                    self.problem(where, why)

    def devices(self, loc: Loc, value: str | list[str]) -> Iterator[tuple[Loc, Device]]:
        """Each named device that exists (a problem for each one that does not)."""
        named = (
            [(loc, value)]
            if isinstance(value, str)
            else [((*loc, i), v) for i, v in enumerate(value)]
        )
        for where, ident in named:
            try:
                yield where, self.space.device(ident)
            except UnknownDevice as exc:
                self.problem(where, str(exc))

    def prop(
        self, loc: Loc, device: Device, name: str, *, write: bool = False
    ) -> PropertySpec | None:
        """The spec of a property the device exposes (and can set, for a `write`), or None
        after a problem."""
        if name not in device.properties:
            has = ", ".join(device.properties) or "none"
            what = "does not expose" if name in device.dtype.properties else "has no property"
            self.problem(
                loc,
                f"device {device.id} ({device.type}) {what} {name!r}; it has: {has}"
                f"{did_you_mean(name, device.properties)}",
            )
            return None
        spec = device.dtype.properties[name]
        if write and not spec.writable:
            self.problem(loc, f"{device.id}.{name} is read-only; it cannot be set")
            return None
        return spec

    def value(self, loc: Loc, device: Device, prop: str, value: Any, *, write: bool) -> Any:
        """`value` checked for `prop`: the normalised value, the value itself when it is a
        template, or None after a problem."""
        if templates.has_templates(value):
            return value
        try:
            return device.dtype.check_write(prop, value, device.id, allow_readonly=not write)
        except HyperHubError as exc:
            self.problem(loc, str(exc))
            return None

    def numeric(self, loc: Loc, device: Device, prop: str, what: str) -> None:
        kind = device.dtype.properties[prop].kind
        if kind not in NUMERIC:
            self.problem(loc, f"{what} needs a number, but {device.id}.{prop} is {kind}")

    def write(self, loc: Loc, device: Device, prop: str, value: Any) -> None:
        """A set (action or scene state) of a writable property: a valid value; risky writes
        are recorded."""
        norm = self.value(loc, device, prop, value, write=True)
        if norm is None:
            return
        if templates.has_templates(norm):  # unknown until run: risky if it could be
            risky = may_be_risky(device.dtype, device.cls, prop)
        else:
            risky = device.is_risky(Command(device.id, prop, norm))
        if risky:
            self.risky.setdefault(self.owner, []).append(f"{device.id}.{prop}={_text(norm)}")

    def place(self, loc: Loc, place: str) -> None:
        if place in self.places:
            return
        if place == HOME:
            self.problem(loc, "place 'home' needs the space's `location` (or a place `home`)")
            return
        known = ", ".join(sorted(self.places)) or "none defined"
        self.problem(loc, f"no place {place!r}; places: {known}{did_you_mean(place, self.places)}")

    def located(self, loc: Loc, target: GeofenceTrigger | GeoCondition) -> None:
        """The device(s) or type have a `location`; the place exists."""
        if target.device is not None:
            for where, device in self.devices((*loc, "device"), target.device):
                if "location" not in device.properties:
                    self.problem(where, f"device {device.id} ({device.type}) has no `location`")
        elif isinstance(target, GeofenceTrigger) and target.type is not None:
            self.device_type((*loc, "type"), target.type, prop="location")
        self.place((*loc, "place"), target.place)

    def device_type(
        self, loc: Loc, name: str, *, prop: str | None = None, action: str | None = None
    ) -> None:
        """A type that some device of the space has (with `prop` / `action`)."""
        here = {d.type: d.dtype for d in self.space.devices.values()}
        if name not in here:
            known = ", ".join(sorted(here)) or "none"
            self.problem(
                loc,
                f"no device of type {name!r} in space {self.space.name!r}; "
                f"types here: {known}{did_you_mean(name, here)}",
            )
        elif prop is not None and prop not in here[name].properties:
            self.problem(loc, f"a {name} has no `{prop}`")
        elif action is not None and action not in here[name].actions:
            self.problem(loc, f"a {name} has no action `{action}`")

    def member(
        self, loc: Loc, device: Device, kind: str, known: Mapping[str, T], name: str
    ) -> T | None:
        """`known[name]`: the device's event or action `name` (`kind`), or None after saying
        that it has none so."""
        found = known.get(name)
        if found is None:
            has = ", ".join(known) or "none"
            self.problem(
                loc,
                f"device {device.id} ({device.type}) has no {kind} {name!r}; "
                f"it has: {has}{did_you_mean(name, known)}",
            )
        return found

    def args(self, loc: Loc, where: str, specs: Iterable[ArgSpec], args: dict[str, Any]) -> None:
        """Argument names known; non-template values valid (like `DeviceType.check_args`)."""
        known = {a.name: a for a in specs}
        for name, value in args.items():
            if name not in known:
                takes = ", ".join(known) or "no arguments"
                self.problem((*loc, name), f"{where}: unknown argument {name!r}; it takes {takes}")
            elif not templates.has_templates(value):
                try:
                    known[name].check(value, f"{where}({name})")
                except HyperHubError as exc:
                    self.problem((*loc, name), str(exc))

    # ------------------------------------------------------------------ triggers

    def trigger(self, loc: Loc, trigger: Trigger) -> None:
        kind, body = trigger.kind, trigger.body
        at = (*loc, kind)
        if kind in ("state", "numeric"):
            for _where, device in self.devices((*at, "device"), body.device):
                if self.prop((*at, "property"), device, body.property) is None:
                    continue
                if kind == "numeric":
                    self.numeric((*at, "property"), device, body.property, "`numeric`")
                    continue
                for key in ("to", "from"):
                    value = getattr(body, "from_" if key == "from" else key)
                    if value is not None:
                        self.value((*at, key), device, body.property, value, write=False)
        elif kind == "event":
            for _where, device in self.devices((*at, "device"), body.device):
                event = self.member(
                    (*at, "event"), device, "event", device.dtype.events, body.event
                )
                if event is not None:
                    self.args((*at, "args"), f"{device.id}.{body.event}", event.args, body.args)
        elif kind == "cron":
            why = when.check_cron(body)
            if why is not None:
                self.problem(at, why)
        elif kind == "sun":
            self.needs_location(at, "sunrise and sunset")
        elif kind == "geofence":
            self.located(at, body)
        elif kind == "offline":
            list(self.devices((*at, "device"), body.device))

    def needs_location(self, loc: Loc, what: str) -> None:
        if self.space.location is None:
            self.problem(loc, f"{what} need the space's `location`")

    # ------------------------------------------------------------------ conditions

    def conditions(self, loc: Loc, conditions: list[Condition]) -> None:
        for i, condition in enumerate(conditions):
            self.condition((*loc, i), condition)

    def condition(self, loc: Loc, condition: Condition) -> None:
        kind, body = condition.kind, condition.body
        at = (*loc, kind)
        if kind == "state":
            self.state_condition(at, body)
        elif kind == "sun":
            self.needs_location(at, "sunrise and sunset")
        elif kind == "geo":
            self.located(at, body)
        elif kind == "someone_home" and HOME not in self.places:
            self.problem(at, "`someone_home` needs the space's `location` (or a place `home`)")
        elif kind in ("and", "or", "not"):
            self.conditions(at, body)

    def state_condition(self, at: Loc, body: StateCondition) -> None:
        for _where, device in self.devices((*at, "device"), body.device):
            if self.prop((*at, "property"), device, body.property) is None:
                continue
            given = body.model_fields_set
            for name, key in (("is_", "is"), ("is_not", "is_not")):
                if name in given and getattr(body, name) is not None:
                    self.value((*at, key), device, body.property, getattr(body, name), write=False)
            for i, value in enumerate(body.in_ or []):
                self.value((*at, "in", i), device, body.property, value, write=False)
            for key in ("above", "below"):
                if key in given:
                    self.numeric((*at, key), device, body.property, f"`{key}`")

    # ------------------------------------------------------------------ actions

    def action(self, loc: Loc, action: Action) -> None:
        kind = action.kind
        at = (*loc, kind)
        if kind == "set":
            body = action.set
            assert body is not None
            for _where, device in self.devices((*at, "device"), body.device):
                if self.prop((*at, "property"), device, body.property, write=True) is not None:
                    self.write((*at, "value"), device, body.property, body.value)
        elif kind == "call":
            self.call(at, action)
        elif kind == "scene":
            assert action.scene is not None
            if action.scene not in self.scenes:
                known = ", ".join(sorted(self.scenes)) or "none defined"
                hint = did_you_mean(action.scene, self.scenes)
                self.problem(at, f"no scene {action.scene!r}; scenes: {known}{hint}")
            else:
                self.uses.setdefault(self.owner, []).append(action.scene)
        elif kind == "notify":
            self.notify(at, action.notify)
        elif kind == "if":
            self.conditions((*loc, "if"), action.if_ or [])
            for key, branch in (("then", action.then), ("else", action.else_)):
                for i, sub in enumerate(branch or []):
                    self.action((*loc, key, i), sub)

    def call(self, at: Loc, action: Action) -> None:
        body = action.call
        assert body is not None
        for _where, device in self.devices((*at, "device"), body.device):
            spec = self.member((*at, "action"), device, "action", device.dtype.actions, body.action)
            if spec is None:
                continue
            where = f"{device.id}.{body.action}"
            if templates.has_templates(body.args):
                self.args((*at, "args"), where, spec.args, body.args)
                given = set(body.args)
                for arg in spec.args:
                    if arg.required and arg.name not in given:
                        self.problem(
                            (*at, "args"),
                            f"{where}: missing argument {arg.name!r} ({arg.allowed()})",
                        )
            else:
                try:
                    device.dtype.check_args(body.action, body.args, device.id)
                except HyperHubError as exc:
                    self.problem((*at, "args"), str(exc))
            if device.is_risky(Command(device.id, action=body.action)):
                self.risky.setdefault(self.owner, []).append(where)

    def notify(self, at: Loc, body: NotifyAction | None) -> None:
        assert body is not None
        if body.type is not None:
            self.device_type((*at, "type"), body.type, action="notify")
            return
        assert body.device is not None
        for where, device in self.devices((*at, "device"), body.device):
            if "notify" not in device.dtype.actions:
                self.problem(where, f"device {device.id} ({device.type}) cannot be notified")

    def scene_states(self, loc: Loc, device_id: str, values: dict[str, Any]) -> None:
        for _where, device in self.devices(loc, device_id):
            for prop, value in values.items():
                if self.prop((*loc, prop), device, prop, write=True) is not None:
                    self.write((*loc, prop), device, prop, value)


def _strings(node: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    """Every string in a plain document node with its location (ids, names skipped)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key not in _NOT_TEMPLATES:
                yield from _strings(value, (*loc, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, (*loc, i))
    elif isinstance(node, str):
        yield loc, node


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ---------------------------------------------------------------------------- writing


def _tidy(value: Any, key: str | int | None = None) -> Any:
    """Whole floats as ints (`value: 22`, not `22.0`); durations as text (`for: 5m`)."""
    if isinstance(value, dict):
        return {k: _tidy(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_tidy(v) for v in value]
    if key in _DURATIONS and isinstance(value, int | float) and not isinstance(value, bool):
        return _duration_text(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _duration_text(seconds: float) -> str | float:
    """ "1h30m", "-30m", "90s" for whole seconds; the number itself otherwise."""
    if not float(seconds).is_integer():
        return seconds
    total = abs(int(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    text = "".join(f"{n}{u}" for n, u in ((h, "h"), (m, "m"), (s, "s")) if n) or "0s"
    return f"-{text}" if seconds < 0 else text

"""The automation files as an editor changes them, one rule or scene at a time.

`AutomationFolder.get` gives a rule or scene as the JSON of its file's own keys, where it
is written (`source`), a `version` (a hash of its text) and whether the editor may change
it (not when its YAML holds what JSON cannot carry back unchanged: it is then read-only,
never dropped). `put` creates or replaces one, `delete` removes one: the change is made in
the file's text by `splice` (every byte outside the item stays), checked with the whole
folder like `hyperhub rules check` before anything is written (`InvalidItem` says where in
the item each problem is), written at once (a temporary file renamed over it) and read back
from disk. One change at a time per folder, also across processes (a lock on the folder).

Where new items go (`target`): a hub whose automations are one file, into that file; else
into the file named, or `editor.yaml` in the folder (the assistant's rules: `assistant.yaml`).
The demo that ships inside HyperHub is never written.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from ruamel.yaml.error import MarkedYAMLError

from hyperhub._yaml import too_big, too_deep, yaml_problem
from hyperhub.automation.loader import (
    MAX_BYTES,
    MAX_VALUES,
    SUFFIXES,
    Book,
    automation_files,
    dotted,
    file_data,
    load_automations,
)
from hyperhub.automation.model import ID_PATTERN, Rule, Scene
from hyperhub.automation.splice import (
    FileText,
    ItemText,
    Loc,
    SpliceError,
    render,
    same,
    unfaithful,
    unwritable,
)
from hyperhub.errors import (
    AutomationError,
    HyperHubError,
    Problem,
    ReadOnly,
    StaleVersion,
    UnknownRule,
    UnknownScene,
    VersionRequired,
    did_you_mean,
)
from hyperhub.files import write_checked

if TYPE_CHECKING:
    from hyperhub.space import Space

try:
    import fcntl
except ImportError:  # not on POSIX: one writer per process
    fcntl = None  # type: ignore[assignment]

SECTIONS = {"rule": "rules", "scene": "scenes"}
MODELS: dict[str, type[BaseModel]] = {"rule": Rule, "scene": Scene}
NEW_ITEMS_FILE = "editor.yaml"  # where the editor's new rules and scenes go, in the folder
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}\.ya?ml$")
LOCK_WAIT = 10.0  # seconds a change waits for another one to be written
NEW_FILE_MODE = 0o644
_ID = re.compile(ID_PATTERN)
_ID_AT = re.compile(r"""(?:^|[\s{,-])id:[ \t]*["']?([a-z0-9_]+)""", re.M)
_LOCAL_LOCK = threading.Lock()  # where there is no fcntl


@dataclass(frozen=True)
class Item:
    """A rule or scene as its file writes it: `data` holds exactly the keys written."""

    kind: str  # rule | scene
    id: str
    data: dict[str, Any]
    file: Path
    line: int
    version: str
    reason: str | None = None  # why the editor may not change it (None: it may)

    @property
    def editable(self) -> bool:
        return self.reason is None

    @property
    def source(self) -> str:
        """file:line, the file's name only."""
        return f"{self.file.name}:{self.line}"


@dataclass(frozen=True)
class Located:
    """One problem of a change: where in the item it is (`loc`, () for the item itself), or,
    for a problem elsewhere in the folder, its `source` (file:line)."""

    message: str
    loc: Loc | None = None
    source: str | None = None

    @property
    def path(self) -> str | None:
        """`loc` as the files' problems say it: "triggers[0].state.device"."""
        return None if self.loc is None else dotted(self.loc)


class InvalidItem(AutomationError):
    """A rule or scene that cannot be saved as it is: `located` lists each problem (in the
    item, or elsewhere in the folder); `problems` as the loader found them, when it did."""

    def __init__(
        self,
        label: str,
        located: list[Located],
        problems: list[tuple[str, Problem]] | None = None,
    ) -> None:
        if problems is None:
            problems = [(p.source or label, Problem(0, _said(p))) for p in located]
        super().__init__(label, problems)
        self.located = located


@dataclass(frozen=True)
class Saved:
    """What a change did: the item as written now (None after a delete), the folder as
    read back from disk, and the item's risky writes and calls."""

    item: Item | None
    book: Book
    created: bool = False
    risky: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Checked:
    """A rule or scene checked without saving: where it is or would go, whether it exists,
    its risky writes and calls, and its problems (none: it would be saved)."""

    file: Path
    exists: bool
    risky: list[str]
    problems: list[Located]


Approve = Callable[[list[str]], None]  # sees an item's risky writes and calls; raises to refuse


class AutomationFolder:
    """The automation files at `path` (a folder, or one file; None: no files, checks only)
    of `space`; new items go into `new_file` unless told otherwise."""

    def __init__(self, space: Space, path: Path | None, *, new_file: str = NEW_ITEMS_FILE) -> None:
        self.space = space
        self.path = None if path is None else Path(path)
        self.new_file = new_file

    # ------------------------------------------------------------------ where

    @property
    def one_file(self) -> bool:
        return self.path is not None and self.path.suffix in SUFFIXES and not self.path.is_dir()

    def target(self, file: str | None = None) -> Path:
        """The file a new item goes into; `ReadOnly` where nothing may be written, and
        `InvalidItem` for a `file` that is not a plain file name of the folder."""
        if self.path is None:
            raise ReadOnly("this space was not read from a file, so it has no automations folder")
        import hyperhub

        package = Path(hyperhub.__file__).resolve().parent
        if package in self.path.resolve().parents:
            raise ReadOnly(
                "the demo that ships inside HyperHub is read-only; run a copy of it "
                "(--space FILE) to save rules"
            )
        if self.one_file:
            if file not in (None, self.path.name):
                raise InvalidItem(
                    str(self.path),
                    [Located(f"file: this hub's automations are the one file {self.path.name}")],
                )
            return self.path
        name = file or self.new_file
        if not FILE_NAME.match(name):
            message = f"file: {name!r} is not a file name of the folder, like home.yaml"
            raise InvalidItem(str(self.path), [Located(message)])
        return self.path / name

    # ------------------------------------------------------------------ reading

    def get(self, kind: str, item_id: str) -> Item:
        """The rule or scene `item_id` as its file writes it (`UnknownRule` / `UnknownScene`
        when no file has it)."""
        found = self._find(kind, item_id)
        if found is None:
            raise self._unknown(kind, item_id)
        path, text, _raw, item = found
        return self._item(kind, path, text, item)

    def check(
        self, kind: str, item_id: str, data: dict[str, Any], *, file: str | None = None
    ) -> Checked:
        """Check `data` as `put` would before writing, writing nothing."""
        try:
            plan = self._plan(kind, item_id, data, file=file, virtual=True)
        except (AutomationError, ReadOnly) as exc:
            place = self._place(kind, item_id, file)
            return Checked(place[0], place[1], [], located(exc))
        return Checked(plan.path, plan.item is not None, plan.risky, [])

    # ------------------------------------------------------------------ changing

    def put(
        self,
        kind: str,
        item_id: str,
        data: dict[str, Any],
        *,
        version: str | None,
        file: str | None = None,
        approve: Approve | None = None,
        create_only: bool = False,
    ) -> Saved:
        """Create or replace the rule or scene `item_id` with `data` (the file's keys).

        Replacing needs the `version` it was made from (else `VersionRequired`; a changed or
        vanished one: `StaleVersion`); a new one goes where `target(file)` says. Problems:
        `InvalidItem` (nothing written). `approve(risky)` may refuse before anything is
        written. `create_only`: always a new item (an id in use is a duplicate problem)."""
        self.target(file)  # refuse at once where nothing may be written
        with self._lock():
            plan = self._plan(
                kind, item_id, data, file=file, version=version, create_only=create_only
            )
            if approve is not None:
                approve(plan.risky)
            book = self._write(plan)
            now = plan.written.item(SECTIONS[kind], item_id)
            item = None if now is None else self._item(kind, plan.path, plan.written, now)
            return Saved(item, book, plan.item is None, plan.risky)

    def delete(self, kind: str, item_id: str, *, version: str | None) -> Saved:
        """Remove the rule or scene `item_id` from its file (with the `version` it was seen
        at, as `put`); `InvalidItem` when the folder would not load without it (a rule
        that applies the scene, say)."""
        self.target()
        with self._lock():
            found = self._find(kind, item_id)
            if found is None:
                if version is not None:
                    raise StaleVersion(f"{kind} {item_id!r} is no longer in the files")
                raise self._unknown(kind, item_id)
            path, text, raw, item = found
            self._may_change(kind, item_id, item, version)
            self._editable(kind, text, item)
            new = text.remove(item)
            written = _checked_splice(text, new, SECTIONS[kind], item.index, None)
            book = self._validated(path, new)
            return Saved(None, self._write(_Plan(path, raw, new, written, item, book)))

    # ------------------------------------------------------------------ inside

    def _plan(
        self,
        kind: str,
        item_id: str,
        data: dict[str, Any],
        *,
        file: str | None = None,
        version: str | None = None,
        create_only: bool = False,
        virtual: bool = False,
    ) -> _Plan:
        """The file's new text with the item in it, checked with the whole folder."""
        section = SECTIONS[kind]
        data = _prepared(kind, item_id, data)
        found = None if create_only else self._find(kind, item_id)
        if found is not None:
            path, text, raw, item = found
            if not virtual:
                self._may_change(kind, item_id, item, version)
                if file is not None and self.target(file).resolve() != path.resolve():
                    message = (
                        f"file: {kind} {item_id} is written in {path.name}; `file` places "
                        "only a new one"
                    )
                    raise InvalidItem(str(path), [Located(message)])
            self._editable(kind, text, item)
            new, written = _replaced(text, item, data, _order(kind))
        else:
            if version is not None and not virtual:
                raise StaleVersion(
                    f"{kind} {item_id!r} is no longer in the files (deleted since it was read?)"
                )
            path = self.target(file) if not virtual else self._place(kind, item_id, file)[0]
            text, raw = self._read(path, missing_ok=True)
            data = _canonical(kind, data)
            why = text.writable(section)
            if why is not None:
                raise ReadOnly(f"new {kind}s cannot be added to {path.name}: {why}")
            new = text.insert(section, lambda dash, col, style: render(data, dash, col, style))
            written = _checked_splice(text, new, section, None, data)
            item = None
        index = item.index if item is not None else _count(text, section)
        book = self._validated(path, new, (section, index))
        risky = [what for owner, what in book.risky if owner == f"{kind}:{item_id}"]
        return _Plan(path, raw, new, written, item, book, risky)

    def _place(self, kind: str, item_id: str, file: str | None) -> tuple[Path, bool]:
        """Where the item is, or would go (without refusing), and whether it exists."""
        with contextlib.suppress(HyperHubError):
            found = self._find(kind, item_id)
            if found is not None:
                return found[0], True
        try:
            return self.target(file), False
        except HyperHubError:
            base = self.path if self.path is not None else Path("automations")
            return (base if self.one_file else base / (file or self.new_file)), False

    def _may_change(self, kind: str, item_id: str, item: ItemText, version: str | None) -> None:
        """`VersionRequired` or `StaleVersion` unless `version` is the item's."""
        if version is None:
            raise VersionRequired(
                f"{kind} {item_id} exists: send the version it was read at (If-Match: "
                f'"{item.version}" from GET) to change it'
            )
        if version != item.version:
            raise StaleVersion(
                f"{kind} {item_id} has changed since it was read (version {version}, now "
                f"{item.version}): read it again, then make the change on that"
            )

    def _editable(self, kind: str, text: FileText, item: ItemText) -> None:
        """`ReadOnly` unless the editor may change this item."""
        why = self._reason(kind, text, item)
        if why is not None:
            raise ReadOnly(f"{kind} {item.id} can only be changed in its file by hand: {why}")

    def _reason(self, kind: str, text: FileText, item: ItemText) -> str | None:
        """Why the editor may not change this item, or None."""
        why = text.writable(SECTIONS[kind])
        if why is not None:
            return why
        try:
            node = text.item_node(item)
        except SpliceError as exc:
            return f"its lines cannot be cut out of the file exactly ({exc})"
        found = unfaithful(node)
        if found is not None:
            loc, message = found
            return f"{message} (at {dotted(loc)})" if loc else message
        return None

    def _item(self, kind: str, path: Path, text: FileText, item: ItemText) -> Item:
        data = _json_safe(text.data[item.section][item.index])
        try:
            self.target()
            reason = self._reason(kind, text, item)
        except HyperHubError as exc:  # the shipped demo: nothing in it can be changed
            reason = str(exc)
        return Item(kind, str(item.id), data, path, item.line, item.version, reason)

    def _find(
        self, kind: str, item_id: str, files: list[Path] | None = None
    ) -> tuple[Path, FileText, bytes, ItemText] | None:
        """The first file (in the loader's order) that has the item, and where; a file that
        cannot be read only matters when no other has it (`AutomationError`)."""
        if not _ID.match(item_id):
            return None
        broken: list[AutomationError] = []
        for path in files if files is not None else self._files():
            try:
                raw = path.read_bytes()
            except OSError:
                continue
            if item_id.encode() not in raw:
                continue
            try:
                text, raw = self._read(path)
            except AutomationError as exc:
                broken.append(exc)
                continue
            item = text.item(SECTIONS[kind], item_id)
            if item is not None:
                return path, text, raw, item
        if broken:
            problems = [p for exc in broken for p in exc.problems]
            raise AutomationError(str(self.path), problems)
        return None

    def _files(self) -> list[Path]:
        return [] if self.path is None else automation_files(self.path)

    def _read(self, path: Path, *, missing_ok: bool = False) -> tuple[FileText, bytes]:
        """A file's text and bytes (a missing one is empty with `missing_ok`), or
        `AutomationError` naming its problem as the loader does."""
        name = str(path)

        def refused(line: int, message: str) -> AutomationError:
            return AutomationError(name, [(name, Problem(line, message))])

        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            if missing_ok:
                return FileText(""), b""
            raise refused(0, "the file is gone") from None
        except OSError as exc:
            raise refused(0, f"cannot read the file: {exc.strerror}") from None
        if len(raw) > MAX_BYTES:
            raise refused(0, f"file is larger than {MAX_BYTES} bytes")
        try:
            source = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise refused(0, f"not UTF-8 text ({exc.reason})") from None
        deep = too_deep(source)
        if deep is not None:  # before the parser: it recurses once per level
            raise refused(*deep)
        try:
            text = FileText(source)
        except MarkedYAMLError as exc:
            raise refused(*yaml_problem(exc, source)) from None
        except Exception as exc:  # ruamel raises a few unmarked errors too
            raise refused(0, f"YAML error: {exc}") from None
        if too_big(text.doc, MAX_VALUES):
            raise refused(0, f"the file holds more than {MAX_VALUES:,} values (YAML aliases?)")
        return text, raw

    def _validated(self, path: Path, new: str, at: tuple[str, int] | None = None) -> Book:
        """The folder's book with `path` holding `new`; `InvalidItem` locating each problem
        in the item at `at` (section, index) or elsewhere."""
        where = self.path if self.path is not None else path
        try:
            return load_automations(self.space, where, {path: new})
        except AutomationError as exc:
            located = []
            for name, problem in exc.problems:
                loc = problem.loc
                if at is not None and name == str(path) and loc is not None and loc[:2] == at:
                    message = problem.message.removeprefix(f"{dotted(loc)}: ")
                    located.append(Located(message, loc[2:]))
                else:
                    source = f"{Path(name).name}:{problem.line}"
                    located.append(Located(problem.message, None, source))
            raise InvalidItem(str(where), located, exc.problems) from None

    def _write(self, plan: _Plan) -> Book:
        """Write the plan's text at once and read the folder back from disk."""
        target = plan.path.resolve() if plan.path.is_symlink() else plan.path
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else NEW_FILE_MODE
        read: list[Book] = []
        where = self.path if self.path is not None else plan.path

        def check() -> None:
            read.append(load_automations(self.space, where))

        old = plan.raw if target.exists() else None
        data = plan.text.encode("utf-8")
        if data == old:  # saved as it was: nothing to write
            check()
        else:
            write_checked(target, data, old, check, mode=mode)
        return read[-1]

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """One change at a time in this folder, also across processes (`flock` on it)."""
        assert self.path is not None
        folder = self.path.parent if self.one_file else self.path
        folder.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            if not _LOCAL_LOCK.acquire(timeout=LOCK_WAIT):
                raise _busy()
            try:
                yield
            finally:
                _LOCAL_LOCK.release()
            return
        fd = os.open(folder, os.O_RDONLY)
        try:
            deadline = time.monotonic() + LOCK_WAIT
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise _busy() from None
                    time.sleep(0.02)
            yield
        finally:
            os.close(fd)  # closing it lets the lock go

    def _unknown(self, kind: str, item_id: str) -> HyperHubError:
        known: set[str] = set()
        for path in self._files():
            with contextlib.suppress(OSError, UnicodeDecodeError):
                known.update(_ID_AT.findall(path.read_text(encoding="utf-8")))
        where = "in the automation files" if self.path is not None else "(no automation files)"
        message = f"no {kind} {item_id!r} {where}{did_you_mean(item_id, known)}"
        return UnknownRule(message) if kind == "rule" else UnknownScene(message)


@dataclass(frozen=True)
class _Plan:
    """A change ready to write: the file, its old bytes, its new text (and as read back),
    the book it makes."""

    path: Path
    raw: bytes
    text: str
    written: FileText
    item: ItemText | None  # the item replaced (None: a new one)
    book: Book
    risky: list[str] = field(default_factory=list)


def located(exc: AutomationError | ReadOnly) -> list[Located]:
    """The problems of a refused change, located (an `InvalidItem`'s own), or those of files
    that could not be read, by their file:line."""
    if isinstance(exc, InvalidItem):
        return exc.located
    if isinstance(exc, ReadOnly):
        return [Located(str(exc))]
    return [Located(p.message, None, f"{Path(name).name}:{p.line}") for name, p in exc.problems]


def _count(text: FileText, section: str) -> int:
    found = text.sections.get(section)
    return 0 if found is None else len(found.items)


def _busy() -> HyperHubError:
    return HyperHubError(
        "the automation files are busy: another change is being written; try again"
    )


def _said(problem: Located) -> str:
    if problem.loc is None:
        return problem.message
    return f"{problem.path}: {problem.message}" if problem.loc else problem.message


def _prepared(kind: str, item_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """`data` with its id (added when missing), or `InvalidItem`: an id that is not one, a
    body id that is not the path's, values no file can hold."""
    if not item_id:
        raise InvalidItem(kind, [Located("missing field `id`", ("id",))])
    if not _ID.match(item_id) or len(item_id) > 100:
        message = f"bad id {item_id[:100]!r}: use only a-z, 0-9 and _ (at most 100)"
        raise InvalidItem(kind, [Located(message, ("id",))])
    if "id" not in data:
        data = {"id": item_id, **data}
    elif data["id"] != item_id:
        message = f"the {kind}'s id {data['id']!r} is not the id it is saved as ({item_id!r})"
        raise InvalidItem(kind, [Located(message, ("id",))])
    bad = unwritable(data)
    if bad is not None:
        loc, message = bad
        raise InvalidItem(kind, [Located(message, loc)])
    return data


def _order(kind: str) -> list[str]:
    """A rule's or scene's keys in the order the docs write them (id, name, …, actions)."""
    return [info.alias or name for name, info in MODELS[kind].model_fields.items()]


def _canonical(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """A new item's keys in the order the docs write them."""
    order = _order(kind)
    rank = {key: i for i, key in enumerate(order)}
    return dict(sorted(data.items(), key=lambda kv: rank.get(kv[0], len(order))))


def _replaced(
    text: FileText, item: ItemText, data: dict[str, Any], order: list[str]
) -> tuple[str, FileText]:
    """The file with `item` replaced by `data` (and as read back): its comments and layout
    kept where the data is the same; without them if that does not read back exactly. The
    same data: the file as it is."""
    if same(text.data[item.section][item.index], data, ordered=False):
        return text.source, text
    style = text.style(item)
    for keep in (True, False):
        try:
            old = text.item_node(item) if keep else None
            lines = render(data, item.dash, item.column, style, old=old, order=order)
            new = text.replace(item, lines)
            return new, text.check(new, item.section, item.index, data)
        except SpliceError:
            continue
    message = "cannot be written as YAML that reads back the same"
    raise InvalidItem(item.section, [Located(message, ())])


def _checked_splice(
    text: FileText, new: str, section: str, index: int | None, data: dict[str, Any] | None
) -> FileText:
    try:
        return text.check(new, section, index, data)
    except SpliceError as exc:
        raise InvalidItem(section, [Located(str(exc), ())]) from None


def _json_safe(value: Any) -> Any:
    """Plain values JSON can send: a value it has no form for (a date, NaN, a lone
    surrogate) as text (the item is read-only then)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    return str(value)


def append_rule(path: Path, rule: Rule, space: Space) -> None:
    """Add `rule` to the automation file `path` (created with `rules:` if missing), checked
    with the files of its folder first: `AutomationError` lists every problem (a rule id
    in use is one) and nothing is written."""
    path = Path(path)
    folder = AutomationFolder(space, path.parent, new_file=path.name)
    folder.put("rule", rule.id, file_data(rule), version=None, file=path.name, create_only=True)

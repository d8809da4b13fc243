"""The YAML writer of automation files: one item (a rule, a scene, a place) changed in a
file's text, and nothing else.

`FileText` finds where each item of a file is written (its lines, from its `-` to its last
line of content); `replace`, `insert` and `remove` splice lines there and leave every other
byte of the file as it was — comments, blank lines, key order, other items, the file's
newline style and byte-order mark. An item is rendered as a person writes it (`render`):
short mappings on one line, in the file's own indentation, and, when it replaces an item,
with that item's comments, quotes and key order wherever the new data kept them (`merge`).
`FileText.check` reads the result back and refuses it unless it holds exactly the data
meant: a string never turns into YAML structure.

`unfaithful` says why an item's YAML cannot be carried as JSON and back unchanged (anchors,
tags, dates, keys that are not text, …): the editor shows such an item read-only.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)

from hyperhub._yaml import MAX_DEPTH, styled, to_plain

BOM = "\ufeff"
MAX_SAFE_INT = 2**53 - 1  # the largest integer a JavaScript number holds exactly
MAX_ITEM_DEPTH = MAX_DEPTH - 10  # an item sits a few levels down in its file
NULL_TAG = "tag:yaml.org,2002:null"
Loc = tuple[str | int, ...]


class SpliceError(ValueError):
    """The file's layout does not let this item be written there; the message says why."""


def yaml_rt() -> YAML:
    """A YAML 1.2 round-trip parser that keeps quotes (pure Python: it keeps marks)."""
    yaml = YAML(typ="rt", pure=True)
    yaml.version = (1, 2)
    yaml.preserve_quotes = True
    return yaml


@dataclass(frozen=True)
class Style:
    """How a file indents: a nested mapping by `mapping` columns, a list's `-` by `offset`
    under its key (`actions:` then `  - set: …` is 2; `- set: …` right under it is 0)."""

    mapping: int = 2
    offset: int = 2


@dataclass(frozen=True)
class ItemText:
    """Where one item of a section is written: lines `first`…`last` (0-based, inclusive),
    its `-` at column `dash`, its content from column `column`."""

    section: str
    index: int
    id: str | None
    first: int
    last: int
    dash: int
    column: int
    text: str  # lines first…last as they are in the file
    problem: str | None = None  # why its lines cannot be replaced (an unusual layout)

    @property
    def version(self) -> str:
        """A hash of the item's text: it changes whenever anybody changes the item."""
        return hashlib.sha256(self.text.encode("utf-8", "surrogatepass")).hexdigest()[:16]

    @property
    def line(self) -> int:
        """The line of its `-`, 1-based."""
        return self.first + 1


@dataclass(frozen=True)
class SectionText:
    """A top-level key (`rules`, `scenes`, `places`) and where its items are."""

    name: str
    key_line: int
    key_column: int
    items: tuple[ItemText, ...]
    flow: bool  # written `rules: [...]`: its items cannot be spliced as lines
    empty: tuple[int, int] | None  # character span of an empty value (`[]`, `~`, nothing)


class FileText:
    """One automation file's text, and where its sections and items are written (ruamel's
    errors for text that is not YAML)."""

    def __init__(self, text: str) -> None:
        self.source = text  # as given
        self.bom = text.startswith(BOM)
        body = text[1:] if self.bom else text
        self.problem: str | None = None  # why nothing in it can be written
        if re.search(r"\r(?!\n)", body):
            self.problem = "the file ends lines with a lone carriage return (CR)"
        self.lines = _lines(body)
        self.text = body.replace("\r\n", "\n")  # what the parser reads; the same lines
        crlf = sum(line.endswith("\r\n") for line in self.lines)
        self.newline = "\r\n" if crlf * 2 > len(self.lines) else "\n"
        self.root, self.doc = _parse(self.text)
        self.sections: dict[str, SectionText] = {}
        if isinstance(self.root, MappingNode):
            for key, value in self.root.value:
                if isinstance(key, ScalarNode) and isinstance(key.value, str):
                    self.sections[key.value] = self._section(key, value)

    @cached_property
    def data(self) -> Any:
        """The whole document as plain values."""
        return to_plain(self.doc)

    # ------------------------------------------------------------------ reading

    def _line(self, index: int) -> int:
        return self.text.count("\n", 0, index)

    def _column(self, index: int) -> int:
        return index - (self.text.rfind("\n", 0, index) + 1)

    def _section(self, key: ScalarNode, value: Node) -> SectionText:
        items: list[ItemText] = []
        flow = bool(getattr(value, "flow_style", False))
        empty: tuple[int, int] | None = None
        if isinstance(value, SequenceNode):
            for i, node in enumerate(value.value):
                items.append(self._item(key.value, i, node, flow))
        if isinstance(value, SequenceNode) and not value.value:
            empty, flow = (value.start_mark.index, value.end_mark.index), False
        elif isinstance(value, ScalarNode) and value.tag == NULL_TAG:
            empty = (value.start_mark.index, value.end_mark.index)
        start = key.start_mark.index
        return SectionText(
            key.value, self._line(start), self._column(start), tuple(items), flow, empty
        )

    def _item(self, section: str, index: int, node: Node, flow: bool) -> ItemText:
        start = node.start_mark.index
        end = max(_content_end(node, self.text), start + 1)
        item_id = None
        if isinstance(node, MappingNode):
            for k, v in node.value:
                if isinstance(k, ScalarNode) and k.value == "id" and isinstance(v, ScalarNode):
                    item_id = v.value
        at = start - 1
        while at >= 0 and self.text[at] in " \t\n":
            at -= 1
        problem = None
        if flow or at < 0 or self.text[at] != "-":  # in a [...] list: only its own characters
            problem = "it is not written on lines of its own, as a `- ` item"
            at = start
        first, last = self._line(at), self._line(end - 1)
        text = self.text[start:end] if problem else "".join(self.lines[first : last + 1])
        dash, column = self._column(at), self._column(start)
        return ItemText(section, index, item_id, first, last, dash, column, text, problem)

    def item(self, section: str, item_id: str) -> ItemText | None:
        found = self.sections.get(section)
        if found is None:
            return None
        return next((i for i in found.items if i.id == item_id), None)

    def item_node(self, item: ItemText) -> Any:
        """The item read from its own lines alone: its comments inside, none around it.
        `SpliceError` when its lines do not read alone as the same data."""
        if item.problem is not None:
            raise SpliceError(item.problem)
        lines = self.text.split("\n")[item.first : item.last + 1]
        lines[0] = lines[0][: item.dash] + " " + lines[0][item.dash + 1 :]
        cut = []
        for line in lines:
            spaces = len(line) - len(line.lstrip(" "))
            if line.strip() and spaces < item.column and not line.lstrip().startswith("#"):
                raise SpliceError("a line of it is indented less than its first key")
            cut.append(line[min(spaces, item.column) :])
        try:
            node = yaml_rt().load("\n".join(cut) + "\n")
        except Exception:  # an alias to an anchor elsewhere, a %TAG of the file, …
            raise SpliceError("it does not read alone (a YAML alias to elsewhere?)") from None
        if not same(to_plain(node), self.data[item.section][item.index]):
            raise SpliceError("it does not read alone as the same data")
        return node

    def style(self, item: ItemText | None = None) -> Style:
        """How the item (else the file) indents, guessed from its lines (else 2 and 2)."""
        if item is not None:
            own = _style(item.text.replace("\r\n", "\n").split("\n"))
            if own is not None:
                return own
        return _style(self.text.split("\n")) or Style()

    # ------------------------------------------------------------------ writing

    def writable(self, section: str) -> str | None:
        """Why items of `section` cannot be written in this file, in words, or None."""
        if self.problem is not None:
            return self.problem
        if self.root is not None and not isinstance(self.root, MappingNode):
            return "the file is not a mapping of `places`, `scenes` and `rules`"
        if isinstance(self.root, MappingNode) and self.root.flow_style:
            return "the file is written as one {…} mapping; write it in block style to edit it here"
        found = self.sections.get(section)
        if found is not None and found.flow:
            return (
                f"the file writes `{section}` as a [...] list; write it as a block list "
                "(a `- ` line for each entry) to edit it here"
            )
        if found is not None and not found.items and found.empty is None:
            return f"`{section}` in the file is not a list"
        return None

    def replace(self, item: ItemText, lines: list[str]) -> str:
        """The file with `item`'s lines replaced by `lines` (from `render`)."""
        new = "".join(line + self.newline for line in lines)
        if not _ending(self.lines[item.last]):  # the file's last line had no line end
            new = new[: -len(self.newline)]
        return self._joined(self.lines[: item.first], new, self.lines[item.last + 1 :])

    def remove(self, item: ItemText) -> str:
        """The file without `item`. Comment lines right after it indented like its content
        (a commented-out action) go with it; comments above it stay."""
        last = at = item.last
        while at + 1 < len(self.lines):
            line = self.lines[at + 1]
            spaces = len(line) - len(line.lstrip(" "))
            if line.strip() and (not line.lstrip().startswith("#") or spaces < item.column):
                break
            at += 1
            if line.strip():
                last = at
        return self._joined(self.lines[: item.first], "", self.lines[last + 1 :])

    def insert(self, section: str, lines_of: Callable[[int, int, Style], list[str]]) -> str:
        """The file with a new item at the end of `section` (added at the end of the file
        when missing). `lines_of(dash, column, style)` renders the item."""
        why = self.writable(section)
        if why is not None:
            raise SpliceError(why)
        style = self.style()
        found = self.sections.get(section)
        if found is not None and found.items:
            last = found.items[-1]
            return self._after(self.lines, last.last, lines_of(last.dash, last.column, style))
        if found is not None:  # `rules:` with nothing after it, or `~`, `null`, `[]`
            dash = found.key_column + style.offset
            new = lines_of(dash, dash + 2, style)
            lines, line = list(self.lines), found.key_line
            assert found.empty is not None
            start, end = found.empty
            if start < end:  # an explicit empty value: taken out, the rest of its line kept
                line = self._line(start)
                text = self.text.split("\n")[line]
                col, tail = self._column(start), self.text[end:].split("\n", 1)[0]
                kept = text[:col].rstrip(" ") + (tail if tail.strip() else "")
                lines[line] = kept + _ending(lines[line])
            return self._after(lines, line, new)
        column = self._column(self.root.start_mark.index) if self.root is not None else 0
        dash = column + style.offset
        new = [" " * column + f"{section}:", *lines_of(dash, dash + 2, style)]
        if self.root is None:
            return self._after(self.lines, len(self.lines) - 1, new)
        end = _content_end(self.root, self.text)
        return self._after(self.lines, self._line(end - 1), ["", *new])

    def _after(self, lines: list[str], line: int, new: list[str]) -> str:
        head = list(lines[: line + 1])
        if head and not _ending(head[-1]):
            head[-1] += self.newline
        added = "".join(text + self.newline for text in new)
        return self._joined(head, added, lines[line + 1 :])

    def _joined(self, head: list[str], middle: str, tail: list[str]) -> str:
        return (BOM if self.bom else "") + "".join(head) + middle + "".join(tail)

    # ------------------------------------------------------------------ checking

    def check(self, new_text: str, section: str, index: int | None, data: Any) -> FileText:
        """`new_text` read, or `SpliceError` unless it holds this file's data with item
        `index` of `section` replaced by `data` (`index` None: added at the end; `data`
        None: removed)."""
        expected = dict(self.data or {})
        items = list(expected.get(section) or [])
        if index is None:
            items.append(data)
        elif data is None:
            del items[index]
        else:
            items[index] = data
        expected[section] = items or None
        try:
            new = FileText(new_text)
        except Exception as exc:
            raise SpliceError(f"the new text does not read back ({exc})") from None
        if not same(new.data or {}, expected, ordered=False):
            raise SpliceError("the new text does not read back as the data meant")
        return new


def _parse(text: str) -> tuple[Node | None, Any]:
    """The document's nodes (with their marks) and its data: by ruamel's C parser where it
    can (a thousand rules in a fraction of a second), else the pure one, as the loader does
    (YAML 1.2 that libyaml does not read, `[07:30]`; tags the safe loader does not know)."""
    fast = YAML(typ="safe", pure=False)
    fast.version = (1, 2)
    try:
        root = fast.compose(text)
        return root, None if root is None else fast.constructor.construct_document(root)
    except MarkedYAMLError:
        pure = yaml_rt()
        root = pure.compose(text)
        return root, None if root is None else pure.constructor.construct_document(root)


def _style(lines: list[str]) -> Style | None:
    """The indentation these lines use, or None when they show none."""
    maps: Counter[int] = Counter()
    seqs: Counter[int] = Counter()
    content = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    for this, after in itertools.pairwise(content):
        if not re.match(r"^[ ]*(?:-[ ]+)?[\w\"'.-]+:[ ]*(?:#.*)?$", this):
            continue
        key = len(this) - len(this.lstrip(" -"))
        col = len(after) - len(after.lstrip(" "))
        if after.lstrip().startswith("- ") or after.strip() == "-":
            seqs[col - key] += 1
        elif col > key:
            maps[col - key] += 1
    if not maps and not seqs:
        return None
    mapping = maps.most_common(1)[0][0] if maps else 2
    offset = seqs.most_common(1)[0][0] if seqs else 2
    return Style(mapping if 1 < mapping <= 8 else 2, offset if 0 <= offset <= 8 else 2)


def _lines(text: str) -> list[str]:
    """The lines of `text`, each with its line end (LF or CR LF; only these end lines)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _ending(line: str) -> str:
    return "\r\n" if line.endswith("\r\n") else ("\n" if line.endswith("\n") else "")


# ---------------------------------------------------------------------------- rendering


def render(
    data: Any,
    dash: int,
    column: int,
    style: Style,
    old: Any = None,
    order: Sequence[str] = (),
) -> list[str]:
    """The lines of an item (without line ends), its `-` at column `dash`, its content at
    `column`. With `old` (the item it replaces, read by `FileText.item_node`; changed in
    place) its comments, quotes and key order stay wherever `data` kept them; a key it did
    not have goes where `order` (the item's keys as the docs write them) puts it."""
    node = _quoted(merge(old, data, order=order) if old is not None else styled(data))
    yaml = YAML(typ="rt")
    yaml.indent(mapping=style.mapping, sequence=style.offset + 2, offset=style.offset)
    yaml.width = 4096  # a long template stays on its line
    yaml.brace_single_entry_mapping_in_flow_sequence = True  # [{sun: …}], not [sun: …]
    yaml.representer.ignore_aliases = lambda _data: True  # never &id001 / *id001
    out = io.StringIO()
    yaml.dump(node, out)
    lines = out.getvalue().split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    lead = " " * dash + "-" + " " * (column - dash - 1)
    return [
        lead + line if i == 0 else (" " * column + line if line.strip() else "")
        for i, line in enumerate(lines)
    ]


def _quoted(node: Any, flow: bool = False) -> Any:
    """`node` with the plain strings that hold a `:` inside [...] or {...} in quotes: YAML
    1.2 reads `[07:30]` as a list of one string, libyaml (the loader's fast path, and many
    other tools) refuses it."""
    if isinstance(node, CommentedMap | CommentedSeq):
        inner = flow or bool(node.fa.flow_style())
        keys = range(len(node)) if isinstance(node, CommentedSeq) else list(node)
        for key in keys:
            node[key] = _quoted(node[key], inner)
        return node
    if flow and type(node) is str and ":" in node:
        return DoubleQuotedScalarString(node)
    return node


def merge(old: Any, new: Any, *, under_key: bool = False, order: Sequence[str] = ()) -> Any:
    """`new` (plain data) as ruamel nodes that reuse `old`'s wherever the data is the same:
    comments, quotes, number formats and key order stay; new parts are `styled`. A new key
    goes before the first key that `order` puts after it, else after the key before it in
    `new`."""
    if isinstance(new, dict) and isinstance(old, CommentedMap):
        for key in [k for k in old if k not in new]:
            del old[key]
        rank = {key: i for i, key in enumerate(order)}
        previous: str | None = None
        for key, value in new.items():
            if key in old:
                old[key] = merge(old[key], value, under_key=True)
            else:
                at = _position(list(old), key, previous, rank)
                old.insert(at, key, styled(value, inline=True))
            previous = key
        return old
    if isinstance(new, list) and isinstance(old, CommentedSeq):
        return _merge_list(old, new)
    if not isinstance(new, dict | list) and same(to_plain(old), new):
        return old
    if isinstance(new, str) and isinstance(old, str):
        for kind in (DoubleQuotedScalarString, SingleQuotedScalarString):
            if isinstance(old, kind):
                return kind(new)
        if isinstance(old, LiteralScalarString) and _literal_ok(new):
            return LiteralScalarString(new)
    return styled(new, inline=under_key)


def _position(keys: list[Any], key: str, previous: str | None, rank: dict[str, int]) -> int:
    """Where a new key goes among `keys`: before the first that `rank` puts after it, else
    right after `previous` (the key before it in the new data)."""
    mine = rank.get(key)
    if mine is not None:
        later = [i for i, k in enumerate(keys) if rank.get(k, -1) > mine]
        if later:
            return later[0]
    return 0 if previous is None else keys.index(previous) + 1


def _literal_ok(text: str) -> bool:
    """Whether `|` holds `text` as it is: several printable lines, no edge spaces."""
    lines = text.rstrip("\n").split("\n")
    return (
        "\n" in text.rstrip("\n")
        and text.endswith("\n")
        and not text.endswith("\n\n")
        and all(line.isprintable() and line == line.strip() and line for line in lines)
    )


def _merge_list(old: CommentedSeq, new: list[Any]) -> CommentedSeq:
    """Items kept, inserted, removed or changed; a kept or changed item keeps its comments
    (a changed one is the old item of its kind, `set` for `set`, in the same stretch)."""
    was = [json.dumps(to_plain(v), sort_keys=True, default=str) for v in old]
    now = [json.dumps(v, sort_keys=True, default=str) for v in new]
    out = CommentedSeq()
    if old.fa.flow_style():
        out.fa.set_flow_style()
    out.ca.comment = old.ca.comment
    opcodes = difflib.SequenceMatcher(a=was, b=now, autojunk=False).get_opcodes()
    for op, i1, i2, j1, j2 in opcodes:
        unused = list(range(i1, i2)) if op in ("equal", "replace") else []
        for j in range(j1, j2):
            source = next((i for i in unused if _kind(old[i]) == _kind(new[j])), None)
            if source is None:
                out.append(styled(new[j]))
                continue
            unused.remove(source)
            out.append(merge(old[source], new[j]))
            if source in old.ca.items:
                out.ca.items[len(out) - 1] = old.ca.items[source]
    return out


def _kind(value: Any) -> Any:
    """What a list item is: a mapping's first key (`set`, `state`), else its type."""
    if isinstance(value, dict):
        return next(iter(value), None)
    return type(value).__name__


# ---------------------------------------------------------------------------- values


def same(a: Any, b: Any, *, ordered: bool = True) -> bool:
    """Equal, and of the same kinds all the way down (True is not 1, 1 is not 1.0); with
    `ordered`, mappings in the same key order too."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        keys = list(a) == list(b) if ordered else a.keys() == b.keys()
        return keys and all(same(a[k], b[k], ordered=ordered) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(
            same(x, y, ordered=ordered) for x, y in zip(a, b, strict=True)
        )
    for kind in (int, float, str):
        if isinstance(a, kind) and isinstance(b, kind):
            return bool(a == b)
    return type(a) is type(b) and bool(a == b)


def unfaithful(node: Any, loc: Loc = ()) -> tuple[Loc, str] | None:
    """Where and why `node` (round-trip YAML) cannot be carried as JSON and written back
    as it is, or None."""
    why = _unfaithful(node)
    if why is not None:
        return loc, why
    if isinstance(node, dict):
        for key, value in node.items():
            if not isinstance(key, str):
                return loc, f"it has a key that is not text: {key!r}"
            found = unfaithful(value, (*loc, key))
            if found is not None:
                return found
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found = unfaithful(value, (*loc, i))
            if found is not None:
                return found
    return None


def _unfaithful(value: Any) -> str | None:
    anchor = getattr(getattr(value, "anchor", None), "value", None)
    if anchor:
        return f"it uses the YAML anchor &{anchor}"
    tag = getattr(getattr(value, "tag", None), "value", None)
    if (tag and isinstance(value, dict | list)) or type(value).__name__ == "TaggedScalar":
        return f"it uses the YAML tag {tag}"
    if isinstance(value, CommentedMap) and getattr(value, "merge", None):
        return "it uses a YAML merge key (<<)"
    if type(value).__name__ in ("CommentedSet", "CommentedOrderedMap", "CommentedKeySeq"):
        return f"it holds a YAML {type(value).__name__.removeprefix('Commented')}"
    if value is None or isinstance(value, bool | dict | list):
        return None
    if isinstance(value, int):
        return None if abs(value) <= MAX_SAFE_INT else f"the number {value} is too large for JSON"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"the number {value} has no JSON form"
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "a text holds a lone surrogate, which is not Unicode text"
        return None
    return f"the value {str(value)!r} is a {type(value).__name__}, which JSON does not have"


def unwritable(value: Any, loc: Loc = (), depth: int = 0) -> tuple[Loc, str] | None:
    """Where and why JSON data cannot go into a file, or None: deeper than the loader
    reads, a number that is not finite, text that is not Unicode."""
    if depth > MAX_ITEM_DEPTH:
        return loc, f"nests more than {MAX_ITEM_DEPTH} levels deep"
    if isinstance(value, dict):
        for key, item in value.items():
            found = unwritable(key, (*loc, key), depth) or unwritable(item, (*loc, key), depth + 1)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = unwritable(item, (*loc, i), depth + 1)
            if found is not None:
                return found
    elif isinstance(value, float) and not math.isfinite(value):
        return loc, "is not a finite number (NaN and Infinity are not allowed)"
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return loc, "holds a lone surrogate, which is not Unicode text"
    return None


# ---------------------------------------------------------------------------- positions


def _content_end(node: Node, text: str) -> int:
    """The index just after the last character of `node`'s own content (its last scalar or
    flow collection): comments and blank lines after it are not its."""
    if isinstance(node, ScalarNode) and node.style in ("|", ">"):
        end = int(node.end_mark.index)
        if str(node.value).endswith("\n\n"):  # `|+` keeps its blank lines: they are content
            return end
        return len(text[:end].rstrip(" \n"))
    if isinstance(node, ScalarNode) or getattr(node, "flow_style", False):
        return int(node.end_mark.index)
    end = int(node.start_mark.index)
    children: list[Node] = []
    if isinstance(node, MappingNode):
        for key, value in node.value:
            children += [key, value]
    elif isinstance(node, SequenceNode):
        children = list(node.value)
    for child in children:
        end = max(end, _content_end(child, text))
    return end

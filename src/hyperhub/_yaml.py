"""YAML 1.2 reading (`on:` stays the string "on"), with line numbers kept for error messages;
and writing files people edit too (rules, accepted devices): comments kept, short
mappings and lists of plain values on one line (`styled`, `dump`)."""

from __future__ import annotations

import io
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

MAX_DEPTH = 100  # nesting levels a space or rule file may use (they need about ten)
_BLOCK_SCALAR = re.compile(r"(?:^|[\s:-])[|>][-+0-9]*\s*(?:#.*)?$")


def yaml_12(*, lines: bool = False) -> YAML:
    """A YAML 1.2 parser; with `lines`, mappings and sequences remember their line numbers.

    Without `lines` it uses ruamel's C extension where installed: about five times faster,
    which matters for spaces of thousands of devices.
    """
    yaml = YAML(typ="rt", pure=True) if lines else YAML(typ="safe", pure=False)
    yaml.version = (1, 2)
    return yaml


def too_big(node: Any, limit: int) -> bool:
    """Whether a document holds more than `limit` values once its aliases are followed
    (a few hundred bytes of nested aliases can stand for billions of values; an alias to
    its own ancestor, for infinitely many). Walks iteratively and stops at the limit."""
    count, todo = 0, [node]
    while todo:
        item = todo.pop()
        count += 1
        if count > limit:
            return True
        if isinstance(item, dict):
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return False


def to_plain(node: Any) -> Any:
    """Round-trip YAML nodes as plain dicts, lists and scalars."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


def package_data(package: str, name: str) -> Any:
    """A YAML 1.2 file shipped in `package` (word lists, vocabularies) as plain data."""
    from importlib import resources

    text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    return to_plain(yaml_12().load(text))


def too_deep(text: str, limit: int = MAX_DEPTH) -> tuple[int, str] | None:
    """(line, message) where `text` nests collections more than `limit` levels deep, else
    None. Called before parsing: ruamel's C parser recurses once per level and a 60 kB file
    of brackets overflows the C stack (a segfault no `except` can catch).

    An estimate from the text alone, erring high: block levels from indentation and leading
    `- `, flow levels from `[` and `{` outside quotes and comments, block scalars skipped."""
    indents: list[int] = []
    flow = 0
    scalar_indent: int | None = None  # inside a `|` / `>` block scalar started at this indent
    for number, line in enumerate(text.splitlines(), 1):
        body = line.lstrip(" ")
        indent = len(line) - len(body)
        if scalar_indent is not None:
            if not body.strip() or indent > scalar_indent:
                continue
            scalar_indent = None
        if flow == 0:
            if not body.strip() or body.startswith("#"):
                continue
            while indents and indents[-1] > indent:
                indents.pop()
            if not indents or indents[-1] < indent:
                indents.append(indent)
            dashes = 0
            while body.startswith(("- ", "? ")) or body in ("-", "?"):
                dashes += 1
                body = body[2:].lstrip(" ")
            if len(indents) + dashes > limit:
                return number, f"the file nests more than {limit} levels deep"
            block = len(indents) + dashes
        flow, deep = _flow_depth(body, flow, block, limit)
        if deep:
            return number, f"the file nests more than {limit} levels deep"
        if flow == 0 and _BLOCK_SCALAR.search(_without_comment(body)):
            scalar_indent = indent
    return None


def _flow_depth(text: str, flow: int, block: int, limit: int) -> tuple[int, bool]:
    """The flow depth after `text` (brackets outside quotes and comments), and whether
    block + flow depth went over `limit` on the way."""
    quote = ""
    start = True  # at the start of a token: a quote here opens a quoted scalar
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 2
                continue
            if ch == quote:
                if quote == "'" and i + 1 < n and text[i + 1] == "'":
                    i += 2
                    continue
                quote = ""
            i += 1
            continue
        if ch in "[{" and (start or flow):
            flow += 1
            if block + flow > limit:
                return flow, True
        elif ch in "]}" and flow:
            flow -= 1
        elif ch in "\"'" and start:
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] in " \t"):
            break
        if flow:
            start = ch in " \t[{,:"
        else:  # block context: a value starts after "key: ", "- " or "? "; the rest of a
            # plain scalar ("see [docs") is text
            start = ch in " \t" and (start or (i > 0 and text[i - 1] in ":-?"))
        i += 1
    return flow, False


def _without_comment(text: str) -> str:
    cut = text.find(" #")
    return text if cut < 0 else text[:cut]


def yaml_problem(exc: MarkedYAMLError, text: str) -> tuple[int, str]:
    """(line, message) of a YAML syntax error, for people: the line of the problem (or of
    its context), within the text, and the context's line when it is another one."""
    mark = exc.problem_mark or exc.context_mark
    last = max(1, len(text.splitlines()))
    line = min(mark.line + 1, last) if mark else 0
    message = f"YAML syntax error: {exc.problem}"
    if exc.context_mark is not None and exc.context_mark.line + 1 != line:
        message += f" ({exc.context} on line {exc.context_mark.line + 1})"
    return line, message


def styled(value: Any, *, inline: bool = False) -> Any:
    """ruamel nodes for dumping. A mapping under a key, holding only plain values or lists
    of them, goes on one line (`state: {device: car, …}`) if short; so do lists of plain
    values."""
    if isinstance(value, dict):
        out: Any = CommentedMap((k, styled(v, inline=True)) for k, v in value.items())
        flat = all(
            _plain(v) or (isinstance(v, list) and all(map(_plain, v))) for v in value.values()
        )
        if inline and flat and value and _flow_width(value) <= 80:
            out.fa.set_flow_style()
        return out
    if isinstance(value, list):
        out = CommentedSeq(styled(v) for v in value)
        if value and all(map(_plain, value)):
            out.fa.set_flow_style()
        return out
    return value


def _flow_width(mapping: dict[str, Any]) -> int:
    """About how wide `{k: v, …}` is."""

    def width(v: Any) -> int:
        return sum(width(x) + 2 for x in v) if isinstance(v, list) else len(str(v))

    return sum(len(str(k)) + 4 + width(v) for k, v in mapping.items())


def _plain(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _dumper() -> YAML:
    yaml = YAML(typ="rt")  # ruamel's default resolver is YAML 1.2; no %YAML directive
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # a long template stays on its line
    return yaml


def dump(data: Any) -> str:
    """YAML text of ruamel nodes (`styled`, or a document read with `yaml_12(lines=True)`,
    whose comments stay)."""
    out = io.StringIO()
    _dumper().dump(data, out)
    return out.getvalue()

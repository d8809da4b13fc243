"""YAML 1.2 reading (`on:` stays the string "on"), with line numbers kept for error messages."""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML


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

"""Where device types come from: the built-in spec files, plus any loaded at run time."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from hyperhub._yaml import yaml_12
from hyperhub.errors import SpecError
from hyperhub.spec.model import DeviceType


def parse_type(data: object, origin: str) -> DeviceType:
    """Build a `DeviceType` from a mapping, or raise `SpecError` naming `origin`."""
    if not isinstance(data, dict):
        raise SpecError(f"{origin}: a type spec must be a mapping")
    try:
        return DeviceType.model_validate({**data, "origin": origin})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise SpecError(f"{origin}: {loc}: {first['msg']}") from None


def load_type_file(path: Path) -> DeviceType:
    """Read one type spec file (YAML 1.2)."""
    try:
        data = yaml_12().load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror}") from None
    except Exception as exc:  # ruamel raises many kinds of parse errors
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    return parse_type(data, str(path))


class TypeRegistry:
    """Device types by name. Built-in types come first; more can be added (MIoT, files)."""

    def __init__(self, types: dict[str, DeviceType] | None = None) -> None:
        self._types: dict[str, DeviceType] = dict(types or {})

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[DeviceType]:
        return iter(self._types.values())

    def __len__(self) -> int:
        return len(self._types)

    def names(self) -> list[str]:
        return sorted(self._types)

    def get(self, name: str) -> DeviceType:
        try:
            return self._types[name]
        except KeyError:
            raise SpecError(
                f"unknown device type {name!r}; known types: {', '.join(self.names())}"
            ) from None

    def add(self, dtype: DeviceType, *, replace: bool = False) -> None:
        if dtype.type in self._types and not replace:
            raise SpecError(
                f"type {dtype.type!r} is already defined ({self._types[dtype.type].origin})"
            )
        self._types[dtype.type] = dtype

    def copy(self) -> TypeRegistry:
        return TypeRegistry(self._types)


@lru_cache(maxsize=1)
def _builtin() -> dict[str, DeviceType]:
    out: dict[str, DeviceType] = {}
    folder = resources.files("hyperhub.spec") / "types"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            dtype = load_type_file(Path(str(entry)))
            out[dtype.type] = dtype
    return out


def builtin_types() -> TypeRegistry:
    """A fresh registry holding every built-in type of the vocabulary."""
    return TypeRegistry(_builtin())

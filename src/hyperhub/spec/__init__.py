"""The capability model: device types, their properties, actions, events, as data."""

from hyperhub.spec.model import (
    ActionSpec,
    ArgSpec,
    DeviceType,
    Effect,
    EventSpec,
    Process,
    PropertySpec,
    RiskRule,
    ValueSpec,
)
from hyperhub.spec.registry import TypeRegistry, builtin_types, load_type_file, parse_type

__all__ = [
    "ActionSpec",
    "ArgSpec",
    "DeviceType",
    "Effect",
    "EventSpec",
    "Process",
    "PropertySpec",
    "RiskRule",
    "TypeRegistry",
    "ValueSpec",
    "builtin_types",
    "load_type_file",
    "parse_type",
]

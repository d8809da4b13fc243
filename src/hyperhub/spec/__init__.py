"""The capability model: device types, their properties, actions, events, as data."""

from hyperhub.spec.miot import (
    MiotActionLink,
    MiotCall,
    MiotEventLink,
    MiotMapping,
    MiotPropertyLink,
    MiotType,
    MiotWrite,
    load_miot_instance,
)
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
from hyperhub.spec.text import parse_text
from hyperhub.spec.vss import (
    car_property,
    state_to_vss,
    unknown_signals,
    vss_path,
    vss_table,
    vss_to_state,
)

__all__ = [
    "ActionSpec",
    "ArgSpec",
    "DeviceType",
    "Effect",
    "EventSpec",
    "MiotActionLink",
    "MiotCall",
    "MiotEventLink",
    "MiotMapping",
    "MiotPropertyLink",
    "MiotType",
    "MiotWrite",
    "Process",
    "PropertySpec",
    "RiskRule",
    "TypeRegistry",
    "ValueSpec",
    "builtin_types",
    "car_property",
    "load_miot_instance",
    "load_type_file",
    "parse_text",
    "parse_type",
    "state_to_vss",
    "unknown_signals",
    "vss_path",
    "vss_table",
    "vss_to_state",
]

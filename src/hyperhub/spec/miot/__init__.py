"""Xiaomi MIoT-Spec instances → HyperHub device types, with a two-way value mapping."""

from hyperhub.spec.miot.build import load_miot_instance
from hyperhub.spec.miot.codecs import Codec, EnumTable, Levels, Linear, Rgb, Same
from hyperhub.spec.miot.mapping import (
    MiotActionLink,
    MiotCall,
    MiotEventLink,
    MiotMapping,
    MiotPropertyLink,
    MiotType,
    MiotWrite,
)

__all__ = [
    "Codec",
    "EnumTable",
    "Levels",
    "Linear",
    "MiotActionLink",
    "MiotCall",
    "MiotEventLink",
    "MiotMapping",
    "MiotPropertyLink",
    "MiotType",
    "MiotWrite",
    "Rgb",
    "Same",
    "load_miot_instance",
]

"""Payloads on the fabric as pydantic models: parsed strictly, bounded in size.

A payload that fails here is malformed: the receiver drops it, logs one warning, counts it,
and goes on. Nothing malformed reaches the registry or the store.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hyperhub.errors import HyperHubError
from hyperhub.spec import DeviceType
from hyperhub.values import non_finite, non_finite_message

MAX_PAYLOAD = 256 * 1024  # bytes; a HyperHub message larger than this is refused
# what the embedded broker carries at most: a foreign system's large retained list (a
# Zigbee2MQTT network of ~900 devices) fits; adapters check their own messages' sizes
FOREIGN_PAYLOAD = 4 * 1024 * 1024
ONLINE, OFFLINE = "online", "offline"
EXPIRED = "CommandExpired"  # the error of an ack for a command that arrived after its deadline
CID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
CID = Field(min_length=1, max_length=64, pattern=CID_PATTERN)


class Malformed(HyperHubError):
    """A payload that is not what its topic promises."""


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # fields whose values are checked one by one downstream (a state's values against the
    # spec: a NaN reading is dropped and counted there, the rest of the state is kept)
    _checked_later: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _finite(self) -> _Msg:
        # pydantic reads NaN, Infinity and 1e400 as floats; no other field may carry one
        for name in type(self).model_fields:
            if name not in self._checked_later:
                found = non_finite(getattr(self, name), name)
                if found is not None:
                    raise ValueError(non_finite_message(found))
        return self


class StateMsg(_Msg):
    """Retained full state of one device, with the time it was taken (for last-writer-wins)."""

    ts: float = Field(ge=0)
    state: dict[str, Any]
    _checked_later: ClassVar[frozenset[str]] = frozenset({"state"})


class SetMsg(_Msg):
    cid: str = CID
    property: str = Field(min_length=1, max_length=64)
    value: Any = None
    ts: float | None = None  # when the command was issued (queued commands keep their time)
    expires: float | None = None  # UNIX time (wall clock) after which it must not run


class CallMsg(_Msg):
    cid: str = CID
    args: dict[str, Any] = Field(default_factory=dict)
    ts: float | None = None
    expires: float | None = None


class AckMsg(_Msg):
    cid: str = CID
    ok: bool
    error: str | None = None  # the error's class name, e.g. ValueNotAllowed, UnknownDevice
    message: str = ""
    changes: dict[str, Any] = Field(default_factory=dict)


class EventMsg(_Msg):
    ts: float = Field(ge=0)
    args: dict[str, Any] = Field(default_factory=dict)


class DiscoveryMsg(_Msg):
    """A device announcing itself: what it is, where, and which node hosts it."""

    device: str = Field(pattern=r"^[a-z0-9_]+$", max_length=128)
    type: str = Field(min_length=1, max_length=64)
    name: str = Field(max_length=200)
    node: str = Field(pattern=r"^[a-z0-9_]+$", max_length=64)
    area: str | None = None
    cls: str | None = Field(default=None, alias="class")
    aliases: list[str] = Field(default_factory=list)
    properties: list[str] = Field(default_factory=list)
    spec: dict[str, Any] | None = None  # the full type spec, for types the hub may not know
    # enum values this device leaves out of its type (an oil heater's mode: [heat]); the
    # hub narrows its own type with them (never widens it)
    values: dict[str, list[str]] = Field(default_factory=dict)
    version: str = ""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Availability = Literal["online", "offline"]


def parse(model: type[_Msg], payload: bytes | bytearray | str) -> Any:
    """Parse a payload as `model`, or raise `Malformed` saying what is wrong."""
    if len(payload) > MAX_PAYLOAD:
        raise Malformed(f"payload of {len(payload)} bytes is over the {MAX_PAYLOAD} byte limit")
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise Malformed(f"{model.__name__}: {where}: {first['msg']}") from None


def parse_availability(payload: bytes | bytearray | str) -> Availability:
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes | bytearray) else payload
    if text not in (ONLINE, OFFLINE):
        raise Malformed(f"availability must be 'online' or 'offline', got {text[:40]!r}")
    return text  # type: ignore[return-value]


def dump(msg: _Msg) -> bytes:
    return msg.model_dump_json(by_alias=True, exclude_none=True).encode()


def peek_cid(payload: bytes | bytearray | str) -> str | None:
    """The correlation id of an otherwise malformed command, if one can be read from it."""
    if len(payload) > MAX_PAYLOAD:
        return None
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    cid = data.get("cid") if isinstance(data, dict) else None
    return cid if isinstance(cid, str) and re.fullmatch(CID_PATTERN, cid) else None


def type_spec(dtype: DeviceType) -> dict[str, Any]:
    """A device type as JSON data for `DiscoveryMsg.spec` (`spec.parse_type` reads it back)."""
    return dtype.model_dump(mode="json", exclude={"origin"})

"""`ingest.read_state`, the hub's fast path for state payloads, against `StateMsg`: whatever it
takes, it gives exactly what `StateMsg` gives; anything else it leaves to `StateMsg`."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hyperhub.fabric.ingest import read_state
from hyperhub.fabric.messages import StateMsg

TAKEN = [
    b'{"ts":1,"state":{}}',
    b'{"state":{"on":true},"ts":1700000000.25}',
    b' {"ts":1E2,"state":{"n":null,"l":[1,2.5,"x",{"k":false}]}} ',
    b'{"ts":-0.0,"state":{"v":1.0000000000000002,"f":1e400,"a":NaN}}',
    b'{"ts":1,"ts":2,"state":{"a":1,"a":2}}',  # duplicate keys: the last one, as pydantic
    b'{"ts":100000000000000000000000,"state":{"big":-9223372036854775809}}',
    '{"ts":1,"state":{"é":"ü"}}'.encode(),
    '{"ts":1,"state":{"on":false}}',  # str payloads too
]
LAX = [  # StateMsg takes these (pydantic's lax mode), the fast path does not
    b'{"ts":"5","state":{}}',
    b'{"ts":true,"state":{}}',
]
MALFORMED = [
    b'{"ts":Infinity,"state":{}}',  # a time that never comes would freeze the device
    b'{"ts":1e400,"state":{}}',
    b'{"ts":NaN,"state":{}}',
    b'{"ts":-1,"state":{}}',
    b'{"ts":1,"state":[]}',
    b'{"ts":1,"state":{},"x":1}',
    b'{"state":{}}',
    b'{"ts":1,"state":{}} x',
    b'\xef\xbb\xbf{"ts":1,"state":{}}',
    b'{"ts":1,"state":{"a":"\xff"}}',
    b'{"ts":1,"state":{"s":"\\ud800"}}',
    b"[]",
    b"",
]


@pytest.mark.parametrize("payload", TAKEN)
def test_what_it_takes_is_what_state_msg_gives(payload: bytes | str) -> None:
    msg = StateMsg.model_validate_json(payload)
    got = read_state(payload)
    assert got is not None
    assert repr(got) == repr((msg.ts, msg.state))  # repr: nan == nan, and types
    assert type(got[0]) is float


@pytest.mark.parametrize("payload", LAX)
def test_what_only_state_msg_takes_is_left_to_it(payload: bytes) -> None:
    assert read_state(payload) is None
    StateMsg.model_validate_json(payload)  # the hub then takes it as before


@pytest.mark.parametrize("payload", MALFORMED)
def test_malformed_payloads_are_left_to_state_msg(payload: bytes) -> None:
    assert read_state(payload) is None
    with pytest.raises(ValidationError):
        StateMsg.model_validate_json(payload)  # the hub drops and counts it, as before

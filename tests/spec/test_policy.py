"""The command policy (spec/policy.py) and every path that asks it: one table of commands on
the demo space, each marked risky or not by hand, and each path — the policy itself, the
local hub, the fabric's hub side, the assistant's executor, the automation loader, the
API's device spec — must agree with the table. Who may say yes is the API's scope
`control:risky` (`api.security.may_confirm`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hyperhub.api.routes.devices import device_spec
from hyperhub.api.security import may_confirm
from hyperhub.assistant.execute import Executor
from hyperhub.assistant.plan import Step
from hyperhub.auth import Token
from hyperhub.automation.loader import parse_automations
from hyperhub.config import demo_space
from hyperhub.errors import NeedsConfirmation, SpecError, ValueNotAllowed
from hyperhub.fabric.commands import check_command as fabric_check
from hyperhub.fabric.messages import DiscoveryMsg
from hyperhub.fabric.registry import DeviceRecord
from hyperhub.fabric.topics import Topics
from hyperhub.local import LocalSpace
from hyperhub.space import Space, load_space
from hyperhub.spec import builtin_types
from hyperhub.spec.policy import Command, check, check_command, is_risky, may_be_risky
from hyperhub.store import StateStore

W = Command  # a write: W(device, property, value); an action: W(device, action=...)

# (command, risky?) — written by hand from docs/device-types.md, not read from the specs
TABLE: list[tuple[Command, bool]] = [
    # lock: unlocking is risky, locking is not
    (W("front_door_lock", "locked", False), True),
    (W("front_door_lock", "locked", True), False),
    (W("front_door_lock", action="unlock"), True),
    (W("front_door_lock", action="lock"), False),
    (W("back_door_lock", action="unlock"), True),
    # car: unlocking it and opening the trunk are risky
    (W("car", "locked", False), True),
    (W("car", "locked", True), False),
    (W("car", action="unlock"), True),
    (W("car", action="lock"), False),
    (W("car", "trunk_open", True), True),
    (W("car", "trunk_open", False), False),
    (W("car", action="honk"), False),
    # cover: opening is risky only for a garage door, a gate or a door
    (W("garage_door", action="open"), True),
    (W("garage_door", "position", 1), True),
    (W("garage_door", "position", 0), False),
    (W("garage_door", action="close"), False),
    (W("garden_gate", action="open"), True),
    (W("garden_gate", "position", 50), True),
    (W("living_room_curtain", action="open"), False),
    (W("living_room_curtain", "position", 100), False),
    (W("dining_window", action="open"), False),
    (W("bedroom_blind", "position", 100), False),
    # nothing else is risky
    (W("living_room_light", "on", True), False),
    (W("living_room_ac", "target_temp", 30), False),
    (W("robot_vacuum", action="start"), False),
]
IDS = [f"{c.device}.{c.action or f'{c.property}={c.value}'}" for c, _ in TABLE]


@pytest.fixture(scope="module")
def demo() -> Space:
    return load_space(demo_space())


def test_the_table_covers_every_risky_rule_of_the_built_in_types(demo: Space) -> None:
    """A new risky property or action must get rows here (and its words in spec/words)."""
    types = {d.type for c, _ in TABLE for d in [demo.devices[c.device]]}
    covered = {(demo.devices[c.device].type, c.action or c.property) for c, risky in TABLE if risky}
    rules = set()
    for dtype in builtin_types():
        rules |= {(dtype.type, n) for n, p in dtype.properties.items() if p.risky is not None}
        rules |= {(dtype.type, n) for n, a in dtype.actions.items() if a.risky is not None}
    assert rules <= covered, f"risky rules without a row: {sorted(rules - covered)}"
    assert {"lock", "car", "cover", "light"} <= types


@pytest.mark.parametrize(("cmd", "risky"), TABLE, ids=IDS)
def test_the_policy_says_what_the_table_says(demo: Space, cmd: Command, risky: bool) -> None:
    device = demo.devices[cmd.device]
    assert is_risky(device.dtype, device.cls, cmd) is risky
    assert device.is_risky(cmd) is risky
    if risky:
        with pytest.raises(
            NeedsConfirmation, match=rf"\({cmd.device}\.{cmd.action or cmd.property}\)"
        ):
            check_command(device.target, cmd, confirm=False)
    assert check_command(device.target, cmd, confirm=risky) == check(device.target, cmd)


@pytest.mark.parametrize(("cmd", "risky"), TABLE, ids=IDS)
def test_the_local_hub_asks_for_a_yes_exactly_then(
    demo: Space, tmp_path: Path, cmd: Command, risky: bool
) -> None:
    with StateStore.open(data_dir=tmp_path) as store:
        hub = LocalSpace(demo, store)

        def send(confirm: bool) -> dict[str, Any]:
            if cmd.action is not None:
                return hub.call(cmd.device, cmd.action, cmd.args, actor="t", confirm=confirm)
            return hub.set(cmd.device, cmd.property or "", cmd.value, actor="t", confirm=confirm)

        if risky:
            with pytest.raises(NeedsConfirmation):
                send(False)
            assert store.audit_log()[0].code == "needs_confirmation"
        send(risky)  # with the yes it needs (none for the others): it goes through
        assert store.audit_log()[0].result == "ok"


@pytest.mark.parametrize(("cmd", "risky"), TABLE, ids=IDS)
def test_the_fabric_checks_the_same_way(demo: Space, cmd: Command, risky: bool) -> None:
    device = demo.devices[cmd.device]
    info = DiscoveryMsg(
        device=device.id,
        type=device.type,
        name=device.name,
        node="n1",
        cls=device.cls,
        aliases=list(device.aliases),
        properties=list(device.properties),
    )
    record = DeviceRecord(info, device.dtype, frozenset(device.properties))
    topics = Topics("demo")
    if risky:
        with pytest.raises(NeedsConfirmation):
            fabric_check(topics, record, cmd, confirm=False)
    checked = fabric_check(topics, record, cmd, confirm=risky)
    wanted = topics.call(cmd.device, cmd.action) if cmd.action else topics.set(cmd.device)
    assert checked.topic == wanted


@pytest.mark.parametrize(("cmd", "risky"), TABLE, ids=IDS)
def test_the_assistant_and_the_api_flag_the_same_commands(
    demo: Space, cmd: Command, risky: bool
) -> None:
    step = Step(cmd.device, property=cmd.property, value=cmd.value, action=cmd.action)
    assert Executor(demo).is_risky(step) is risky
    spec = device_spec(demo.devices[cmd.device])
    if cmd.action is not None:
        assert spec["actions"][cmd.action]["risky"] is risky
    elif risky:  # a property that may be risky is marked, whatever value is written
        assert spec["properties"][cmd.property]["risky"] is True


@pytest.mark.parametrize(("cmd", "risky"), TABLE, ids=IDS)
def test_a_rule_doing_it_is_risky_exactly_then(demo: Space, cmd: Command, risky: bool) -> None:
    if cmd.action is not None:
        action = f"call: {{device: {cmd.device}, action: {cmd.action}}}"
    else:
        value = str(cmd.value).lower()
        action = f"set: {{device: {cmd.device}, property: {cmd.property}, value: {value}}}"
    text = (
        "rules:\n  - id: r\n    triggers:\n      - time: {at: '07:00'}\n"
        f"    actions:\n      - {action}\n"
    )
    book = parse_automations(text, "t.yaml", demo)
    assert bool(book.risky) is risky, book.risky


def test_a_computed_value_counts_as_risky_where_some_value_is(demo: Space) -> None:
    garage, curtain = demo.devices["garage_door"], demo.devices["living_room_curtain"]
    assert may_be_risky(garage.dtype, garage.cls, "position")
    assert not may_be_risky(curtain.dtype, curtain.cls, "position")  # a curtain: never
    assert not may_be_risky(garage.dtype, garage.cls, "no_such_property")


def test_a_bad_command_is_refused_before_its_risk_is_weighed(demo: Space) -> None:
    lock = demo.devices["front_door_lock"].target
    with pytest.raises(ValueNotAllowed):
        check_command(lock, Command("front_door_lock", "locked", "open"), confirm=True)
    with pytest.raises(SpecError, match="no action 'explode'"):
        check_command(lock, Command("front_door_lock", action="explode"), confirm=True)


@pytest.mark.parametrize(
    ("scopes", "may"),
    [
        ({"control", "control:risky"}, True),
        ({"control"}, False),
        ({"read", "admin"}, False),  # scopes do not imply each other
    ],
)
def test_only_the_risky_scope_may_say_yes(scopes: set[str], may: bool) -> None:
    token = Token("t1", "phone", frozenset(scopes), None, 0.0, None, None, None)
    assert may_confirm(token) is may

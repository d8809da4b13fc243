"""The Wyoming handle program (`voice.handle.HandleService`) on the demo space, simulated:
a sentence acts and says so, one not understood or waiting for a yes is `not-handled`, a
risky plan never runs on a spoken yes unless the server allows it, rules are not saved by
voice, the satellite's room scopes "the lights", and conversations are kept per id, a
bounded number of them. Text only: no speech model runs here."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hyperhub.assistant.pipeline import Assistant
from hyperhub.clock import ManualClock
from hyperhub.config import demo_space
from hyperhub.devices.sim import Simulator
from hyperhub.errors import HyperHubError
from hyperhub.space import load_space
from hyperhub.voice.handle import HandleService, Reply

SPACE = load_space(demo_space())


def service(**options: Any) -> tuple[HandleService, Simulator]:
    devices = Simulator(SPACE, ManualClock())
    return HandleService(Assistant(SPACE), devices, on_hub=False, **options), devices


def said(handler: HandleService, *sentences: str, **context: Any) -> list[Reply]:
    """Each sentence's reply, in one conversation (context: `area`, …)."""

    async def run() -> list[Reply]:
        return [
            await handler.handle(text, {"conversation_id": "c1", **context}) for text in sentences
        ]

    return asyncio.run(run())


def test_a_command_changes_the_device_and_is_handled() -> None:
    handler, devices = service()
    assert devices.state("kitchen_light")["on"] is True
    [reply] = said(handler, "turn off the kitchen light")
    assert reply.handled and "Kitchen Light off" in reply.text
    assert reply.context == {"conversation_id": "c1"}
    assert devices.state("kitchen_light")["on"] is False


def test_a_question_is_handled_and_changes_nothing() -> None:
    handler, devices = service()
    before = devices.states()
    [reply] = said(handler, "is the car locked?")
    assert reply.handled and reply.text.startswith("Yes")
    assert devices.states() == before


@pytest.mark.parametrize(
    "sentence", ["blah blah fish", "", "turn on the toaster in the attic", "把厨房的灯打开打开星星"]
)
def test_what_is_not_understood_is_not_handled(sentence: str) -> None:
    handler, devices = service()
    before = devices.states()
    [reply] = said(handler, sentence)
    assert not reply.handled and reply.text
    assert devices.states() == before


def test_chinese_is_answered_in_chinese() -> None:
    handler, devices = service()
    [reply] = said(handler, "关闭厨房的灯")
    assert reply.handled and "厨房" in reply.text
    assert devices.state("kitchen_light")["on"] is False


def test_a_risky_command_does_not_run_and_a_spoken_yes_does_not_confirm_it() -> None:
    handler, devices = service()
    unlock, yes = said(handler, "unlock the front door", "yes")
    assert not unlock.handled
    assert "unlock Front Door Lock" in unlock.text and "yes" in unlock.text
    assert "Say yes to confirm" not in unlock.text  # the voice service does not take one
    assert not yes.handled
    assert devices.state("front_door_lock")["locked"] is True
    [garage] = said(handler, "打开车库门")
    assert not garage.handled and "车库门" in garage.text
    assert devices.state("garage_door")["position"] == 0


def test_a_yes_to_a_risky_plan_chosen_by_a_clarification_is_refused_too() -> None:
    handler, devices = service()
    which, chosen, yes = said(handler, "unlock the door", "the front door", "yes")
    assert not which.handled and "Which door" in which.text
    assert not chosen.handled and not yes.handled
    assert devices.state("front_door_lock")["locked"] is True


def test_with_allow_risky_a_yes_in_the_same_conversation_runs_it() -> None:
    handler, devices = service(allow_risky=True)
    [unlock] = said(handler, "unlock the front door")
    assert not unlock.handled and "Say yes to confirm" in unlock.text
    assert devices.state("front_door_lock")["locked"] is True
    [yes] = said(handler, "yes")
    assert yes.handled and "unlocked" in yes.text.lower()
    assert devices.state("front_door_lock")["locked"] is False


def test_a_yes_in_another_conversation_confirms_nothing() -> None:
    handler, devices = service(allow_risky=True)

    async def run() -> list[Reply]:
        first = await handler.handle("unlock the front door", {"conversation_id": "a"})
        other = await handler.handle("yes", {"conversation_id": "b"})
        fresh = await handler.handle("yes", {})  # no id: a conversation of its own
        return [first, other, fresh]

    _, other, fresh = asyncio.run(run())
    assert not other.handled and not fresh.handled
    assert fresh.context["conversation_id"] not in ("a", "b")
    assert devices.state("front_door_lock")["locked"] is True


def test_rules_are_not_saved_by_voice() -> None:
    handler, _ = service(allow_risky=True)
    rule, yes = said(handler, "when I leave home lock the door", "yes")
    assert not rule.handled and "rules" in rule.text and "Say yes" not in rule.text
    assert not yes.handled


def test_the_satellites_room_scopes_the_lights() -> None:
    handler, devices = service()
    initial = Simulator(SPACE, ManualClock())
    [reply] = said(handler, "turn off the lights", area="Kitchen")  # a name, not only an id
    assert reply.handled
    changed = {d for d in SPACE.devices if devices.state(d) != initial.state(d)}
    assert changed == {"kitchen_light"}


def test_the_servers_room_is_the_default_and_an_unknown_room_is_refused() -> None:
    handler, devices = service(area="kitchen")
    [reply] = said(handler, "turn off the light")
    assert reply.handled and devices.state("kitchen_light")["on"] is False
    [unknown] = said(handler, "turn on the light", area="attic")
    assert not unknown.handled and "attic" in unknown.text
    assert devices.state("kitchen_light")["on"] is False
    with pytest.raises(HyperHubError, match="no area 'attic'"):
        service(area="attic")


def test_a_follow_up_uses_the_conversation() -> None:
    handler, devices = service()
    said(handler, "turn on the kitchen light", "turn it off")
    assert devices.state("kitchen_light")["on"] is False


def test_conversations_are_bounded_and_the_oldest_is_forgotten() -> None:
    now = [0.0]
    handler, devices = service(max_conversations=2, forget_after_s=60, clock=lambda: now[0])

    async def run(*turns: tuple[str, str]) -> list[Reply]:
        return [await handler.handle(text, {"conversation_id": cid}) for cid, text in turns]

    asyncio.run(run(("a", "turn on the kitchen light"), ("b", "is the car locked?")))
    asyncio.run(run(("c", "is the car locked?")))  # a is the oldest of three: forgotten
    [follow_up] = asyncio.run(run(("a", "turn it off")))
    assert not follow_up.handled and devices.state("kitchen_light")["on"] is True
    asyncio.run(run(("d", "turn on the kitchen light")))
    now[0] = 61.0  # d unused for longer than forget_after_s
    [late] = asyncio.run(run(("d", "turn it off")))
    assert not late.handled and devices.state("kitchen_light")["on"] is True

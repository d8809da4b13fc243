"""Rules by voice through `POST /api/ask`: a rule request is proposed (nothing changes), a
"yes" in the same conversation saves it into the hub's automations folder (`assistant.yaml`)
and starts it on the running engine — it shows in `GET /api/rules` and fires when its
trigger happens; saving needs `control`, and `control:risky` for a rule with risky actions.

The hub here runs a copy of the demo space and its automations in a temporary folder (the
demo inside the package is never written to)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.helpers.api_hub import Hub, copy_demo_space, error_of, start_hub
from tests.helpers.wait import wait_until

from hyperhub.automation import load_automations, parse_automations
from hyperhub.space import load_space

AWAY = {"lat": 31.2268, "lon": 121.5452}  # Century Park, ~4.8 km from home
HOME = {"lat": 31.2036, "lon": 121.5875}


@pytest.fixture(scope="module")
def space_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_demo_space(tmp_path_factory.mktemp("space"))


@pytest.fixture(scope="module")
def rules_hub(space_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    space = load_space(space_dir / "space.yaml")
    running = start_hub(
        tmp_path_factory.mktemp("rules-hub"), space, automations=load_automations(space)
    )
    try:
        yield running
    finally:
        running.auth.close()
        running._stop()


@pytest.fixture
def owner(rules_hub: Hub) -> Iterator[httpx.Client]:
    token = rules_hub.token("read", "control", "control:risky", name="rules-owner")
    with rules_hub.client(token) as client:
        yield client


def saved_ids(space_dir: Path) -> list[str]:
    path = space_dir / "automations" / "assistant.yaml"
    if not path.exists():
        return []
    space = load_space(space_dir / "space.yaml")
    return list(load_automations(space, path).rules)


def test_a_rule_request_is_proposed_then_saved_and_runs_on_the_live_hub(
    rules_hub: Hub, owner: httpx.Client, space_dir: Path
) -> None:
    owner.post(
        "/api/devices/front_door_lock/set",
        json={"property": "locked", "value": False, "confirm": True},
    )
    assert owner.get("/api/devices/front_door_lock").json()["state"]["locked"] is False
    asked = owner.post("/api/ask", json={"text": "when I leave home, lock the door"}).json()
    assert asked["needs_confirmation"] is True and asked["changes"] == {}
    assert asked["actions"] == []
    assert asked["reply"].startswith("Create a rule: when Chen Wei's Phone leaves home, lock")
    rule = asked["rule"]
    assert rule["id"] == "when_phone_chen_wei_leaves_home_lock"
    assert rule["triggers"] == [{"geofence": {"device": "phone_chen_wei", "event": "leave"}}]
    # nothing is saved, and nothing changed, until the yes
    assert saved_ids(space_dir) == []
    assert owner.get("/api/devices/front_door_lock").json()["state"]["locked"] is False

    done = owner.post(
        "/api/ask", json={"text": "yes", "conversation": asked["conversation"]}
    ).json()
    assert done["reply"] == (
        "Saved the rule when_phone_chen_wei_leaves_home_lock in assistant.yaml; "
        "it runs from now on."
    )
    assert done["changes"] == {} and done["needs_confirmation"] is False
    assert done["rule"]["id"] == rule["id"]
    assert saved_ids(space_dir) == [rule["id"]]
    listed = {r["id"]: r for r in owner.get("/api/rules").json()}
    assert listed[rule["id"]]["enabled"] is True
    assert listed[rule["id"]]["source"].startswith("assistant.yaml:")
    assert listed[rule["id"]]["triggers"] == ["Chen Wei's Phone leaves Home (within 200 m)"]

    # the phone leaves home: the rule runs on the hub and locks the door
    rules_hub.call(
        lambda: rules_hub.status.node.backend.report("phone_chen_wei", {"location": AWAY})
    )
    wait_until(
        lambda: owner.get("/api/devices/front_door_lock").json()["state"]["locked"],
        "the rule to lock the front door",
    )
    runs = wait_until(
        lambda: owner.get(f"/api/rules/{rule['id']}/runs").json(), "the rule's run to be stored"
    )
    assert runs[0]["result"] == "ok"
    rules_hub.call(
        lambda: rules_hub.status.node.backend.report("phone_chen_wei", {"location": HOME})
    )

    # the same request again gets a new id; a no drops it
    again = owner.post("/api/ask", json={"text": "我离开家时锁门"}).json()
    assert again["rule"]["id"] == "when_phone_chen_wei_leaves_home_lock_2"
    assert again["reply"].startswith("创建规则：我的手机离开家时，锁上")
    no = owner.post("/api/ask", json={"text": "不要", "conversation": again["conversation"]})
    assert no.json()["reply"] == "好的，已取消。"
    assert saved_ids(space_dir) == [rule["id"]]


def test_saving_needs_control_and_a_risky_rule_needs_control_risky(
    rules_hub: Hub, space_dir: Path
) -> None:
    with rules_hub.client(rules_hub.token("read", name="rules-reader")) as reader:
        error_of(
            reader.post("/api/ask", json={"text": "when I get home turn on the hallway light"}),
            403,
            "missing_scope",
        )
    with rules_hub.client(rules_hub.token("read", "control", name="rules-plain")) as plain:
        asked = plain.post(
            "/api/ask", json={"text": "when the car arrives home open the garage door"}
        ).json()
        assert asked["needs_confirmation"] is True
        assert "It will open Garage Door without asking each time." in asked["reply"]
        yes = {"text": "yes", "conversation": asked["conversation"]}
        message = error_of(plain.post("/api/ask", json=yes), 403, "missing_scope")
        assert "'control:risky'" in message and "garage_door.open" in message
        assert asked["rule"]["id"] not in saved_ids(space_dir)
        # a rule without risky actions only needs control
        asked = plain.post(
            "/api/ask", json={"text": "at 7:30 on workdays turn on the bedroom light"}
        ).json()
        done = plain.post(
            "/api/ask", json={"text": "yes", "conversation": asked["conversation"]}
        ).json()
        assert done["reply"].startswith("Saved the rule at_0730_workdays_turn_on")
        assert "at_0730_workdays_turn_on" in saved_ids(space_dir)
        listed = {r["id"] for r in plain.get("/api/rules").json()}
        assert "at_0730_workdays_turn_on" in listed
    # what was saved loads with the rest of the folder
    space = load_space(space_dir / "space.yaml")
    text = (space_dir / "automations" / "assistant.yaml").read_text(encoding="utf-8")
    assert set(parse_automations(text, "assistant.yaml", space).rules) == set(saved_ids(space_dir))


def test_a_hub_without_automations_says_so_before_asking(hub: Hub, controller) -> None:
    """It used to ask "Say yes to save it" and then refuse the yes."""
    asked = controller.post(
        "/api/ask", json={"text": "when I get home turn on the hallway light"}
    ).json()
    assert asked["reply"].startswith("I can't save the rule: this hub runs no automations")
    assert asked["needs_confirmation"] is False and asked["rule"] is None
    done = controller.post(
        "/api/ask", json={"text": "yes", "conversation": asked["conversation"]}
    ).json()
    assert done["reply"].startswith("There's nothing waiting") and done["changes"] == {}

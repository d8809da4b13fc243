"""Rules and scenes over REST and the WebSocket, on a real hub running a small book of
automations: listing (in sentences, in the language the request asks for), one rule, runs,
enable / disable / run, scopes, scenes by id and by Chinese alias with a failed item, and the
`rule_run` message."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from tests.helpers.api_hub import Hub, error_of, start_hub
from websockets.sync.client import ClientConnection, connect

from hyperhub.automation import parse_automations
from hyperhub.config import demo_space
from hyperhub.space import load_space

# Nothing in this hub turns the study desk lamp on, and the car only drives home, so no
# rule here fires by itself.
YAML = """\
scenes:
  - id: coming_home
    name: Coming home
    aliases: [回家模式, welcome]
    states:
      kitchen_light: {on: true, brightness: 40}
    actions:
      - set: {device: bedside_lamp, property: brightness, value: "{{ 100 + 50 }}"}
  - id: open_up
    name: Open up
    states:
      garage_door: {position: 100}

rules:
  - id: evening_lights
    name: Evening lights
    description: The dining light when the car drives off
    triggers:
      - geofence: {device: car, place: home, event: leave, radius_km: 2}
    conditions:
      - state: {device: study_desk_lamp, property: on, is: true}
    actions:
      - set: {device: dining_pendant, property: on, value: true}
      - set: {device: dining_pendant, property: brightness, value: 60}

  - id: let_guests_in
    mode: queue
    triggers:
      - state: {device: study_desk_lamp, property: on, to: true, for: 5m}
    actions:
      - call: {device: back_door_lock, action: unlock}
"""
RULE_FIELDS = {
    "id",
    "name",
    "description",
    "enabled",
    "stopped",
    "mode",
    "running",
    "runs",
    "last_run",
    "triggers",
    "conditions",
    "actions",
    "risky",
    "source",
    "definition",
}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}


@pytest.fixture(scope="module")
def auto_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    space = load_space(demo_space())
    book = parse_automations(YAML, "t.yaml", space)
    running = start_hub(tmp_path_factory.mktemp("auto-hub"), space, automations=book)
    try:
        yield running
    finally:
        running.auth.close()
        running._stop()


@pytest.fixture
def read(auto_hub: Hub) -> Iterator[httpx.Client]:
    with auto_hub.client(auto_hub.token("read", name="auto-reader")) as client:
        yield client


@pytest.fixture
def control(auto_hub: Hub) -> Iterator[httpx.Client]:
    with auto_hub.client(auto_hub.token("read", "control", name="auto-controller")) as client:
        yield client


@pytest.fixture
def risky(auto_hub: Hub) -> Iterator[httpx.Client]:
    token = auto_hub.token("read", "control", "control:risky", name="auto-owner")
    with auto_hub.client(token) as client:
        yield client


def wait_for(
    ws: ClientConnection, match: Callable[[dict[str, Any]], bool], timeout: float = 10.0
) -> dict[str, Any]:
    """The first message that matches (a frame is one message or an array of them)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no matching message within {timeout} s"
        data = json.loads(ws.recv(timeout=left))
        for message in data if isinstance(data, list) else [data]:
            if match(message):
                return message


def manual_runs(client: httpx.Client, rule: str, count: int) -> list[dict[str, Any]]:
    """The rule's stored manual runs, once there are `count` (bounded wait)."""
    deadline = time.monotonic() + 15
    while True:
        answer = client.get(f"/api/rules/{rule}/runs")
        assert answer.status_code == 200, answer.text
        runs = [r for r in answer.json() if r["trigger"].get("kind") == "manual"]
        if len(runs) >= count:
            return runs
        assert time.monotonic() < deadline, f"only {len(runs)} manual runs of {rule}: {runs}"
        time.sleep(0.1)


def test_rules_are_listed_with_their_status_and_lines(read):
    rules = read.get("/api/rules").json()
    assert [r["id"] for r in rules] == ["evening_lights", "let_guests_in"]
    evening, guests = rules
    assert set(evening) == RULE_FIELDS
    assert evening["name"] == "Evening lights"
    assert evening["description"] == "The dining light when the car drives off"
    assert evening["enabled"] is True and evening["stopped"] is None
    assert evening["mode"] == "single" and evening["risky"] is False
    assert evening["triggers"] == ["SU7 leaves Home (within 2 km)"]
    assert evening["conditions"] == ["Desk Lamp is on"]
    assert evening["actions"] == [
        "Turn on Dining Pendant",
        "Dining Pendant: set brightness to 60 %",
    ]
    assert evening["source"] == "t.yaml:15"
    assert guests["name"] == "Let guests in"  # from the id
    assert guests["mode"] == "queue" and guests["risky"] is True
    assert guests["triggers"] == ["Desk Lamp turns on for 5 min"]
    assert guests["conditions"] == [] and guests["actions"] == ["Back Door Lock: unlock"]
    assert read.get("/api/rules/let_guests_in").json()["triggers"] == guests["triggers"]


def test_rules_are_in_the_language_the_request_asks_for(read):
    answer = read.get("/api/rules/evening_lights", headers=ZH)
    assert answer.headers["content-language"] == "zh"
    assert "Accept-Language" in answer.headers["vary"]
    rule = answer.json()
    assert rule["triggers"] == ["车离开家（2 公里内）"]
    assert rule["conditions"] == ["台灯开着"]
    assert rule["actions"] == ["打开餐厅灯", "把餐厅灯的亮度设为 60 %"]
    assert rule["name"] == "Evening lights"  # the file's own words stay as written
    english = read.get("/api/rules/evening_lights", headers={"Accept-Language": "en-GB"})
    assert english.headers["content-language"] == "en"
    assert english.json()["conditions"] == ["Desk Lamp is on"]
    assert read.get("/api/rules/evening_lights").json()["conditions"] == ["Desk Lamp is on"]


def test_a_rule_keeps_its_definition_for_developers(read):
    rule = read.get("/api/rules/let_guests_in").json()
    assert rule["definition"] == {
        "id": "let_guests_in",
        "mode": "queue",
        "triggers": [
            {"state": {"device": "study_desk_lamp", "property": "on", "to": True, "for": 300.0}}
        ],
        "actions": [{"call": {"device": "back_door_lock", "action": "unlock"}}],
    }


def test_an_unknown_rule_or_scene_is_a_404_with_a_suggestion(read, control):
    message = error_of(read.get("/api/rules/evening_light"), 404, "unknown_rule")
    assert "did you mean 'evening_lights'" in message
    error_of(read.get("/api/rules/nope/runs"), 404, "unknown_rule")
    error_of(control.post("/api/rules/nope/run"), 404, "unknown_rule")
    message = error_of(control.post("/api/scenes/coming_hom/apply"), 404, "unknown_scene")
    assert "coming_home" in message
    error_of(read.get("/api/rules/evening_lights/runs?limit=0"), 422, "invalid")


def test_a_manual_run_is_traced_and_listed(auto_hub: Hub, control):
    before = control.get("/api/rules/evening_lights").json()["runs"]
    answer = control.post("/api/rules/evening_lights/run")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "started": True,
        "rule": "evening_lights",
        "result": "running",
        "message": "",
    }
    run = manual_runs(control, "evening_lights", 1)[0]
    assert set(run) == {"id", "started", "finished", "result", "message", "trigger", "steps"}
    assert run["result"] == "ok", run
    assert run["trigger"]["by"] == "api:auto-controller"
    assert [(s["kind"], s["what"], s["ok"]) for s in run["steps"]] == [
        ("action", "Turn on Dining Pendant", True),  # in words, by name
        ("action", "Dining Pendant: set brightness to 60 %", True),
    ]  # the conditions were skipped
    assert run["steps"][1]["command"] == {"property": "brightness", "value": 60}
    zh = control.get(
        "/api/rules/evening_lights/runs", params={"limit": 1}, headers={"Accept-Language": "zh"}
    ).json()[0]
    assert [s["what"] for s in zh["steps"]][-1] == "把餐厅灯的亮度设为 60 %"
    rule = control.get("/api/rules/evening_lights").json()
    assert rule["runs"] == before + 1
    assert rule["last_run"]["result"] == "ok"
    assert rule["last_run"]["trigger"] == "Run now by auto-controller"  # the token's name
    assert zh["trigger"]["description"] == "由 auto-controller 手动运行"
    assert rule["last_run"]["finished"] >= rule["last_run"]["started"]

    # asked to, the run checks the conditions: the desk lamp is off
    answer = control.post("/api/rules/evening_lights/run", json={"check_conditions": True})
    assert answer.json()["started"] is True
    newest = manual_runs(control, "evening_lights", 2)[0]
    assert newest["result"] == "conditions_false"
    assert newest["steps"] == [
        {
            **newest["steps"][0],
            "kind": "condition",
            "ok": False,
            "what": "Desk Lamp is on",  # the rule's condition, as the rule says it
            "condition": 0,
        }
    ]
    error_of(control.post("/api/rules/evening_lights/run", json={"check": True}), 422, "invalid")


def test_disable_and_enable_a_rule(control, read):
    off = control.post("/api/rules/evening_lights/disable")
    assert off.status_code == 200, off.text
    assert off.json()["enabled"] is False
    assert read.get("/api/rules/evening_lights").json()["enabled"] is False
    message = error_of(control.post("/api/rules/evening_lights/run"), 409, "rule_disabled")
    assert "evening_lights" in message and "disabled" in message
    on = control.post("/api/rules/evening_lights/enable").json()
    assert on["enabled"] is True and on["stopped"] is None


def test_scopes_read_cannot_run_and_risky_needs_control_risky(auto_hub: Hub, read, control, risky):
    for path in (
        "/api/rules/evening_lights/run",
        "/api/rules/evening_lights/disable",
        "/api/scenes/coming_home/apply",
    ):
        assert "'control'" in error_of(read.post(path), 403, "missing_scope")
    message = error_of(control.post("/api/rules/let_guests_in/run"), 403, "missing_scope")
    assert "control:risky" in message and "back_door_lock.unlock" in message
    message = error_of(control.post("/api/scenes/open_up/apply"), 403, "missing_scope")
    assert "control:risky" in message and "garage_door.position=100" in message

    answer = risky.post("/api/rules/let_guests_in/run")
    assert answer.status_code == 200 and answer.json()["started"] is True
    assert manual_runs(risky, "let_guests_in", 1)[0]["result"] == "ok"
    report = risky.post("/api/scenes/open_up/apply").json()
    assert report == {
        "scene": "open_up",
        "ok": True,
        "items": [
            {
                "device": "garage_door",
                "what": "Garage Door: set position to 100 %",
                "ok": True,
                "message": "",
            }
        ],
    }


def test_scenes_are_listed(read):
    scenes = read.get("/api/scenes").json()
    assert scenes == [
        {
            "id": "coming_home",
            "name": "Coming home",
            "aliases": ["回家模式", "welcome"],
            "states": {"kitchen_light": {"on": True, "brightness": 40}},
            "sets": ["Kitchen Light: on, brightness 40 %"],
            # a template is never shown in a sentence: it stays in the definition
            "actions": ["Bedside Lamp: set brightness to a computed value"],
            "risky": False,
            "source": "t.yaml:2",
            "definition": {
                "id": "coming_home",
                "name": "Coming home",
                "aliases": ["回家模式", "welcome"],
                "states": {"kitchen_light": {"on": True, "brightness": 40}},
                "actions": [
                    {
                        "set": {
                            "device": "bedside_lamp",
                            "property": "brightness",
                            "value": "{{ 100 + 50 }}",
                        }
                    }
                ],
            },
        },
        {
            "id": "open_up",
            "name": "Open up",
            "aliases": [],
            "states": {"garage_door": {"position": 100}},
            "sets": ["Garage Door: position 100 %"],
            "actions": [],
            "risky": True,
            "source": "t.yaml:9",
            "definition": {
                "id": "open_up",
                "name": "Open up",
                "states": {"garage_door": {"position": 100}},
            },
        },
    ]


def test_scenes_are_in_the_language_the_request_asks_for(read):
    coming_home, open_up = read.get("/api/scenes", headers=ZH).json()
    assert coming_home["sets"] == ["厨房灯：开，亮度 40 %"]
    assert coming_home["actions"] == ["把床头灯的亮度设为计算出的值"]
    assert open_up["sets"] == ["车库门：开合度 100 %"]


@pytest.mark.parametrize("scene", ["coming_home", "回家模式", "Coming home"])
def test_a_scene_applies_by_id_name_or_chinese_alias_and_reports_failures(
    auto_hub: Hub, control, scene
):
    answer = control.post(f"/api/scenes/{quote(scene)}/apply")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["scene"] == "coming_home" and report["ok"] is False
    items = {i["what"]: i for i in report["items"]}  # each command in words, with names
    assert set(items) == {
        "Turn on Kitchen Light",
        "Kitchen Light: set brightness to 40 %",
        "Bedside Lamp: set brightness to 150 %",
    }
    assert items["Turn on Kitchen Light"]["ok"] is True
    assert items["Kitchen Light: set brightness to 40 %"]["ok"] is True
    failed = items["Bedside Lamp: set brightness to 150 %"]
    assert failed["ok"] is False and failed["device"] == "bedside_lamp"
    assert "150" in failed["message"]
    zh = control.post(f"/api/scenes/{quote(scene)}/apply", headers={"Accept-Language": "zh-CN"})
    said = {i["what"]: i["message"] for i in zh.json()["items"]}
    assert said["把床头灯的亮度设为 150 %"] == f"这个值不允许（{failed['message']}）"
    state = control.get("/api/devices/kitchen_light").json()["state"]
    assert state["on"] is True and state["brightness"] == 40


def test_a_finished_run_is_pushed_on_the_websocket(auto_hub: Hub, control):
    url = f"{auto_hub.ws_url}?token={auto_hub.token('read')}"
    with connect(url, open_timeout=10, close_timeout=5) as ws:
        wait_for(ws, lambda m: m["type"] == "hello")
        ws.send('{"subscribe": {"devices": ["car"]}}')  # a run goes to every client anyway
        wait_for(ws, lambda m: m["type"] == "subscribed")
        assert control.post("/api/rules/evening_lights/run").status_code == 200
        message = wait_for(ws, lambda m: m["type"] == "rule_run" and m["rule"] == "evening_lights")
    assert set(message) == {
        "type",
        "rule",
        "result",
        "message",
        "started",
        "finished",
        "trigger",
    }
    assert message["result"] == "ok" and message["message"] == ""
    assert message["trigger"] == "run by api:auto-controller"
    assert message["finished"] >= message["started"]


def test_a_hub_without_automations_has_no_rules_or_scenes(reader, controller):
    assert reader.get("/api/rules").json() == []
    assert reader.get("/api/scenes").json() == []
    message = error_of(reader.get("/api/rules/anything"), 404, "unknown_rule")
    assert "no automations" in message
    error_of(controller.post("/api/scenes/anything/apply"), 404, "unknown_scene")


def test_a_rules_last_run_is_remembered_across_a_restart(tmp_path: Path) -> None:
    """A rule card said "never ran" after a restart while its runs list showed a run."""
    space = load_space(demo_space())
    book = parse_automations(YAML, "t.yaml", space)
    rule = next(iter(book.rules))
    first = start_hub(tmp_path, space, automations=book)
    try:
        with first.client(first.token("read", "control", "control:risky")) as client:
            assert client.post(f"/api/rules/{rule}/run").status_code == 200
            ran = manual_runs(client, rule, 1)[0]
    finally:
        first.auth.close()
        first._stop()
    again = start_hub(tmp_path, space, automations=book)
    try:
        with again.client(again.token("read")) as client:
            last = client.get(f"/api/rules/{rule}").json()["last_run"]
    finally:
        again.auth.close()
        again._stop()
    assert last is not None, "the restarted hub forgot the rule's last run"
    assert last["started"] == ran["started"] and last["result"] == ran["result"]

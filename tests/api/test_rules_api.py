"""Rules and scenes over the API, round-tripping with the files: `GET`, `PUT`, `DELETE
/api/automations/rules|scenes/{id}` and `POST /api/automations/check`, on a real hub (a copy
of the demo space with its automations and a hand-written file, real SQLite, the engine).

Each test uses ids and files of its own, so they do not depend on their order."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.helpers.api_hub import Hub, copy_demo_space, error_of, folder_hub

from hyperhub.automation import load_automations
from hyperhub.space import load_space

HAND = """\
# Hand-written: the editor must keep every byte of this file outside the rule it changes.

places:
  - {id: office, name: Office, lat: 31.2397, lon: 121.4998, radius_km: 0.3}   # work

rules:
  # Evening: the porch
  - id: porch_at_dusk          # keep this comment
    name: 'Porch at dusk'
    triggers: [{sun: {event: sunset, offset: "-15m"}}]
    actions:
      - set: {device: garden_lights, property: on, value: true}
      # - set: {device: hallway_light, property: on, value: true}

  # Night: the hallway, written with the dashes under their keys
  - id: hallway_at_night
    triggers:
    - time: "23:00"
    actions:
    - set: {device: hallway_light, property: on, value: false}


  - id: anchored               # YAML anchors: the editor shows it read-only
    triggers: [{cron: "0 5 * * *"}]
    actions:
      - set: &lamp_on {device: study_desk_lamp, property: on, value: true}
      - set: *lamp_on

scenes:
  - id: reading            # a scene with comments
    name: Reading
    states:
      study_desk_lamp: {on: true, brightness: 60}   # not too bright
"""
FLOW = 'rules: [{id: flowing, triggers: [{cron: "0 4 * * *"}], actions: [{delay: 1s}]}]\n'
RISKY_SCENE = """\
scenes:
  - id: welcome_home
    name: Welcome home
    states:
      front_door_lock: {locked: false}
"""


def rule(rule_id: str, device: str = "garden_lights", **extra: Any) -> dict[str, Any]:
    return {
        "id": rule_id,
        "triggers": [{"cron": "0 3 * * *"}],
        "actions": [{"set": {"device": device, "property": "on", "value": True}}],
        **extra,
    }


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = copy_demo_space(tmp_path_factory.mktemp("space"))
    (where / "automations" / "hand.yaml").write_text(HAND, encoding="utf-8")
    (where / "automations" / "flow.yaml").write_text(FLOW, encoding="utf-8")
    (where / "automations" / "risky_scenes.yaml").write_text(RISKY_SCENE, encoding="utf-8")
    return where


@pytest.fixture(scope="module")
def files_hub(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with folder_hub(folder, tmp_path_factory.mktemp("rules-api-hub")) as running:
        yield running


@pytest.fixture(scope="module")
def owner(files_hub: Hub) -> Iterator[httpx.Client]:
    token = files_hub.token("read", "control", "control:risky", "admin", name="editor-owner")
    with files_hub.client(token) as client:
        yield client


@pytest.fixture(scope="module")
def admin(files_hub: Hub) -> Iterator[httpx.Client]:
    """read + admin: may save rules, but not risky ones."""
    with files_hub.client(files_hub.token("read", "admin", name="editor-admin")) as client:
        yield client


def read(client: httpx.Client, kind: str, item_id: str) -> dict[str, Any]:
    answer = client.get(f"/api/automations/{kind}s/{item_id}")
    assert answer.status_code == 200, answer.text
    assert answer.headers["etag"] == f'"{answer.json()["version"]}"'
    body: dict[str, Any] = answer.json()
    return body


def put(
    client: httpx.Client, kind: str, item_id: str, data: Any, version: str | None = None
) -> httpx.Response:
    headers = {} if version is None else {"If-Match": f'"{version}"'}
    return client.put(f"/api/automations/{kind}s/{item_id}", json=data, headers=headers)


def file_text(folder: Path, name: str) -> str:
    return (folder / "automations" / name).read_bytes().decode("utf-8")


# ---------------------------------------------------------------------------- reading


def test_a_hand_written_rule_reads_as_the_keys_its_file_writes(owner: httpx.Client) -> None:
    item = read(owner, "rule", "porch_at_dusk")
    assert item["rule"] == {
        "id": "porch_at_dusk",
        "name": "Porch at dusk",
        "triggers": [{"sun": {"event": "sunset", "offset": "-15m"}}],  # as written, not -900
        "actions": [{"set": {"device": "garden_lights", "property": "on", "value": True}}],
    }
    assert item["source"] == "hand.yaml:8"
    assert (item["kind"], item["id"], item["editable"], item["reason"]) == (
        "rule",
        "porch_at_dusk",
        True,
        None,
    )
    scene = read(owner, "scene", "reading")
    assert scene["scene"]["states"] == {"study_desk_lamp": {"on": True, "brightness": 60}}
    assert scene["source"] == "hand.yaml:30"


def test_what_json_cannot_carry_is_read_only_never_dropped(owner: httpx.Client) -> None:
    anchored = read(owner, "rule", "anchored")
    assert anchored["editable"] is False
    assert "anchor &lamp_on" in anchored["reason"] and "actions[0].set" in anchored["reason"]
    assert anchored["rule"]["actions"][1]["set"]["device"] == "study_desk_lamp"  # shown whole
    flowing = read(owner, "rule", "flowing")
    assert flowing["editable"] is False and "[...] list" in flowing["reason"]
    changed = {**anchored["rule"], "name": "Lamp at five"}
    answer = put(owner, "rule", "anchored", changed, anchored["version"])
    assert "by hand" in error_of(answer, 409, "read_only")
    assert read(owner, "rule", "anchored")["version"] == anchored["version"]


def test_unknown_and_bad_ids(owner: httpx.Client) -> None:
    message = error_of(owner.get("/api/automations/rules/porch_at_dusc"), 404, "unknown_rule")
    assert "did you mean 'porch_at_dusk'" in message
    error_of(owner.get("/api/automations/scenes/no_such_scene"), 404, "unknown_scene")
    for bad in ("Porch", "a.b", "x%20y", "%C3%A9t%C3%A9", "a" * 101):
        error_of(owner.get(f"/api/automations/rules/{bad}"), 422, "invalid")
        error_of(put(owner, "rule", bad, rule("x")), 422, "invalid")
    # a slash, encoded or not, never reaches a file: there is no such route
    for path in ("..%2F..%2Fspace", "../x", "%2E%2E%2Fhand"):
        assert owner.get(f"/api/automations/rules/{path}").status_code in (404, 422)


# ---------------------------------------------------------------------------- round trip


def test_editing_one_rule_keeps_the_rest_of_the_file_byte_for_byte(
    owner: httpx.Client, folder: Path
) -> None:
    item = read(owner, "rule", "porch_at_dusk")
    changed = {**item["rule"], "name": "Porch at sunset"}
    answer = put(owner, "rule", "porch_at_dusk", changed, item["version"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["created"] is False and answer.json()["rule"] == changed
    assert answer.json()["reload"] == {"added": [], "changed": ["porch_at_dusk"], "removed": []}
    # one line differs: the name, in the quotes it had; the comments inside the rule stay
    expected = HAND.replace("name: 'Porch at dusk'", "name: 'Porch at sunset'")
    assert file_text(folder, "hand.yaml") == expected
    assert answer.headers["etag"] == f'"{answer.json()["version"]}"' != f'"{item["version"]}"'

    night = read(owner, "rule", "hallway_at_night")
    before = file_text(folder, "hand.yaml")
    edited = dict(night["rule"])
    edited["conditions"] = [{"someone_home": True}]
    answer = put(owner, "rule", "hallway_at_night", edited, night["version"])
    assert answer.status_code == 200, answer.text
    after = file_text(folder, "hand.yaml")
    start = before.index("  - id: hallway_at_night")
    end = before.index("    - set: {device: hallway_light, property: on, value: false}\n")
    end += len("    - set: {device: hallway_light, property: on, value: false}\n")
    assert after[:start] == before[:start] and after.endswith(before[end:])
    assert after[start : len(after) - len(before) + end] == (
        "  - id: hallway_at_night\n"
        "    triggers:\n"
        '    - time: "23:00"\n'
        "    conditions:\n"
        "    - someone_home: true\n"
        "    actions:\n"
        "    - set: {device: hallway_light, property: on, value: false}\n"
    )
    assert read(owner, "rule", "hallway_at_night")["rule"] == edited

    scene = read(owner, "scene", "reading")
    before = file_text(folder, "hand.yaml")
    dimmer = {**scene["scene"], "states": {"study_desk_lamp": {"on": True, "brightness": 40}}}
    answer = put(owner, "scene", "reading", dimmer, scene["version"])
    assert answer.status_code == 200, answer.text
    assert file_text(folder, "hand.yaml") == before.replace(
        "{on: true, brightness: 60}   # not too bright",
        "{on: true, brightness: 40}   # not too bright",
    )


def test_saving_what_was_read_changes_nothing(owner: httpx.Client, folder: Path) -> None:
    before = {p.name: p.read_bytes() for p in (folder / "automations").iterdir()}
    for kind, item_id in (("rule", "arriving_home_ac"), ("scene", "movie_night")):
        item = read(owner, kind, item_id)
        answer = put(owner, kind, item_id, item[kind], item["version"])
        assert answer.status_code == 200, answer.text
        assert answer.json()["version"] == item["version"]
        assert answer.json()["reload"]["changed"] == []
    assert {p.name: p.read_bytes() for p in (folder / "automations").iterdir()} == before


# ---------------------------------------------------------------------------- create, delete


def test_create_replace_and_delete(owner: httpx.Client, folder: Path) -> None:
    created = put(owner, "rule", "porch_two", rule("porch_two", name="Porch two"))
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/api/automations/rules/porch_two"
    assert created.json()["source"].startswith("editor.yaml:")
    assert created.json()["reload"]["added"] == ["porch_two"]
    assert "  - id: porch_two\n    name: Porch two\n    triggers:\n" in file_text(
        folder, "editor.yaml"
    )
    assert "porch_two" in {r["id"] for r in owner.get("/api/rules").json()}
    # a new rule into a file named; keys in the order the docs write them
    body = {"actions": rule("x")["actions"], "triggers": [{"cron": "0 4 * * *"}]}
    answer = owner.put(
        "/api/automations/rules/porch_three", params={"file": "home.yaml"}, json=body
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["source"].startswith("home.yaml:")
    assert file_text(folder, "home.yaml").endswith(
        "  - id: porch_three\n    triggers:\n      - cron: 0 4 * * *\n    actions:\n"
        "      - set: {device: garden_lights, property: on, value: true}\n"
    )
    for name in ("../space.yaml", ".hidden.yaml", "notes.txt", "a/b.yaml"):
        params = {"file": name}
        bad = owner.put("/api/automations/rules/porch_four", params=params, json=rule("porch_four"))
        assert "file" in error_of(bad, 422, "invalid_automations")
    # replace, then delete with the version read
    version = created.json()["version"]
    replaced = put(owner, "rule", "porch_two", rule("porch_two", enabled=False), version)
    assert replaced.status_code == 200, replaced.text
    assert owner.get("/api/rules/porch_two").json()["enabled"] is False
    error_of(owner.delete("/api/automations/rules/porch_two"), 428, "version_required")
    stale = {"If-Match": f'"{version}"'}
    error_of(owner.delete("/api/automations/rules/porch_two", headers=stale), 412, "stale_version")
    fresh = {"If-Match": replaced.headers["etag"]}
    deleted = owner.delete("/api/automations/rules/porch_two", headers=fresh)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {
        "kind": "rule",
        "id": "porch_two",
        "reload": {"added": [], "changed": [], "removed": ["porch_two"]},
    }
    assert "porch_two" not in file_text(folder, "editor.yaml")
    error_of(owner.get("/api/rules/porch_two"), 404, "unknown_rule")
    error_of(owner.delete("/api/automations/rules/porch_two", headers=fresh), 412, "stale_version")


def test_a_scene_that_a_rule_applies_cannot_be_deleted(owner: httpx.Client, folder: Path) -> None:
    item = read(owner, "scene", "good_night")
    before = file_text(folder, "good_night.yaml")
    answer = owner.delete(
        "/api/automations/scenes/good_night", headers={"If-Match": item["version"]}
    )
    error_of(answer, 422, "invalid_automations")
    problems = answer.json()["error"]["problems"]
    assert problems and problems[0]["path"] is None
    assert problems[0]["source"].startswith("good_night.yaml:")
    assert "no scene 'good_night'" in problems[0]["message"]
    assert file_text(folder, "good_night.yaml") == before


def test_versions_guard_against_lost_updates(owner: httpx.Client) -> None:
    created = put(owner, "rule", "versioned", rule("versioned"))
    assert created.status_code == 201, created.text
    again = put(owner, "rule", "versioned", rule("versioned"))  # a second create: taken
    assert "If-Match" in error_of(again, 428, "version_required")
    version = created.json()["version"]
    first = put(owner, "rule", "versioned", rule("versioned", name="First"), version)
    assert first.status_code == 200, first.text
    second = put(owner, "rule", "versioned", rule("versioned", name="Second"), version)
    assert "has changed since it was read" in error_of(second, 412, "stale_version")
    assert read(owner, "rule", "versioned")["rule"]["name"] == "First"
    gone = put(owner, "rule", "not_there", rule("not_there"), version)
    assert "no longer in the files" in error_of(gone, 412, "stale_version")
    star = owner.put(
        "/api/automations/rules/versioned", json=rule("versioned"), headers={"If-Match": "*"}
    )
    error_of(star, 400, "bad_request")


def test_concurrent_saves_of_one_version_one_wins(owner: httpx.Client, files_hub: Hub) -> None:
    created = put(owner, "rule", "raced", rule("raced"))
    version = created.json()["version"]
    answers: list[int] = []

    def save(n: int) -> None:
        with files_hub.client(owner.headers["authorization"].split()[1]) as client:
            data = rule("raced", name=f"Writer {n}")
            answers.append(put(client, "rule", "raced", data, version).status_code)

    threads = [threading.Thread(target=save, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(answers) == [200, 412, 412, 412, 412, 412]
    # and many new rules at once into one file: every one saved, the file whole
    codes: list[int] = []

    def create(n: int) -> None:
        with files_hub.client(owner.headers["authorization"].split()[1]) as client:
            codes.append(put(client, "rule", f"crowd_{n}", rule(f"crowd_{n}")).status_code)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert codes == [201] * 6
    ids = {r["id"] for r in owner.get("/api/rules").json()}
    assert {f"crowd_{n}" for n in range(6)} <= ids


# ---------------------------------------------------------------------------- checking


def test_problems_are_located_in_the_rule(owner: httpx.Client, folder: Path) -> None:
    before = {p.name: p.read_bytes() for p in (folder / "automations").iterdir()}
    bad = {
        "id": "broken",
        "triggers": [{"state": {"device": "hallway_motion", "property": "motoin", "to": True}}],
        "actions": [
            {"set": {"device": "garden_lightz", "property": "on", "value": True}},
            {"set": {"device": "study_desk_lamp", "property": "brightness", "value": 150}},
        ],
    }
    answer = put(owner, "rule", "broken", bad)
    error_of(answer, 422, "invalid_automations")
    problems = {p["path"]: p for p in answer.json()["error"]["problems"]}
    assert set(problems) == {
        "triggers[0].state.property",
        "actions[0].set.device",
        "actions[1].set.value",
    }
    assert "did you mean 'motion'" in problems["triggers[0].state.property"]["message"]
    assert problems["actions[0].set.device"]["loc"] == ["actions", 0, "set", "device"]
    assert "did you mean 'garden_lights'" in problems["actions[0].set.device"]["message"]
    assert "150 is not allowed" in problems["actions[1].set.value"]["message"]
    assert all(p["source"] is None for p in problems.values())
    assert {p.name: p.read_bytes() for p in (folder / "automations").iterdir()} == before
    # the same through check: 200, ok false, the same problems
    checked = owner.post("/api/automations/check", json={"rule": bad})
    assert checked.status_code == 200, checked.text
    assert checked.json()["ok"] is False
    assert {p["path"] for p in checked.json()["problems"]} == set(problems)
    # the shape first, as `hyperhub rules check`: an unknown key, wrong types
    typo = put(owner, "rule", "typo", {**rule("typo"), "triger": [{"cron": "0 1 * * *"}]})
    error_of(typo, 422, "invalid_automations")
    [problem] = typo.json()["error"]["problems"]
    assert problem["path"] == "" and problem["loc"] == []  # the rule itself holds the key
    assert "unknown key `triger` (did you mean `triggers`?)" in problem["message"]
    wrong_types = put(owner, "rule", "typed", {"triggers": "sunset", "actions": [{"delay": True}]})
    paths = {p["path"] for p in wrong_types.json()["error"]["problems"]}
    assert "triggers" in paths and "actions[0].delay" in paths
    mismatch = put(owner, "rule", "one_id", rule("another_id"))
    assert error_of(mismatch, 422, "invalid_automations")
    assert mismatch.json()["error"]["problems"][0]["path"] == "id"


def test_check_saves_nothing_and_says_what_saving_needs(owner: httpx.Client, folder: Path) -> None:
    files = {p.name: p.read_bytes() for p in (folder / "automations").iterdir()}
    garage = rule("garage_check")
    garage["actions"] = [{"call": {"device": "garage_door", "action": "open"}}]
    answer = owner.post("/api/automations/check", json={"rule": garage})
    assert answer.json() == {
        "ok": True,
        "kind": "rule",
        "id": "garage_check",
        "file": "editor.yaml",
        "exists": False,
        "risky": ["garage_door.open"],
        "problems": [],
    }
    existing = read(owner, "scene", "movie_night")["scene"]
    answer = owner.post("/api/automations/check", json={"scene": existing})
    assert answer.json()["ok"] is True and answer.json()["exists"] is True
    assert answer.json()["file"] == "home.yaml"
    assert {p.name: p.read_bytes() for p in (folder / "automations").iterdir()} == files
    for body in ({}, {"rule": {}, "scene": {}}, {"rule": [1]}, {"rules": {}}):
        error_of(owner.post("/api/automations/check", json=body), 422, "invalid")


# ---------------------------------------------------------------------------- scopes


def test_scopes(files_hub: Hub, admin: httpx.Client, folder: Path) -> None:
    with files_hub.client(files_hub.token("read", "control", name="rules-reader")) as reader:
        assert reader.get("/api/automations/rules/porch_at_dusk").status_code == 200
        assert reader.post("/api/automations/check", json={"rule": rule("x")}).status_code == 200
        error_of(put(reader, "rule", "by_reader", rule("by_reader")), 403, "missing_scope")
        error_of(reader.delete("/api/automations/rules/x"), 403, "missing_scope")
    with files_hub.client(files_hub.token("admin", name="rules-admin-only")) as only_admin:
        error_of(only_admin.get("/api/automations/rules/porch_at_dusk"), 403, "missing_scope")
    with files_hub.client() as nobody:
        error_of(nobody.get("/api/automations/rules/porch_at_dusk"), 401)
        error_of(put(nobody, "rule", "anon", rule("anon")), 401)
    assert put(admin, "rule", "by_admin", rule("by_admin")).status_code == 201


def test_a_risky_rule_or_scene_needs_control_risky(
    admin: httpx.Client, owner: httpx.Client, folder: Path
) -> None:
    before = {p.name: p.read_bytes() for p in (folder / "automations").iterdir()}
    garage = rule("open_garage")
    garage["actions"] = [{"call": {"device": "garage_door", "action": "open"}}]
    refused = put(admin, "rule", "open_garage", garage)
    message = error_of(refused, 403, "missing_scope")
    assert "control:risky" in message and "garage_door.open" in message
    unlocking = rule("via_scene")
    unlocking["actions"] = [{"scene": "welcome_home"}]  # a scene that unlocks the door
    error_of(put(admin, "rule", "via_scene", unlocking), 403, "missing_scope")
    scene = read(admin, "scene", "welcome_home")
    renamed = {**scene["scene"], "name": "Welcome"}
    error_of(put(admin, "scene", "welcome_home", renamed, scene["version"]), 403, "missing_scope")
    # an existing risky rule, even just renamed
    existing = read(admin, "rule", "arriving_home_garage")
    renamed_rule = {**existing["rule"], "name": "Garage"}
    error_of(put(admin, "rule", "arriving_home_garage", renamed_rule, existing["version"]), 403)
    assert {p.name: p.read_bytes() for p in (folder / "automations").iterdir()} == before
    saved = put(owner, "rule", "open_garage", garage)
    assert saved.status_code == 201, saved.text
    assert saved.json()["risky"] == ["garage_door.open"]
    # deleting takes no risk
    version = saved.json()["version"]
    done = admin.delete("/api/automations/rules/open_garage", headers={"If-Match": version})
    assert done.status_code == 200, done.text


# ---------------------------------------------------------------------------- the running hub


def test_a_save_keeps_other_rules_running(owner: httpx.Client) -> None:
    waiting = rule("long_wait")
    waiting["actions"] = [{"delay": "1h"}]
    assert put(owner, "rule", "long_wait", waiting).status_code == 201
    run = owner.post("/api/rules/long_wait/run")
    assert run.status_code == 200 and run.json()["started"] is True, run.text
    assert owner.post("/api/rules/car_preconditioning/disable").status_code == 200
    assert owner.get("/api/rules/long_wait").json()["running"] is True

    item = read(owner, "rule", "purifier_on_pm25")
    changed = {**item["rule"], "name": "Purifier when the air is bad"}
    answer = put(owner, "rule", "purifier_on_pm25", changed, item["version"])
    assert answer.json()["reload"] == {"added": [], "changed": ["purifier_on_pm25"], "removed": []}
    after = owner.get("/api/rules/long_wait").json()
    assert after["running"] is True and after["runs"] == 1  # its run goes on, untouched
    assert owner.get("/api/rules/car_preconditioning").json()["enabled"] is False
    assert owner.get("/api/rules/purifier_on_pm25").json()["name"] == "Purifier when the air is bad"
    # the rule itself changed: it starts afresh
    own = read(owner, "rule", "long_wait")
    again = put(owner, "rule", "long_wait", {**own["rule"], "name": "Long wait"}, own["version"])
    assert again.json()["reload"]["changed"] == ["long_wait"]
    assert owner.get("/api/rules/long_wait").json()["running"] is False
    assert owner.post("/api/rules/car_preconditioning/enable").status_code == 200


# ---------------------------------------------------------------------------- hostile input


def test_strings_never_become_yaml_structure(owner: httpx.Client, folder: Path) -> None:
    nasty = [
        "x\nrules:\n  - id: evil\n    triggers: [{cron: '* * * * *'}]",
        "a: b",
        "- item",
        "# not a comment",
        "&anchor *alias !tag",
        "{{ 'a' }}: {b: c}",
        "' \" \\ | > % @ `",
        "yes",
        "null",
        "1e3",
        "\u2028\u0085\ufeff line breaks \x00\x07 and controls",
        "   spaces around   ",
        "",
    ]
    for i, text in enumerate(nasty):
        data = {
            "id": f"nasty_{i}",
            "name": text,
            "description": text,
            "triggers": [{"cron": "0 3 * * *"}],
            "actions": [{"notify": {"device": "phone_chen_wei", "message": text or "x"}}],
        }
        answer = put(owner, "rule", f"nasty_{i}", data)
        assert answer.status_code == 201, (text, answer.text)
        assert read(owner, "rule", f"nasty_{i}")["rule"] == data
    book = load_automations(load_space(folder / "space.yaml"), folder / "automations")
    assert "evil" not in book.rules
    assert all(book.rules[f"nasty_{i}"].name == text for i, text in enumerate(nasty))


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{", "application/json", 400, "bad_json"),
        (b"[1, 2]", "application/json", 422, "invalid"),
        (b'"a rule"', "application/json", 422, "invalid"),
        (b'{"id": "x", "value": NaN}', "application/json", 422, "invalid"),
        (b'{"id": "x", "value": 1e400}', "application/json", 422, "invalid_automations"),
        (b'{"id": "x", "id": "y"}', "application/json", 422, "invalid"),
        (b'{"id": "x", "name": "\\ud800"}', "application/json", 422, "invalid_automations"),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400, "bad_json"),
        (b'{"a":' * 200 + b"1" + b"}" * 200, "application/json", 422, "invalid_automations"),
        (b"id: x\n", "application/yaml", 415, "unsupported_media_type"),
        (b"\xff\xfe\x00", "application/json", 400, "bad_json"),
    ],
)
def test_hostile_bodies_get_clear_errors(
    owner: httpx.Client, folder: Path, body: bytes, content_type: str, status: int, code: str
) -> None:
    before = {p.name: p.read_bytes() for p in (folder / "automations").iterdir()}
    answer = owner.put(
        "/api/automations/rules/hostile", content=body, headers={"Content-Type": content_type}
    )
    error_of(answer, status, code)
    assert {p.name: p.read_bytes() for p in (folder / "automations").iterdir()} == before


def test_a_huge_body_is_refused_before_it_is_read(owner: httpx.Client) -> None:
    data = rule("huge", description="x" * 70_000)
    error_of(put(owner, "rule", "huge", data), 413, "too_large")


def test_a_hub_without_automation_files(hub: Hub) -> None:
    """The session's hub runs the packaged demo with no automations: nothing to change."""
    token = hub.token("read", "admin", name="no-files")
    with hub.client(token) as client:
        error_of(client.get("/api/automations/rules/leaving_home"), 404, "unknown_rule")
        error_of(put(client, "rule", "x", rule("x")), 409, "no_automations")
        checked = client.post("/api/automations/check", json={"rule": rule("x")})
        assert checked.status_code == 200 and checked.json()["ok"] is True, checked.text

"""Automation files: loading against the demo space, and every kind of problem with its
file and line."""

from dataclasses import replace
from pathlib import Path

import pytest

from hyperhub._yaml import to_plain, yaml_12
from hyperhub.automation import (
    AutomationError,
    Book,
    Rule,
    append_rule,
    automations_path,
    dump_rule,
    load_automations,
    parse_automations,
)
from hyperhub.errors import Problem
from hyperhub.space import Space, load_space, parse_space

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
GOOD = DATA / "good.yaml"

NO_LOCATION = """\
space: Flat
areas: []
devices:
  - {id: phone, type: phone}
  - {id: lamp, type: light}
"""


@pytest.fixture(scope="module")
def demo() -> Space:
    return load_space(ROOT / "src/hyperhub/demo/space.yaml")


def problems(text: str, space: Space) -> list[str]:
    with pytest.raises(AutomationError) as err:
        parse_automations(text, "a.yaml", space)
    return err.value.lines


def rule(*lines: str, triggers: str = "- cron: '0 7 * * *'", actions: str = "- delay: 1s") -> str:
    """A file with one rule `r` (id on line 2, triggers from line 4) and `lines` after its
    actions."""
    return "\n".join(
        [
            "rules:",
            "  - id: r",
            "    triggers:",
            *(f"      {t}" for t in triggers.splitlines()),
            "    actions:",
            *(f"      {a}" for a in actions.splitlines()),
            *lines,
            "",
        ]
    )


# ---------------------------------------------------------------------------- good files


def test_good_file_with_every_kind_loads(demo: Space) -> None:
    book = parse_automations(GOOD.read_text(), "good.yaml", demo)
    assert list(book.rules) == ["arriving_home", "mornings", "air_watch"]
    assert list(book.scenes) == ["movie_night", "open_up"]
    assert list(book.places) == ["home", "office"]
    home = book.places["home"]
    assert (home.lat, home.lon, home.radius_km) == (31.2036, 121.5875, 0.2)
    assert book.sources == {
        "place:office": ("good.yaml", 3),
        "scene:movie_night": ("good.yaml", 10),
        "scene:open_up": ("good.yaml", 21),
        "rule:arriving_home": ("good.yaml", 27),
        "rule:mornings": ("good.yaml", 52),
        "rule:air_watch": ("good.yaml", 66),
    }
    kinds = {t.kind for r in book.rules.values() for t in r.triggers}
    assert kinds == {"state", "numeric", "event", "time", "cron", "sun", "geofence", "offline"}
    arriving = book.rules["arriving_home"]
    assert {c.kind for c in arriving.conditions} == {"time", "not", "or", "geo", "template"}
    assert {a.kind for a in arriving.actions} == {"set", "scene", "delay", "if"}
    assert arriving.actions[3].delay == 300


def test_risky_writes_and_calls_are_listed(demo: Space) -> None:
    book = parse_automations(GOOD.read_text(), "good.yaml", demo)
    assert book.risky == [
        ("scene:open_up", "garage_door.position=100"),
        ("rule:arriving_home", "front_door_lock.unlock"),
        ("rule:arriving_home", "garage_door.position=100"),  # through `scene: open_up`
        ("rule:air_watch", "car.locked=false"),
    ]


def test_risky_template_write_counts_as_risky(demo: Space) -> None:
    text = rule(actions="- set: {device: garage_door, property: position, value: '{{ 50 }}'}")
    book = parse_automations(text, "a.yaml", demo)
    assert book.risky == [("rule:r", "garage_door.position={{ 50 }}")]
    safe = rule(actions="- set: {device: living_room_curtain, property: position, value: 100}")
    assert parse_automations(safe, "a.yaml", demo).risky == []


def test_load_directory_next_to_the_space(demo: Space, tmp_path: Path) -> None:
    space = replace(demo, path=tmp_path / "space.yaml")
    assert automations_path(space) == tmp_path / "automations"
    assert automations_path(demo) == ROOT / "src/hyperhub/demo/automations"
    assert automations_path(replace(demo, path=None)) is None
    folder = tmp_path / "automations"
    folder.mkdir()
    (folder / "a.yaml").write_text(GOOD.read_text())
    (folder / "b.yml").write_text(rule().replace("id: r", "id: other"))
    (folder / "notes.txt").write_text("not yaml: [")
    (folder / ".a.yaml.tmp").write_text("not yaml: [")
    (folder / "empty.yaml").write_text("# nothing yet\n")
    (folder / "sub").mkdir()
    (folder / "sub" / "c.yaml").write_text("not yaml: [")
    book = load_automations(space)
    assert list(book.rules) == ["arriving_home", "mornings", "air_watch", "other"]
    assert book.sources["rule:other"] == (str(folder / "b.yml"), 2)
    one = load_automations(space, folder / "b.yml")
    assert list(one.rules) == ["other"]


def test_missing_directory_is_an_empty_book(demo: Space, tmp_path: Path) -> None:
    book = load_automations(replace(demo, path=tmp_path / "space.yaml"))
    assert book == Book(places={"home": book.places["home"]})
    assert load_automations(replace(demo, path=None)).rules == {}
    assert load_automations(demo, tmp_path / "nowhere").rules == {}


def test_missing_explicit_file_is_an_error(demo: Space, tmp_path: Path) -> None:
    path = tmp_path / "gone.yaml"
    with pytest.raises(AutomationError) as err:
        load_automations(demo, path)
    assert err.value.lines == [f"{path}:0: cannot read the file: No such file or directory"]


def test_empty_files_and_sections_are_fine(demo: Space) -> None:
    for text in ("", "# only a comment\n", "rules:\nscenes:\nplaces:\n", "rules: []\n"):
        assert parse_automations(text, "a.yaml", demo).rules == {}


def test_without_location_there_is_no_home(demo: Space) -> None:
    flat = parse_space(NO_LOCATION, "flat.yaml")
    assert parse_automations("", "a.yaml", flat).places == {}
    text = "places:\n  - {id: home, lat: 1, lon: 2}\n" + rule(
        triggers="- geofence: {device: phone, event: leave}",
        actions="- set: {device: lamp, property: on, value: false}",
    )
    book = parse_automations(text, "a.yaml", flat)
    assert book.places["home"].radius_km == 0.2
    assert (book.places["home"].lat, book.places["home"].lon) == (1, 2)


def test_home_place_overrides_the_space_location(demo: Space) -> None:
    text = "places:\n  - {id: home, lat: 31.0, lon: 121.0, radius_km: 1}\n"
    book = parse_automations(text, "a.yaml", demo)
    assert book.places["home"].radius_km == 1
    assert book.sources["place:home"] == ("a.yaml", 2)


# ---------------------------------------------------------------------------- shape problems


def test_yaml_syntax_error_has_its_line(demo: Space) -> None:
    text = "rules:\n  - id: r\n    triggers: [\n      - cron: x\n"
    (line,) = problems(text, demo)
    assert line.startswith("a.yaml:4: YAML syntax error: ")


def test_duplicate_yaml_key_has_its_line(demo: Space) -> None:
    (line,) = problems("rules: []\nscenes: []\nrules: []\n", demo)
    assert line.startswith("a.yaml:3: YAML syntax error: found duplicate key")


def test_file_must_be_a_mapping(demo: Space) -> None:
    assert problems("- id: r\n", demo) == [
        "a.yaml:1: an automation file must be a mapping with `places`, `scenes` and `rules`"
    ]
    assert problems("rules: {id: r}\n", demo) == [
        "a.yaml:1: rules: should be a list, not {'id': 'r'}"
    ]


def test_unknown_keys_name_the_key(demo: Space) -> None:
    text = "rule:\n  - id: r\n" + rule(
        "  - id: s",
        "    triger:",
        "      - cron: '0 7 * * *'",
        "    actions: [{delay: 1s}]",
        actions="- delay: 1s\n  continue_on_eror: true",
    )
    assert problems(text, demo) == [
        "a.yaml:1: unknown key `rule` (did you mean `rules`?); expected one of: places, scenes, rules",
        "a.yaml:9: rules[0].actions[0]: unknown key `continue_on_eror` (did you mean `continue_on_error`?); expected one of: set, call, scene, delay, notify, if, then, else, continue_on_error",
        "a.yaml:10: rules[1]: missing field `triggers`",
        "a.yaml:11: rules[1]: unknown key `triger` (did you mean `triggers`?); expected one of: id, name, description, enabled, mode, max_queued, triggers, conditions, actions",
    ]


def test_shape_problems_have_lines(demo: Space) -> None:
    text = rule(
        "    mode: sometimes",
        "  - id: Bad Id",
        "    triggers: []",
        "    actions: [{delay: 1s}]",
        triggers="\n".join(
            [
                "- state: {device: car}",  # 4
                "- state: {device: 5, property: locked}",  # 5
                "- numeric: {device: car, property: battery_soc, above: 50, below: 20}",  # 6
                "- time: '25:00'",  # 7
                "- cron: '0 7 * * *'",  # 8
                "  sun: {event: sunrise}",  # 9
                "- geofence: {device: car, event: arrive}",  # 10
                "- offline: {device: car, for: soon}",  # 11
            ]
        ),
        actions="\n".join(
            [
                "- delay: -5m",  # 13
                "- if: {someone_home: true}",  # 14
                "- then: [{delay: 1s}]",  # 15
                "- notify: {message: hi}",  # 16
            ]
        ),
    )
    assert problems(text, demo) == [
        "a.yaml:4: rules[0].triggers[0].state: missing field `property`",
        "a.yaml:5: rules[0].triggers[1].state.device: should be a device id or a list of device ids, not 5",
        "a.yaml:6: rules[0].triggers[2].numeric: `above` (50) must be less than `below` (20)",
        "a.yaml:7: rules[0].triggers[3].time.at: '25:00' is not a time of day (HH:MM or HH:MM:SS, 24-hour)",
        "a.yaml:8: rules[0].triggers[4]: a trigger has one kind, not cron and sun (one of: state, numeric, event, time, cron, sun, geofence, offline)",
        "a.yaml:10: rules[0].triggers[5].geofence.event: should be 'enter' or 'leave', not 'arrive'",
        "a.yaml:11: rules[0].triggers[6].offline.for: 'soon' is not a duration (e.g. 90, '90s', '5m', '1h30m', '-30m')",
        "a.yaml:13: rules[0].actions[0].delay: a delay cannot be negative",
        "a.yaml:14: rules[0].actions[1]: an `if` action needs `then` (a list of actions)",
        "a.yaml:15: rules[0].actions[2]: an action needs one of: set, call, scene, delay, notify, if",
        "a.yaml:16: rules[0].actions[3].notify: give either `device` (an id or a list) or `type` (phone, wearable)",
        "a.yaml:17: rules[0].mode: should be 'single', 'restart' or 'queue', not 'sometimes'",
        "a.yaml:18: rules[1].id: bad id 'Bad Id': use only a-z, 0-9 and _",
        "a.yaml:19: rules[1].triggers: needs at least one item",
    ]


def test_shape_problems_in_scenes_and_places(demo: Space) -> None:
    text = "\n".join(
        [
            "places:",
            "  - id: office",
            "    lat: 95",
            "scenes:",
            "  - id: empty",
            "    name: Empty",
            "  - id: s",
            "    name: S",
            "    states: {car: locked}",
            "",
        ]
    )
    assert problems(text, demo) == [
        "a.yaml:2: places[0]: missing field `lon`",
        "a.yaml:3: places[0].lat: should be less than or equal to 90, not 95",
        "a.yaml:5: scenes[0]: scene 'empty' sets no `states` and has no `actions`",
        "a.yaml:9: scenes[1].states.car: should be a mapping, not 'locked'",
    ]


def test_a_single_mapping_for_a_list_keeps_its_lines(demo: Space) -> None:
    text = "rules:\n  - id: r\n    triggers:\n      cron: 5\n    actions: {delay: 1s}\n"
    assert problems(text, demo) == [
        "a.yaml:4: rules[0].triggers[0].cron: should be a valid string, not 5"
    ]


# ---------------------------------------------------------------------------- the space


@pytest.mark.parametrize(
    ("triggers", "actions", "expected"),
    [
        (
            "- state: {device: cra, property: locked}",
            "- delay: 1s",
            "a.yaml:4: rules[0].triggers[0].state.device: no device 'cra' in space 'Chen family'; did you mean 'car'?",
        ),
        (
            "- offline: {device: [car, phone_chen_wie]}",
            "- delay: 1s",
            "a.yaml:4: rules[0].triggers[0].offline.device[1]: no device 'phone_chen_wie' in space 'Chen family'; did you mean 'phone_chen_wei'?",
        ),
        (
            "- state: {device: car, property: lokced}",
            "- delay: 1s",
            "a.yaml:4: rules[0].triggers[0].state.property: device car (car) has no property 'lokced'; it has: locked, hvac_on, cabin_target_temp, cabin_temp, trunk_open, windows_position, charging, charge_limit, battery_soc, range_km, location, speed_kmh, gear; did you mean 'locked'?",
        ),
        (
            "- state: {device: hallway_motion, property: temperature}",
            "- delay: 1s",
            "a.yaml:4: rules[0].triggers[0].state.property: device hallway_motion (sensor) does not expose 'temperature'; it has: motion, illuminance",
        ),
        (
            "- state:\n    device: car\n    property: gear\n    to: X",
            "- delay: 1s",
            "a.yaml:7: rules[0].triggers[0].state.to: car.gear: 'X' is not allowed; it must be one of P, R, N, D",
        ),
        (
            "- state: {device: car, property: locked, from: 1}",
            "- delay: 1s",
            "a.yaml:4: rules[0].triggers[0].state.from: car.locked: 1 is not allowed; it must be true or false",
        ),
        (
            "- numeric: {device: car, property: gear, above: 1}",
            "- delay: 1s",
            "a.yaml:4: rules[0].triggers[0].numeric.property: `numeric` needs a number, but car.gear is enum",
        ),
        (
            "- event: {device: car, event: honk}",
            "- delay: 1s",
            "a.yaml:4: rules[0].triggers[0].event.event: device car (car) has no event 'honk'; it has: honked, lights_flashed, charge_complete; did you mean 'honked'?",
        ),
        (
            "- event: {device: phone_chen_wei, event: notification, args: {msg: hi}}",
            "- delay: 1s",
            "a.yaml:4: rules[0].triggers[0].event.args.msg: phone_chen_wei.notification: unknown argument 'msg'; it takes message",
        ),
        (
            "- geofence: {device: living_room_ac, event: enter}",
            "- delay: 1s",
            "a.yaml:4: rules[0].triggers[0].geofence.device: device living_room_ac (climate) has no `location`",
        ),
        (
            "- geofence: {device: car, place: office, event: enter}",
            "- delay: 1s",
            "a.yaml:4: rules[0].triggers[0].geofence.place: no place 'office'; places: home",
        ),
        (
            "- geofence: {type: phones, event: enter}",
            "- delay: 1s",
            "a.yaml:4: rules[0].triggers[0].geofence.type: no device of type 'phones' in space 'Chen family'; types here: air_purifier, button, car, climate, cover, fan, light, lock, media_player, phone, plug, robot_dog, sensor, switch, vacuum, wearable; did you mean 'phone'?",
        ),
        (
            "- geofence: {type: light, event: enter}",
            "- delay: 1s",
            "a.yaml:4: rules[0].triggers[0].geofence.type: a light has no `location`",
        ),
        (
            "- cron: '0 7 * *'",
            "- delay: 1s",
            "a.yaml:4: rules[0].triggers[0].cron: cron line '0 7 * *' has 4 fields; it needs 5: minute hour day-of-month month day-of-week",
        ),
        (
            "- cron: '0 7 * * * *'",
            "- delay: 1s",
            "a.yaml:4: rules[0].triggers[0].cron: cron line '0 7 * * * *' has 6 fields; seconds are not supported: use 5 fields, minute hour day-of-month month day-of-week",
        ),
        (
            "- cron: '61 7 * * *'",
            "- delay: 1s",
            "a.yaml:4: rules[0].triggers[0].cron: invalid cron line '61 7 * * *': [61 7 * * *] is not acceptable, out of range",
        ),
        (
            "- cron: '0 7 * * *'",
            "- set: {device: car, property: battery_soc, value: 50}",
            "a.yaml:6: rules[0].actions[0].set.property: car.battery_soc is read-only; it cannot be set",
        ),
        (
            "- cron: '0 7 * * *'",
            "- set:\n    device: car\n    property: cabin_target_temp\n    value: 99",
            "a.yaml:9: rules[0].actions[0].set.value: car.cabin_target_temp: 99 is not allowed; it must be a number from 16 to 30 °C",
        ),
        (
            "- cron: '0 7 * * *'",
            "- call: {device: cyberdog, action: fly}",
            "a.yaml:6: rules[0].actions[0].call.action: device cyberdog (robot_dog) has no action 'fly'; it has: stand, sit, lie_down, follow, patrol, dock, stop",
        ),
        (
            "- cron: '0 7 * * *'",
            "- call: {device: cyberdog, action: patrol}",
            "a.yaml:6: rules[0].actions[0].call.args: cyberdog.patrol: missing argument 'area' (a text of at most 100 characters)",
        ),
        (
            "- cron: '0 7 * * *'",
            "- call: {device: cyberdog, action: patrol, args: {area: 5}}",
            "a.yaml:6: rules[0].actions[0].call.args: cyberdog.patrol(area): 5 is not allowed; it must be a text of at most 100 characters",
        ),
        (
            "- cron: '0 7 * * *'",
            "- call: {device: cyberdog, action: patrol, args: {room: '{{ 1 }}', area: x}}",
            "a.yaml:6: rules[0].actions[0].call.args.room: cyberdog.patrol: unknown argument 'room'; it takes area",
        ),
        (
            "- cron: '0 7 * * *'",
            "- scene: movie",
            "a.yaml:6: rules[0].actions[0].scene: no scene 'movie'; scenes: none defined",
        ),
        (
            "- cron: '0 7 * * *'",
            "- notify: {type: light, message: hi}",
            "a.yaml:6: rules[0].actions[0].notify.type: a light has no action `notify`",
        ),
        (
            "- cron: '0 7 * * *'",
            "- notify: {device: living_room_ac, message: hi}",
            "a.yaml:6: rules[0].actions[0].notify.device: device living_room_ac (climate) cannot be notified",
        ),
        (
            "- cron: '0 7 * * *'",
            "- if:\n    - state: {device: car, property: gear, is: X}\n  then:\n    - call: {device: car, action: fly}",
            "a.yaml:7: rules[0].actions[0].if[0].state.is: car.gear: 'X' is not allowed; it must be one of P, R, N, D",
        ),
    ],
)
def test_space_problems_have_lines(demo: Space, triggers: str, actions: str, expected: str) -> None:
    assert expected in problems(rule(triggers=triggers, actions=actions), demo)


def test_condition_problems_have_lines(demo: Space) -> None:
    text = rule(
        "    conditions:",
        "      - state: {device: robot_vacuum, property: status, in: [docked, flying]}",  # 8
        "      - state: {device: robot_vacuum, property: status, above: 3}",  # 9
        "      - state: {device: car, property: locked, is_not: maybe}",  # 10
        "      - geo: {device: hallway_light, place: mars, below_km: 1}",  # 11
        "      - or:",
        "          - not: {template: '{{ 1 + }}'}",  # 13
    )
    assert problems(text, demo) == [
        "a.yaml:8: rules[0].conditions[0].state.in[1]: robot_vacuum.status: 'flying' is not allowed; it must be one of docked, cleaning, paused, returning",
        "a.yaml:9: rules[0].conditions[1].state.above: `above` needs a number, but robot_vacuum.status is enum",
        "a.yaml:10: rules[0].conditions[2].state.is_not: car.locked: 'maybe' is not allowed; it must be true or false",
        "a.yaml:11: rules[0].conditions[3].geo.device: device hallway_light (light) has no `location`",
        "a.yaml:11: rules[0].conditions[3].geo.place: no place 'mars'; places: home",
        "a.yaml:13: rules[0].conditions[4].or[0].not.template: template '{{ 1 + }}' does not compile: unexpected 'end of template'",
    ]


def test_template_syntax_errors_anywhere(demo: Space) -> None:
    text = rule(
        actions="\n".join(
            [
                "- set: {device: living_room_ac, property: target_temp, value: '{{ 20 +* 2 }}'}",
                "- notify: {device: phone_chen_wei, message: '{% if x %}open'}",
                "- call: {device: cyberdog, action: follow, args: {target: '{{ ( }}'}}",
                "- notify: {device: phone_chen_wei, message: 'fine {{ now.hour }}'}",
            ]
        )
    )
    lines = problems(text, demo)
    assert [line.split(": template")[0] for line in lines] == [
        "a.yaml:6: rules[0].actions[0].set.value",
        "a.yaml:7: rules[0].actions[1].notify.message",
        "a.yaml:8: rules[0].actions[2].call.args.target",
    ]
    assert lines[0].endswith("does not compile: unexpected '*'")


def test_sun_and_home_need_a_location() -> None:
    flat = parse_space(NO_LOCATION, "flat.yaml")
    text = rule(
        "    conditions:",
        "      - sun: {after: sunset}",  # 9
        "      - someone_home: true",  # 10
        triggers="- sun: {event: sunset}\n- geofence: {device: phone, event: enter}",
    )
    assert problems(text, flat) == [
        "a.yaml:4: rules[0].triggers[0].sun: sunrise and sunset need the space's `location`",
        "a.yaml:5: rules[0].triggers[1].geofence.place: place 'home' needs the space's `location` (or a place `home`)",
        "a.yaml:9: rules[0].conditions[0].sun: sunrise and sunset need the space's `location`",
        "a.yaml:10: rules[0].conditions[1].someone_home: `someone_home` needs the space's `location` (or a place `home`)",
    ]


def test_scene_problems_have_lines(demo: Space) -> None:
    text = "\n".join(
        [
            "scenes:",
            "  - id: s",
            "    name: S",
            "    states:",
            "      cra: {on: true}",  # 5
            "      car:",
            "        cabin_temp: 20",  # 7
            "        windows_position: 150",  # 8
            "        locked: false",  # 9
            "    actions:",
            "      - delay: 5s",  # 11
            "      - scene: s",  # 12
            "      - notify: {type: phone, message: '{{ oops'}",  # 13
            "",
        ]
    )
    assert problems(text, demo) == [
        "a.yaml:5: scenes[0].states.cra: no device 'cra' in space 'Chen family'; did you mean 'car'?",
        "a.yaml:7: scenes[0].states.car.cabin_temp: car.cabin_temp is read-only; it cannot be set",
        "a.yaml:8: scenes[0].states.car.windows_position: car.windows_position: 150 is not allowed; it must be an integer from 0 to 100 %",
        "a.yaml:11: scenes[0].actions[0]: a scene's actions may only be set, call or notify, not delay",
        "a.yaml:12: scenes[0].actions[1]: a scene's actions may only be set, call or notify, not scene",
        "a.yaml:13: scenes[0].actions[2].notify.message: template '{{ oops' does not compile: unexpected end of template, expected 'end of print statement'.",
    ]


def test_a_broken_scene_is_still_known_by_name(demo: Space) -> None:
    text = "scenes:\n  - {id: s, name: S}\nrules:\n" + rule(actions="- scene: s").split("\n", 1)[1]
    assert problems(text, demo) == [
        "a.yaml:2: scenes[0]: scene 's' sets no `states` and has no `actions`"
    ]


# ---------------------------------------------------------------------------- several files


def test_problems_of_several_files_are_all_reported(demo: Space, tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(rule(actions="- scene: nope"))
    (tmp_path / "a.yaml").write_text("rules: [\n")
    (tmp_path / "c.yaml").write_text(
        rule(triggers="- state: {device: car, property: locked, to: 1}", actions="- delay: x")
    )
    with pytest.raises(AutomationError) as err:
        load_automations(demo, tmp_path)
    a, b, c = (tmp_path / n for n in ("a.yaml", "b.yaml", "c.yaml"))
    assert err.value.path == str(tmp_path)
    assert [line.split(": ", 1)[0] for line in err.value.lines] == [f"{a}:1", f"{b}:6", f"{c}:6"]
    assert str(err.value) == "\n".join(err.value.lines)
    assert (
        err.value.lines[1]
        == f"{b}:6: rules[0].actions[0].scene: no scene 'nope'; scenes: none defined"
    )


def test_duplicate_ids_across_files_name_the_other(demo: Space, tmp_path: Path) -> None:
    scene = "scenes:\n  - id: s\n    name: S\n    states: {hallway_light: {on: true}}\n"
    place = "places:\n  - {id: p, lat: 1, lon: 2}\n"
    (tmp_path / "a.yaml").write_text(place + scene + rule())
    (tmp_path / "b.yaml").write_text(rule() + scene + place)
    with pytest.raises(AutomationError) as err:
        load_automations(demo, tmp_path)
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    assert err.value.lines == [
        f"{b}:2: rules[0].id: duplicate rule id 'r' (also in {a}:8)",
        f"{b}:8: scenes[0].id: duplicate scene id 's' (also in {a}:4)",
        f"{b}:12: places[0].id: duplicate place id 'p' (also in {a}:2)",
    ]


def test_duplicate_ids_in_one_file(demo: Space) -> None:
    text = rule("  - id: r", "    triggers: [{cron: '* * * * *'}]", "    actions: [{delay: 1s}]")
    assert problems(text, demo) == [
        "a.yaml:7: rules[1].id: duplicate rule id 'r' (also in a.yaml:2)"
    ]


def test_error_sorts_by_file_then_line() -> None:
    err = AutomationError(
        "d", [("b", Problem(1, "x")), ("a", Problem(9, "y")), ("a", Problem(2, "z"))]
    )
    assert str(err) == "a:2: z\na:9: y\nb:1: x"


# ---------------------------------------------------------------------------- writing


def test_dump_rule_round_trips(demo: Space) -> None:
    book = parse_automations(GOOD.read_text(), "good.yaml", demo)
    for r in book.rules.values():
        text = dump_rule(r)
        assert Rule.model_validate(to_plain(yaml_12(lines=True).load(text))) == r
    text = dump_rule(book.rules["air_watch"])
    assert "  - offline: {device: [living_room_purifier, cyberdog], for: 1h}\n" in text
    assert "  - set: {device: car, property: locked, value: false}\n" in text


NEW = Rule.model_validate(
    {
        "id": "porch",
        "triggers": [{"state": {"device": "hallway_motion", "property": "motion", "to": True}}],
        "actions": [{"set": {"device": "hallway_light", "property": "on", "value": True}}],
    }
)


def test_append_rule_creates_and_extends_a_file(demo: Space, tmp_path: Path) -> None:
    path = tmp_path / "automations" / "assistant.yaml"
    append_rule(path, NEW, demo)
    assert path.read_text() == dump_rule_in_file(NEW)
    second = NEW.model_copy(update={"id": "porch_two"})
    append_rule(path, second, demo)
    book = load_automations(demo, path.parent)
    assert list(book.rules) == ["porch", "porch_two"]
    assert book.rules["porch_two"] == second
    assert book.sources["rule:porch_two"][1] == 7


def dump_rule_in_file(r: Rule) -> str:
    return "rules:\n" + "".join(
        ("  - " if i == 0 else "    ") + line + "\n"
        for i, line in enumerate(dump_rule(r).splitlines())
    )


def test_append_rule_keeps_comments(demo: Space, tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "# my rules\nrules:\n  - id: r  # the first\n    triggers: [{cron: '0 7 * * *'}]\n    actions: [{delay: 1s}]\n"
    )
    append_rule(path, NEW, demo)
    text = path.read_text()
    assert text.startswith("# my rules\nrules:\n  - id: r  # the first\n")
    assert list(load_automations(demo, path).rules) == ["r", "porch"]


def test_append_rule_refuses_and_restores(demo: Space, tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    before = (
        "rules:\n  - id: porch\n    triggers: [{cron: '0 7 * * *'}]\n    actions: [{delay: 1s}]\n"
    )
    path.write_text(before)
    with pytest.raises(AutomationError) as err:
        append_rule(path, NEW, demo)
    assert err.value.lines == [
        f"{path}:5: rules[1].id: duplicate rule id 'porch' (also in {path}:2)"
    ]
    assert path.read_text() == before
    bad = Rule.model_validate(
        {**NEW.model_dump(by_alias=True), "id": "bad", "actions": [{"scene": "nope"}]}
    )
    fresh = tmp_path / "fresh.yaml"
    with pytest.raises(AutomationError):
        append_rule(fresh, bad, demo)
    assert not fresh.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.yaml"]


def test_append_rule_refuses_a_broken_file(demo: Space, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("rules: [\n")
    with pytest.raises(AutomationError) as err:
        append_rule(path, NEW, demo)
    assert err.value.lines[0].startswith(f"{path}:1: YAML syntax error")
    assert path.read_text() == "rules: [\n"


def test_the_shipped_demo_automations_load(demo: Space) -> None:
    book = load_automations(demo)
    assert set(book.rules) == {
        "arriving_home_ac",
        "arriving_home_garage",
        "arriving_home_hallway_light",
        "leaving_home",
        "good_night",
        "car_preconditioning",
        "purifier_on_pm25",
        "robot_dog_patrol",
    }
    assert set(book.scenes) == {"arriving_home", "leaving_home", "good_night", "movie_night"}
    assert "回家模式" in book.scenes["arriving_home"].aliases
    assert ("rule:arriving_home_garage", "garage_door.open") in book.risky
    assert (ROOT / "examples/demo/automations").resolve() == (
        ROOT / "src/hyperhub/demo/automations"
    ).resolve()

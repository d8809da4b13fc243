"""The CLI end to end: real processes, a real SQLite file in a temporary data dir."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.cells import cell_len
from tests.helpers.wait import wait_until

from hyperhub.config import demo_space
from hyperhub.store import StateStore

EVAL_SPACE = Path(__file__).resolve().parents[2] / "examples" / "second_space.yaml"


def hyperhub(
    data_dir: Path,
    *args: str,
    check: bool = False,
    columns: int = 200,
    cwd: Path | None = None,
    lang: str = "en",
) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYPERHUB_DATA_DIR": str(data_dir), "COLUMNS": str(columns)}
    env["HYPERHUB_LANG"] = lang  # whatever the machine's locale
    env.pop("HYPERHUB_SPACE", None)
    env.pop("HYPERHUB_DB", None)
    proc = subprocess.run(
        [sys.executable, "-m", "hyperhub", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=cwd,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"hyperhub {args} failed: {proc.stderr}")
    return proc


def as_json(proc: subprocess.CompletedProcess):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0]


def test_check_accepts_the_demo(tmp_path):
    out = as_json(hyperhub(tmp_path, "check", str(demo_space()), "--json"))
    assert out["ok"] is True and out["devices"] >= 30 and len(out["types"]) == 16


def test_check_lists_every_problem_and_exits_non_zero(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "space: Bad\nareas: []\ndevices:\n"
        "  - {id: a, type: toaster}\n"
        "  - {id: b, type: light, state: {brightness: 101}}\n"
    )
    proc = hyperhub(tmp_path, "check", str(bad))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"{bad}:4: device a: unknown type 'toaster'; known types: air_purifier, button, car, climate, "
        "cover, fan, light, lock, media_player, phone, plug, robot_dog, sensor, switch, vacuum, "
        "wearable",
        f"{bad}:5: b.brightness: 101 is not allowed; it must be an integer from 0 to 100 %",
    ]


def test_devices_filters_by_type_and_area(tmp_path):
    lights = as_json(hyperhub(tmp_path, "devices", "--type", "light", "--json"))
    assert lights and all(d["type"] == "light" for d in lights)
    garage = as_json(hyperhub(tmp_path, "devices", "--area", "garage", "--json"))
    assert garage and all(d["area"] == "garage" for d in garage)


def test_devices_with_unknown_area_is_a_one_line_error(tmp_path):
    assert_one_line_error(
        hyperhub(tmp_path, "devices", "--area", "attic"), "no area 'attic' in space"
    )


def test_set_persists_and_applies_side_effects(tmp_path):
    before = as_json(hyperhub(tmp_path, "state", "living_room_light", "--json"))["state"]
    hyperhub(tmp_path, "set", "living_room_light", "on", "false", check=True)
    out = as_json(hyperhub(tmp_path, "set", "living_room_light", "brightness", "35", "--json"))
    assert out["changes"] == {"on": True, "brightness": 35}
    after = as_json(hyperhub(tmp_path, "state", "living_room_light", "--json"))["state"]
    assert after["brightness"] == 35 and after["on"] is True
    assert before != after


def test_set_out_of_range_is_refused_and_changes_nothing(tmp_path):
    before = as_json(hyperhub(tmp_path, "state", "living_room_light", "--json"))["state"]
    proc = hyperhub(tmp_path, "set", "living_room_light", "brightness", "150")
    assert_one_line_error(proc, "living_room_light.brightness: 150 is not allowed", "0 to 100")
    assert as_json(hyperhub(tmp_path, "state", "living_room_light", "--json"))["state"] == before


def test_set_read_only_and_unknown_things_are_named(tmp_path):
    assert_one_line_error(hyperhub(tmp_path, "set", "car", "battery_soc", "50"), "read-only")
    assert_one_line_error(hyperhub(tmp_path, "set", "toaster", "on", "true"), "no device 'toaster'")
    assert_one_line_error(
        hyperhub(tmp_path, "set", "living_room_light", "flux", "1"), "has no property 'flux'"
    )


def test_risky_action_needs_yes_and_both_attempts_are_audited(tmp_path):
    refused = hyperhub(tmp_path, "call", "front_door_lock", "unlock")
    assert_one_line_error(
        refused,
        "Unlock Front Door Lock needs confirmation: anyone could walk in (front_door_lock.unlock); add --yes to do it",
    )
    assert as_json(hyperhub(tmp_path, "state", "front_door_lock", "--json"))["state"]["locked"]
    out = as_json(hyperhub(tmp_path, "call", "front_door_lock", "unlock", "--yes", "--json"))
    assert out["changes"] == {"locked": False}
    with StateStore.open(data_dir=tmp_path) as store:
        entries = store.audit_log(device="front_door_lock")
    assert [(e.actor, e.result) for e in entries] == [("cli", "ok"), ("cli", "error")]
    assert "needs confirmation" in entries[1].message


def test_cover_travel_completes_for_one_shot_commands(tmp_path):
    out = as_json(hyperhub(tmp_path, "call", "living_room_curtain", "open", "--json"))
    assert out["state"]["position"] == 100


def test_call_with_arguments_emits_the_event(tmp_path):
    phones = as_json(hyperhub(tmp_path, "devices", "--type", "phone", "--json"))
    phone = phones[0]["id"]
    out = as_json(hyperhub(tmp_path, "call", phone, "notify", "message=晚饭好了", "--json"))
    assert out["events"] == ["notification"]
    bad = hyperhub(tmp_path, "call", phone, "notify", "volume=3")
    assert_one_line_error(bad, "has no argument 'volume'")


def test_history_returns_the_values_written(tmp_path):
    for level in ("10", "20", "30"):
        hyperhub(tmp_path, "set", "living_room_light", "brightness", level, check=True)
    points = as_json(
        hyperhub(tmp_path, "history", "living_room_light", "brightness", "--since", "1h", "--json")
    )
    assert [p["value"] for p in points][-3:] == [10, 20, 30]
    assert_one_line_error(
        hyperhub(tmp_path, "history", "living_room_light", "brightness", "--since", "yesterday"),
        "bad time 'yesterday'",
    )


def test_another_space_is_remembered_by_run_and_used_by_later_commands(tmp_path):
    hyperhub(
        tmp_path,
        "run",
        "--space",
        str(EVAL_SPACE),
        "--broker-port",
        "0",
        "--port",
        "0",
        "--duration",
        "0.3s",
        "--no-llm",  # the hub would load the model at start (a fresh data dir: assemble, merge)
        check=True,
    )
    listed = as_json(hyperhub(tmp_path, "devices", "--json"))
    from hyperhub.space import load_space

    assert {d["id"] for d in listed} == set(load_space(EVAL_SPACE).devices)


def test_the_demo_is_remembered_as_the_demo_not_as_a_path(tmp_path):
    """A data dir shared by two installs pinned the first one's packaged demo: the second ran
    the other checkout's space and automations."""
    hyperhub(tmp_path, "devices", "--json", check=True)  # a fresh data dir: the demo
    with StateStore.open(data_dir=tmp_path) as store:
        assert store.get_meta("space_path") == "demo"
    listed = as_json(hyperhub(tmp_path, "devices", "--json"))
    from hyperhub.config import demo_space
    from hyperhub.space import load_space

    assert {d["id"] for d in listed} == set(load_space(demo_space()).devices)


def test_run_ticks_the_simulation_into_the_store_and_stops_cleanly(tmp_path):
    proc = hyperhub(
        tmp_path, "run", "--broker-port", "0", "--port", "0", "--duration", "1.5s", "--tick", "0.1",
        "--no-llm",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "stopped:" in proc.stderr
    with StateStore.open(data_dir=tmp_path) as store:
        states = store.current_all()
    assert len(states) >= 30


def start_hub(tmp_path: Path, *extra: str) -> subprocess.Popen:
    """`hyperhub run` in the background on a free broker port; returns once it is serving."""
    env = {**os.environ, "HYPERHUB_DATA_DIR": str(tmp_path)}
    hub = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hyperhub",
            "run",
            "--broker-port",
            "0",
            "--port",
            "0",  # the API on a free port: tests may run beside a hub on 8321
            "--duration",
            "120s",
            "--no-llm",
            *extra,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    info = tmp_path / "hub.json"
    for _ in range(300):  # bounded: up to ~30 s for the broker, fabric and node to come up
        if info.exists() and json.loads(info.read_text())["pid"] == hub.pid:
            return hub
        if hub.poll() is not None:
            pytest.fail(f"the hub exited: {hub.stderr.read() if hub.stderr else ''}")
        time.sleep(0.1)
    hub.kill()
    pytest.fail("the hub did not come up")


def stop_hub(hub: subprocess.Popen) -> str:
    if hub.poll() is None:
        hub.send_signal(signal.SIGTERM)
    try:
        _, stderr = hub.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        hub.kill()
        _, stderr = hub.communicate(timeout=10)
    return stderr or ""


def test_commands_go_through_a_running_hub_and_a_second_hub_is_refused(tmp_path):
    hub = start_hub(tmp_path)
    try:
        out = as_json(hyperhub(tmp_path, "set", "living_room_light", "brightness", "41", "--json"))
        assert out["via"] == "hub"
        assert out["changes"] == {"brightness": 41} or out["changes"] == {
            "on": True,
            "brightness": 41,
        }
        assert_one_line_error(
            hyperhub(tmp_path, "call", "front_door_lock", "unlock"),
            "needs confirmation: anyone could walk in (front_door_lock.unlock); add --yes to do it",
        )
        assert_one_line_error(
            hyperhub(tmp_path, "set", "living_room_light", "brightness", "101"), "0 to 100"
        )
        assert_one_line_error(
            hyperhub(tmp_path, "run", "--broker-port", "0"), "a hub is already running"
        )

        def stored() -> bool:
            state = as_json(hyperhub(tmp_path, "state", "living_room_light", "--json"))["state"]
            return state["brightness"] == 41

        wait_until(
            stored, "the hub to store the new brightness", timeout=60.0
        )  # each look runs a `hyperhub`: ~1 s
    finally:
        stderr = stop_hub(hub)
    assert hub.returncode == 0, stderr
    with StateStore.open(data_dir=tmp_path) as store:
        entries = store.audit_log(device="front_door_lock")
    assert [(e.actor, e.result) for e in entries] == [("cli", "error")]
    assert not (tmp_path / "hub.json").exists()


def test_a_separate_node_process_hosts_the_car_and_the_hub_reaches_it(tmp_path):
    added = as_json(hyperhub(tmp_path, "nodes", "add", "car_node", "--only", "car", "--json"))
    assert added["devices"] == ["car"]
    hub = start_hub(tmp_path)
    info = json.loads((tmp_path / "hub.json").read_text())
    assert info["local_devices"] == len(as_json(hyperhub(tmp_path, "devices", "--json"))) - 1
    url = added["broker"].replace(":18830", f":{info['broker_port']}")
    env = {**os.environ, "HYPERHUB_DATA_DIR": str(tmp_path / "node")}
    node = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hyperhub",
            "node",
            "--broker",
            url,
            "--only",
            "car",
            "--duration",
            "120s",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def car_answers() -> bool:
            proc = hyperhub(tmp_path, "call", "car", "honk", "--json")
            return proc.returncode == 0 and json.loads(proc.stdout)["via"] == "hub"

        wait_until(car_answers, "the car node to join", timeout=120.0)
        out = as_json(hyperhub(tmp_path, "set", "car", "charge_limit", "90", "--json"))
        assert out["changes"] == {"charge_limit": 90}
        node.send_signal(signal.SIGTERM)
        node.communicate(timeout=30)
        gone = hyperhub(tmp_path, "call", "car", "honk")
        assert_one_line_error(gone, "car")
        assert "offline" in gone.stderr or "unavailable" in gone.stderr
    finally:
        if node.poll() is None:
            node.kill()
            node.communicate(timeout=10)
        stderr = stop_hub(hub)
    assert hub.returncode == 0, stderr


def test_bad_usage_exits_non_zero_without_a_traceback(tmp_path):
    proc = hyperhub(tmp_path, "set", "living_room_light")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "Missing argument" in proc.stderr


def test_the_amqtt_fallback_broker_carries_commands_too(tmp_path):
    hub = start_hub(tmp_path, "--broker-kind", "amqtt")
    try:
        assert json.loads((tmp_path / "hub.json").read_text())["broker_kind"] == "amqtt"
        out = as_json(hyperhub(tmp_path, "call", "living_room_curtain", "close", "--json"))
        assert out["via"] == "hub"
        assert_one_line_error(
            hyperhub(tmp_path, "set", "living_room_light", "color_temp", "9000"), "2000 to 6500"
        )
    finally:
        stderr = stop_hub(hub)
    assert hub.returncode == 0, stderr


def test_nodes_add_refuses_unknown_devices_and_reserved_names(tmp_path):
    assert_one_line_error(
        hyperhub(tmp_path, "nodes", "add", "car_node", "--only", "car,spaceship"),
        "no device 'spaceship'",
    )
    assert_one_line_error(hyperhub(tmp_path, "nodes", "add", "hub", "--only", "car"), "reserved")
    assert as_json(hyperhub(tmp_path, "nodes", "list", "--json")) == []


def test_node_with_a_bad_backend_or_broker_url_is_a_one_line_error(tmp_path):
    assert_one_line_error(
        hyperhub(tmp_path, "node", "--broker", "http://x", "--only", "car"), "bad broker URL"
    )
    assert_one_line_error(
        hyperhub(
            tmp_path,
            "node",
            "--broker",
            "mqtt://a:b@127.0.0.1:1",
            "--only",
            "car",
            "--backend",
            "no_such_module:make",
        ),
        "cannot load backend 'no_such_module:make'",
    )


def test_nodes_add_after_a_run_takes_devices_from_the_hub_and_remove_gives_them_back(tmp_path):
    """`nodes add` failed once `run` had used the data dir ("already belongs to node
    'local'"), printed port 18830 whatever the hub used, and there was no `nodes remove`."""
    hub = start_hub(tmp_path)
    port = json.loads((tmp_path / "hub.json").read_text())["broker_port"]
    stop_hub(hub)
    assert not (tmp_path / "hub.json").exists()
    added = as_json(hyperhub(tmp_path, "nodes", "add", "car_node", "--only", "car", "--json"))
    assert added["devices"] == ["car"] and added["broker"].endswith(f"@127.0.0.1:{port}")
    nodes = {
        n["node"]: n["devices"] for n in as_json(hyperhub(tmp_path, "nodes", "list", "--json"))
    }
    assert nodes["car_node"] == ["car"] and "car" not in nodes["local"]
    assert_one_line_error(
        hyperhub(tmp_path, "nodes", "add", "local", "--only", "car"), "hub's own node"
    )
    removed = as_json(hyperhub(tmp_path, "nodes", "remove", "car_node", "--json"))
    assert removed["devices"] == ["car"]
    assert_one_line_error(hyperhub(tmp_path, "nodes", "remove", "car_node"), "no node 'car_node'")
    assert_one_line_error(hyperhub(tmp_path, "nodes", "remove", "local"), "cannot be removed")
    hub = start_hub(tmp_path)  # the car is the hub's own again
    try:
        info = json.loads((tmp_path / "hub.json").read_text())
        assert info["local_devices"] == len(as_json(hyperhub(tmp_path, "devices", "--json")))
    finally:
        stop_hub(hub)


def test_ask_and_chat_act_on_a_running_hub_and_dry_run_changes_nothing(tmp_path):
    """With a hub running, `ask` claimed "OK, … unlocked" while nothing happened (it only
    simulated); now it acts through the hub, audited, and `--dry-run` simulates."""
    hub = start_hub(tmp_path)
    try:
        hyperhub(tmp_path, "set", "kitchen_light", "on", "true", check=True)
        done = hyperhub(tmp_path, "ask", "turn off the kitchen light", check=True)
        assert "sent through the hub" in done.stdout and "kitchen_light.on → false" in done.stdout
        assert (
            as_json(hyperhub(tmp_path, "state", "kitchen_light", "--json"))["state"]["on"] is False
        )
        dry = hyperhub(tmp_path, "ask", "turn on the kitchen light", "--dry-run", check=True)
        assert "simulated: nothing was sent" in dry.stdout
        assert (
            as_json(hyperhub(tmp_path, "state", "kitchen_light", "--json"))["state"]["on"] is False
        )
        env = {**os.environ, "HYPERHUB_DATA_DIR": str(tmp_path)}
        env.pop("HYPERHUB_SPACE", None)
        chat = subprocess.run(
            [sys.executable, "-m", "hyperhub", "chat", "--json"],
            input="unlock the front door\nyes\n",
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert chat.returncode == 0, chat.stderr
        first, second = (json.loads(line) for line in chat.stdout.splitlines())
        assert first["needs_confirmation"] and first["changes"] == {}
        assert second["changes"] == {"front_door_lock": {"locked": False}}
        lock = as_json(hyperhub(tmp_path, "state", "front_door_lock", "--json"))["state"]
        assert lock["locked"] is False
        # what a command did, in words: "nothing to change" was printed while curtains moved
        moving = hyperhub(tmp_path, "set", "living_room_curtain", "position", "100", check=True)
        assert "accepted; it reports the change as it happens" in moving.stdout
        same = hyperhub(tmp_path, "set", "kitchen_light", "on", "false", check=True)
        assert "nothing to change (already so)" in same.stdout
        notified = hyperhub(tmp_path, "call", "phone_li_na", "notify", "message=hi", check=True)
        assert "notify done" in notified.stdout
    finally:
        stderr = stop_hub(hub)
    assert "Traceback" not in stderr
    with StateStore.open(data_dir=tmp_path) as store:
        actors = {(e.actor, e.device_id, e.result) for e in store.audit_log(limit=20)}
    assert ("ask:cli", "kitchen_light", "ok") in actors
    assert ("chat:cli", "front_door_lock", "ok") in actors


def test_the_readme_examples_say_what_they_print(tmp_path):
    """The README's examples (the demo space, a fresh data dir): each `$ hyperhub …` line is
    run; the output lines under it are what it prints (`…` ends a line early)."""
    import shlex

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("Examples (the demo space):", 1)[1].split("```console\n", 1)[1]
    block = block.split("```", 1)[0]
    runs: list[tuple[list[str], list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ hyperhub "):
            runs.append((shlex.split(line[len("$ hyperhub ") :]), []))
        else:
            runs[-1][1].append(line)
    assert len(runs) >= 4
    for args, expected in runs:
        proc = hyperhub(tmp_path, *args)
        got = (proc.stdout + proc.stderr).strip().splitlines()
        assert proc.returncode == (1 if any(e.startswith("error:") for e in expected) else 0)
        for want, line in zip(expected, got, strict=False):
            assert line.startswith(want.removesuffix("…}").removesuffix("…")), (args, line)
        assert len(got) >= len(expected), (args, got)


def test_devices_and_areas_by_name_alias_or_id_and_helpful_misses(tmp_path):
    by_name = as_json(hyperhub(tmp_path, "state", "Living Room Thermometer", "--json"))
    assert by_name["device"] == "living_room_climate_sensor"
    assert as_json(hyperhub(tmp_path, "state", "living_room_thermometer", "--json")) == by_name
    kitchen = as_json(hyperhub(tmp_path, "devices", "--area", "Kitchen", "--json"))
    assert kitchen and {d["area"] for d in kitchen} == {"kitchen"}
    assert as_json(hyperhub(tmp_path, "devices", "--area", "厨房", "--json")) == kitchen
    assert_one_line_error(
        hyperhub(tmp_path, "state", "living_room_thermomter"),
        "did you mean Living Room Thermometer (living_room_climate_sensor)",
    )
    assert_one_line_error(hyperhub(tmp_path, "devices", "--area", "Kichen"), "did you mean Kitchen")
    assert_one_line_error(
        hyperhub(tmp_path, "set", "garage door", "position", "100"), "add --yes to do it"
    )


SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
NARROW = [
    ("devices", ["devices"]),
    ("devices-garage", ["devices", "--area", "Garage", "--wide"]),
    ("devices-zh", ["devices", "--area", "Entrance"]),
    ("state-zh", ["state", "car"]),
    ("rules-list", ["rules", "list"]),
    ("scenes-list", ["scenes", "list"]),
    ("rules-list-zh", ["rules", "list"]),
    ("scenes-list-zh", ["scenes", "list"]),
]


@pytest.mark.parametrize(("name", "args"), NARROW, ids=[n for n, _ in NARROW])
def test_tables_at_80_columns_match_their_snapshots(tmp_path, name, args):
    """At 80 columns the tables squeezed columns to nothing and split ids and numbers
    mid-token. HYPERHUB_UPDATE_SNAPSHOTS=1 rewrites tests/cli/snapshots/ (look at the diff)."""
    # paths show relative to the working directory: run from the repository, as in any clone
    lang = "zh" if name.endswith("-zh") else "en"
    proc = hyperhub(tmp_path, *args, columns=80, cwd=Path(__file__).resolve().parents[2], lang=lang)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert max(cell_len(line) for line in text.splitlines()) <= 80  # a Chinese character: 2
    assert "…" not in text or name.startswith("devices")  # names cut only in the device table
    snapshot = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("HYPERHUB_UPDATE_SNAPSHOTS"):
        SNAPSHOTS.mkdir(exist_ok=True)
        snapshot.write_text(text)
    assert text == snapshot.read_text()


def test_commands_speak_in_names_and_words_in_the_terminals_language(tmp_path):
    """`set` said "OK living_room_light: brightness → 30", `call` "locked → false" and
    `history` printed ids and the machine's local ISO times."""
    done = hyperhub(tmp_path, "set", "living_room_light", "brightness", "30", check=True)
    assert done.stdout.strip() == "OK Ceiling Light: brightness → 30 %"
    asked = hyperhub(tmp_path, "call", "front_door", "unlock", lang="zh")
    assert asked.returncode == 1 and asked.stderr.strip() == (
        "错误：解锁前门需要确认：任何人都能走进来（front_door_lock.unlock）；加上 --yes 即可执行"
    )
    # any other error: why, in Chinese, then the English details
    wrong = hyperhub(tmp_path, "set", "Ceiling Light", "brightness", "500", lang="zh")
    assert wrong.returncode == 1 and wrong.stderr.strip() == (
        "错误：这个值不允许（living_room_light.brightness: 500 is not allowed; it must be an "
        "integer from 0 to 100 %）"
    )
    zh = hyperhub(tmp_path, "call", "front_door", "unlock", "--yes", check=True, lang="zh")
    assert zh.stdout.strip() == "好的 前门: 未上锁"  # its Chinese alias, its state in words
    honk = hyperhub(tmp_path, "call", "car", "honk", check=True)
    assert honk.stdout.splitlines() == ["OK SU7: honk done", "  event: honked"]
    hist = hyperhub(tmp_path, "history", "Ceiling Light", "brightness", "--since", "1d", lang="zh")
    assert hist.returncode == 0, hist.stderr
    lines = hist.stdout.splitlines()
    assert lines[0] == "客厅灯 · 亮度：1 个点"
    assert "时间（Asia/Shanghai）" in lines[2]  # the space's zone, labelled
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d .* 30 %", hist.stdout)

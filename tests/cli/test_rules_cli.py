"""`hyperhub rules …` and `hyperhub scenes …` on a small space (examples/second_space.yaml, in
Shanghai time) with an automations/ folder, a real SQLite file in a temporary data dir.

Commands run in this process through `run_cli` (the entry point: errors become one line and
an exit code) inside typer's `CliRunner` isolation; the running-hub test starts a real
`hyperhub run` process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from hyperhub.cli.main import run_cli
from hyperhub.store import StateStore

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = ZoneInfo("Asia/Shanghai")

HOME_FILE = """\
scenes:
  - id: huijia
    name: 回家模式
    aliases: [coming home]
    states:
      keting_dadeng: {on: true, brightness: 80}
      keting_chuanglian: {position: 0}
    actions:
      - call: {device: smart_door, action: unlock}
      - notify: {device: min_phone, message: Welcome home}

rules:
  - id: evening_lights
    name: Evening lights
    triggers:
      - time: "18:30"
    conditions:
      - someone_home: true
    actions:
      - set: {device: keting_dadeng, property: on, value: true}
  - id: arrive_home
    mode: restart
    triggers:
      - geofence: {device: min_phone, event: enter}
    actions:
      - scene: huijia
"""

NIGHT_FILE = """\
rules:
  - id: hood_off
    enabled: false
    triggers:
      - state: {device: chufang_renti, property: motion, to: false, for: 10m}
    actions:
      - set: {device: range_hood_switch, property: on, value: false}
"""

BROKEN_FILE = """\
rules:
  - id: broken
    triggers:
      - state: {device: no_such_lamp, property: on}
    actions:
      - set: {device: keting_dadeng, property: brightness, value: 150}
"""


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    def json(self):
        assert self.code == 0, self.stderr
        return json.loads(self.stdout)


@dataclass
class Home:
    space: Path
    automations: Path
    data: Path

    def env(self) -> dict[str, str]:
        return {
            "HYPERHUB_DATA_DIR": str(self.data),
            "HYPERHUB_SPACE": str(self.space),
            "HYPERHUB_LANG": "en",
            "COLUMNS": "250",
        }

    def run(self, *args: str, env: dict[str, str | None] | None = None) -> Ran:
        """`hyperhub ARGS` in this process, as the entry point runs it (`env`: more variables
        or, None, fewer)."""
        runner = CliRunner()
        saved = sys.argv
        env = {**self.env(), "HYPERHUB_DB": None, **(env or {})}
        with runner.isolation(env=env) as (stdout, stderr, _):
            sys.argv = ["hyperhub", *args]
            try:
                run_cli()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            finally:
                sys.argv = saved
                sys.stdout.flush()
                sys.stderr.flush()
            return Ran(code, stdout.getvalue().decode(), stderr.getvalue().decode())

    def store(self) -> StateStore:
        return StateStore.open(data_dir=self.data)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    text = (ROOT / "examples" / "second_space.yaml").read_text(encoding="utf-8")
    text = text.replace("\nareas:", "\ntimezone: Asia/Shanghai\n\nareas:", 1)
    folder = tmp_path / "flat"
    (folder / "automations").mkdir(parents=True)
    space = folder / "space.yaml"
    space.write_text(text, encoding="utf-8")
    (folder / "automations" / "home.yaml").write_text(HOME_FILE, encoding="utf-8")
    (folder / "automations" / "night.yaml").write_text(NIGHT_FILE, encoding="utf-8")
    return Home(space, folder / "automations", tmp_path / "data")


def one_line_error(ran: Ran, *needles: str) -> str:
    assert ran.code == 1, ran
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1, ran.stderr
    assert "Traceback" not in ran.stderr
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp()


def write_runs(home: Home) -> None:
    with home.store() as store:
        store.write_runs(
            [
                (
                    "arrive_home",
                    ts("2026-05-01 18:02:11"),
                    ts("2026-05-01 18:02:12"),
                    "ok",
                    "",
                    {"kind": "geofence", "description": "min_phone entered home (0.2 km)"},
                    [
                        {
                            "kind": "scene",
                            "what": "scene huijia",
                            "ok": True,
                            "message": "scene huijia: 5/5 done",
                        },
                    ],
                ),
                (
                    "arrive_home",
                    ts("2026-05-02 18:40:05"),
                    ts("2026-05-02 18:40:08"),
                    "error",
                    "smart_door.unlock(): device smart_door is offline",
                    {"kind": "geofence", "description": "min_phone entered home"},
                    [
                        {
                            "kind": "action",
                            "what": "keting_dadeng.on = True",
                            "ok": True,
                            "changes": {"on": True},
                        },
                        {
                            "kind": "action",
                            "what": "smart_door.unlock()",
                            "ok": False,
                            "message": "device smart_door is offline",
                        },
                    ],
                ),
                (
                    "gone_rule",
                    ts("2026-05-03 07:00:00"),
                    ts("2026-05-03 07:00:00"),
                    "ok",
                    "",
                    {"kind": "time", "description": "time 07:00"},
                    [],
                ),
            ]
        )


# ---------------------------------------------------------------------------- rules list


def test_rules_list_shows_every_rule_with_its_file_and_line(home):
    ran = home.run("rules", "list")
    assert ran.code == 0, ran.stderr
    assert "3 rules from" in ran.stdout
    for needle in (
        "evening_lights",
        "Evening lights",
        "arrive_home",
        "restart",
        "hood_off",
        "Every day at 18:30",
        "张敏的手机 enters Home",
        "home.yaml:13",
        "night.yaml:2",
        "never",
    ):
        assert needle in ran.stdout, needle

    rows = {r["id"]: r for r in home.run("rules", "list", "--json").json()}
    assert list(rows) == ["evening_lights", "arrive_home", "hood_off"]
    assert rows["evening_lights"] == {
        "id": "evening_lights",
        "name": "Evening lights",
        "description": None,
        "enabled": True,
        "mode": "single",
        "triggers": ["Every day at 18:30"],
        "last_run": None,
        "source": f"{home.automations / 'home.yaml'}:13",
        "definition": {
            "id": "evening_lights",
            "name": "Evening lights",
            "triggers": [{"time": {"at": ["18:30"]}}],
            "conditions": [{"someone_home": True}],
            "actions": [{"set": {"device": "keting_dadeng", "property": "on", "value": True}}],
        },
    }
    assert rows["hood_off"]["enabled"] is False
    assert rows["hood_off"]["triggers"] == ["厨房人体传感器: motion becomes clear for 10 min"]
    assert rows["arrive_home"]["name"] == "Arrive home"  # from the id, when it has no name


def test_rules_and_scenes_are_in_the_terminals_language(home):
    chinese = {"HYPERHUB_LANG": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "zh_CN.UTF-8"}
    rows = {r["id"]: r for r in home.run("rules", "list", "--json", env=chinese).json()}
    assert rows["evening_lights"]["triggers"] == ["每天 18:30"]
    assert rows["arrive_home"]["triggers"] == ["张敏的手机进入家（200 米内）"]
    assert rows["hood_off"]["triggers"] == ["厨房人体传感器的人体感应变为无人并持续 10 分钟"]
    [scene] = home.run("scenes", "list", "--json", env={"HYPERHUB_LANG": "zh"}).json()
    assert scene["sets"] == ["客厅大灯：开，亮度 80 %", "落地窗帘：开合度 0 %"]
    assert scene["actions"] == ["让智能门锁解锁", "通知张敏的手机：“Welcome home”"]
    table = home.run("scenes", "list", env={"HYPERHUB_LANG": "zh-CN"}).stdout
    assert "让智能门锁解锁" in table


def test_rules_list_shows_the_last_run_in_the_space_timezone(home):
    write_runs(home)
    rows = {r["id"]: r for r in home.run("rules", "list", "--json").json()}
    last = rows["arrive_home"]["last_run"]
    assert last["result"] == "error" and last["started"] == ts("2026-05-02 18:40:05")
    assert last["message"] == "smart_door.unlock(): device smart_door is offline"
    table = home.run("rules", "list").stdout
    assert "error 2026-05-02 18:40:05 —" in table  # Shanghai time, whatever the machine's


def test_rules_list_with_a_broken_file_lists_its_problems(home):
    (home.automations / "broken.yaml").write_text(BROKEN_FILE)
    ran = home.run("rules", "list")
    assert ran.code == 1 and ran.stdout == ""
    assert len(ran.stderr.strip().splitlines()) == 2
    assert f"{home.automations / 'broken.yaml'}:4: " in ran.stderr


# ---------------------------------------------------------------------------- rules check


def test_rules_check_counts_what_it_loaded(home):
    ran = home.run("rules", "check")
    assert ran.code == 0, ran.stderr
    assert ran.stdout.strip() == f"OK: 3 rules, 1 scenes, 1 places from {home.automations}"
    summary = home.run("rules", "check", "--json").json()
    assert summary["rules"] == 3 and summary["scenes"] == 1 and summary["places"] == 1
    assert {"in": "scene:huijia", "what": "smart_door.unlock"} in summary["risky"]

    one = home.run("rules", "check", str(home.automations / "night.yaml"))
    assert one.stdout.strip().startswith("OK: 1 rules, 0 scenes, 1 places from ")


def test_rules_check_lists_every_problem_as_file_line_and_exits_1(home, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.yaml").write_text(BROKEN_FILE)
    ran = home.run("rules", "check", str(bad))
    assert ran.code == 1
    assert ran.stdout == "" and "Traceback" not in ran.stderr
    file = bad / "broken.yaml"
    assert ran.stderr.strip().splitlines() == [
        f"{file}:4: rules[0].triggers[0].state.device: no device 'no_such_lamp' in space '张敏的公寓'",
        f"{file}:6: rules[0].actions[0].set.value: keting_dadeng.brightness: 150 is not allowed; "
        "it must be an integer from 0 to 100 %",
    ]
    as_json = home.run("rules", "check", str(bad), "--json")
    assert as_json.code == 1
    problems = json.loads(as_json.stdout)["problems"]
    assert [(p["file"], p["line"]) for p in problems] == [(str(file), 4), (str(file), 6)]


# ---------------------------------------------------------------------------- rules trace


def test_rules_trace_shows_the_stored_runs_newest_first(home):
    write_runs(home)
    ran = home.run("rules", "trace", "arrive_home")
    assert ran.code == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0] == "rule arrive_home (Arrive home): 2 runs, newest first"
    assert lines[1].startswith("2026-05-02 18:40:05  error  smart_door.unlock(): device")
    assert lines[2] == "  trigger: min_phone entered home"
    assert lines[3] == "  ✓ action    keting_dadeng.on = True  (on → true)"
    assert lines[4] == "  ✗ action    smart_door.unlock(): device smart_door is offline"
    assert lines[5] == "2026-05-01 18:02:11  ok"
    assert lines[6] == "  trigger: min_phone entered home (0.2 km)"
    assert lines[7] == "  ✓ scene     scene huijia: 5/5 done"

    runs = home.run("rules", "trace", "arrive_home", "--limit", "1", "--json").json()
    assert len(runs) == 1
    assert runs[0]["result"] == "error" and runs[0]["started"] == ts("2026-05-02 18:40:05")
    assert runs[0]["steps"][1] == {
        "kind": "action",
        "what": "smart_door.unlock()",
        "ok": False,
        "message": "device smart_door is offline",
    }


def test_rules_trace_of_a_rule_that_has_not_run(home):
    ran = home.run("rules", "trace", "evening_lights")
    assert ran.code == 0 and "has not run yet" in ran.stdout
    assert home.run("rules", "trace", "evening_lights", "--json").json() == []


def test_rules_trace_of_an_unknown_rule_is_one_line_with_a_suggestion(home):
    write_runs(home)
    one_line_error(
        home.run("rules", "trace", "evening_light"),
        "no rule 'evening_light'; did you mean 'evening_lights'?",
    )
    one_line_error(home.run("rules", "trace", "gone_rul"), "did you mean 'gone_rule'?")
    # not in the files any more, but it left traces: they are shown
    ran = home.run("rules", "trace", "gone_rule")
    assert ran.code == 0
    assert "no longer in the automation files" in ran.stdout and "time 07:00" in ran.stdout


# ---------------------------------------------------------------------------- scenes


def test_scenes_list(home):
    ran = home.run("scenes", "list")
    assert ran.code == 0, ran.stderr
    for needle in (
        "huijia",
        "回家模式",
        "coming home",
        "客厅大灯: on, brightness 80 %",
        "智能门锁: unlock",
        "Notify 张敏的手机: “Welcome home”",
        "smart_door.unlock",
        "home.yaml:2",
    ):
        assert needle in ran.stdout, needle
    [scene] = home.run("scenes", "list", "--json").json()
    assert scene["id"] == "huijia" and scene["aliases"] == ["coming home"]
    assert scene["states"]["keting_chuanglian"] == {"position": 0}
    assert scene["sets"] == ["客厅大灯: on, brightness 80 %", "落地窗帘: position 0 %"]
    assert scene["actions"] == ["智能门锁: unlock", "Notify 张敏的手机: “Welcome home”"]
    assert scene["definition"]["actions"][0] == {
        "call": {"device": "smart_door", "action": "unlock"}
    }
    assert scene["risky"] == ["smart_door.unlock"]
    assert len(scene["actions"]) == 2
    assert scene["source"] == f"{home.automations / 'home.yaml'}:2"


def test_scenes_apply_without_a_hub_changes_the_stored_state(home):
    assert home.run("state", "smart_door", "--json").json()["state"]["locked"] is True
    ran = home.run("scenes", "apply", "回家模式")  # by its name; its risky unlock runs
    assert ran.code == 0, ran.stderr
    # each command in words, with the devices' names (it was "✓ smart_door.unlock()")
    assert "✓ 智能门锁: unlock" in ran.stdout
    assert "✓ 客厅大灯: set brightness to 80 %" in ran.stdout
    assert "Scene 回家模式: 5/5 done (on the simulated space)" in ran.stdout

    assert home.run("state", "smart_door", "--json").json()["state"]["locked"] is False
    light = home.run("state", "keting_dadeng", "--json").json()["state"]
    assert light["on"] is True and light["brightness"] == 80
    curtain = home.run("state", "keting_chuanglian", "--json").json()["state"]
    assert curtain["position"] == 0  # the curtain finished closing
    with home.store() as store:
        audit = store.audit_log(device="smart_door")
    assert [(e.actor, e.kind, e.result) for e in audit] == [("cli", "call", "ok")]

    again = home.run("scenes", "apply", "Coming Home", "--json").json()  # an alias, any case
    assert again["scene"] == "huijia" and again["ok"] is True and again["via"] == "store"
    assert len(again["items"]) == 5
    door = next(i for i in again["items"] if i["device"] == "smart_door")
    assert door["what"] == "smart_door.unlock()"  # --json keeps the ids, and the command
    assert door["command"] == {"action": "unlock", "args": {}}


def test_scenes_apply_reports_a_failed_command_and_exits_1(home):
    (home.automations / "bright.yaml").write_text(
        "scenes:\n"
        "  - id: too_bright\n"
        "    name: Too bright\n"
        "    states: {keting_dadeng: {on: true}}\n"
        "    actions:\n"
        "      - set: {device: keting_dadeng, property: brightness, value: '{{ 100 + 50 }}'}\n"
    )
    ran = home.run("scenes", "apply", "too_bright")
    assert ran.code == 1
    assert "✓ Turn on 客厅大灯" in ran.stdout
    assert "✗ 客厅大灯: set brightness to 150 %: keting_dadeng.brightness: 150 is not allowed" in (
        ran.stdout
    )
    assert "1/2 done, 1 failed" in ran.stdout
    zh = home.run("scenes", "apply", "too_bright", env={"HYPERHUB_LANG": "zh"})
    assert "把客厅大灯的亮度设为 150 %：这个值不允许（keting_dadeng.brightness: 150" in zh.stdout
    report = home.run("scenes", "apply", "too_bright", "--json")
    assert report.code == 1 and json.loads(report.stdout)["ok"] is False
    assert home.run("state", "keting_dadeng", "--json").json()["state"]["on"] is True


def test_scenes_apply_of_an_unknown_scene_is_one_line(home):
    one_line_error(
        home.run("scenes", "apply", "coming_home"),
        "no scene 'coming_home'; did you mean 'coming home'?",
    )
    with home.store() as store:
        assert store.audit_log() == []


# ---------------------------------------------------------------------------- a running hub


def start_hub(home: Home) -> subprocess.Popen:
    """`hyperhub run` (no API) in the background on a free broker port, once it serves."""
    hub = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hyperhub",
            "run",
            "--no-api",
            "--broker-port",
            "0",
            "--duration",
            "120s",
        ],
        env={**os.environ, **home.env()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    info = home.data / "hub.json"
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


def test_scenes_apply_goes_through_a_running_hub(home):
    hub = start_hub(home)
    try:
        report = home.run("scenes", "apply", "huijia", "--json").json()
        assert report["via"] == "hub" and report["ok"] is True, report
        assert [i["what"] for i in report["items"] if i["device"] == "smart_door"] == [
            "smart_door.unlock()"
        ]
        for _ in range(100):  # bounded: the hub stores what its devices report
            state = home.run("state", "smart_door", "--json").json()["state"]
            if state["locked"] is False:
                break
            time.sleep(0.1)
        assert state["locked"] is False
    finally:
        stderr = stop_hub(hub)
    assert hub.returncode == 0, stderr
    with home.store() as store:
        audit = store.audit_log(device="smart_door")
    assert [(e.actor, e.result) for e in audit] == [("cli", "ok")]


def test_rules_reload_makes_the_running_hub_read_the_files_again(home):
    """`hyperhub rules reload` checks the files, then SIGHUPs the hub: a rule added to the
    folder runs without a restart (a projector turned on → the study lamp follows)."""
    assert "no hub is running" in home.run("rules", "reload").stderr
    hub = start_hub(home)
    extra = home.automations / "extra.yaml"
    try:
        extra.write_text(BROKEN_FILE, encoding="utf-8")
        broken = home.run("rules", "reload")
        assert broken.code == 1 and "extra.yaml:4:" in broken.stderr  # nothing sent
        extra.write_text(
            "rules:\n"
            "  - id: movie_lamp\n"
            "    triggers: [{state: {device: projector, property: on, to: true}}]\n"
            "    actions: [{set: {device: shufang_taideng, property: on, value: true}}]\n",
            encoding="utf-8",
        )
        done = home.run("rules", "reload")
        assert done.code == 0 and "reload 4 rules" in done.stdout, done.stderr
        home.run("set", "shufang_taideng", "on", "false")
        for _ in range(100):  # bounded: the hub reads the files and arms the new rule
            home.run("set", "projector", "on", "false")
            home.run("set", "projector", "on", "true")
            lamp = home.run("state", "shufang_taideng", "--json").json()["state"]
            if lamp["on"] is True:
                break
            time.sleep(0.2)
        assert lamp["on"] is True
    finally:
        extra.unlink(missing_ok=True)
        stderr = stop_hub(hub)
    assert hub.returncode == 0, stderr
    with home.store() as store:
        assert [e.result for e in store.rule_runs("movie_lamp")][:1] == ["ok"]

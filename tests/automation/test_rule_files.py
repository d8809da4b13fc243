"""The YAML writer of rules and scenes (`automation.splice`, `automation.folder`): one item
changed in a file's text and every other byte kept, whatever the file's layout; what JSON
cannot carry is read-only; one writer at a time."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from hyperhub.automation import AutomationFolder, load_automations
from hyperhub.automation.folder import InvalidItem
from hyperhub.errors import ReadOnly, StaleVersion, VersionRequired
from hyperhub.space import Space, load_space

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo() -> Space:
    return load_space(ROOT / "src/hyperhub/demo/space.yaml")


def rule(rule_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": rule_id,
        "triggers": [{"cron": "0 3 * * *"}],
        "actions": [{"set": {"device": "garden_lights", "property": "on", "value": True}}],
        **extra,
    }


def one_rule(rule_id: str = "a", tail: str = "") -> str:
    return (
        f"  - id: {rule_id}\n"
        "    triggers: [{cron: '0 3 * * *'}]\n"
        f"    actions: [{{set: {{device: garden_lights, property: on, value: true}}}}]{tail}\n"
    )


def folder_with(tmp_path: Path, demo: Space, text: str | bytes) -> AutomationFolder:
    path = tmp_path / "mine.yaml"
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return AutomationFolder(demo, tmp_path)


def rename(folder: AutomationFolder, rule_id: str, name: str) -> None:
    item = folder.get("rule", rule_id)
    folder.put("rule", rule_id, {**item.data, "name": name}, version=item.version)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # CR LF line ends and a byte-order mark stay, also on the changed lines
        (
            "\ufeff# mine\r\nrules:\r\n" + one_rule().replace("\n", "\r\n"),
            "\ufeff# mine\r\nrules:\r\n  - id: a\r\n    name: New\r\n"
            + one_rule().replace("\n", "\r\n").split("\r\n", 1)[1],
        ),
        # no line end at the end of the file: still none
        (
            "rules:\n" + one_rule().rstrip("\n"),
            "rules:\n  - id: a\n    name: New\n" + one_rule().split("\n", 1)[1].rstrip("\n"),
        ),
        # a block scalar whose last line looks like a comment is the rule's own
        (
            "rules:\n  - id: a\n    description: |\n      first\n      # second\n\n"
            + one_rule().split("\n", 1)[1]
            + "# after\n",
            "rules:\n  - id: a\n    name: New\n    description: |\n      first\n      # second\n\n"
            + one_rule().split("\n", 1)[1]
            + "# after\n",
        ),
    ],
)
def test_the_file_keeps_its_layout(demo: Space, tmp_path: Path, before: str, after: str) -> None:
    folder = folder_with(tmp_path, demo, before)
    rename(folder, "a", "New")
    assert (tmp_path / "mine.yaml").read_bytes().decode("utf-8") == after


NEW = (
    "  - id: n\n    triggers:\n      - cron: 0 3 * * *\n    actions:\n"
    "      - set: {device: garden_lights, property: on, value: true}\n"
)
FLAT = "rules:\n- id: a\n  triggers: [{cron: '0 1 * * *'}]\n  actions: [{delay: 1s}]\n"
SCENE = "scenes:\n  - {id: s, name: S, states: {garden_lights: {on: true}}}\n"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", "rules:\n" + NEW),
        ("# only a comment\n", "# only a comment\nrules:\n" + NEW),
        ("rules:   # none yet\n", "rules:   # none yet\n" + NEW),
        ("rules: []  # none\n", "rules:  # none\n" + NEW),
        ("rules: ~\n", "rules:\n" + NEW),
        (SCENE + "# the end\n", SCENE + "\nrules:\n" + NEW + "# the end\n"),
        (  # the file's own indentation: dashes right under their keys
            FLAT,
            FLAT + "- id: n\n  triggers:\n  - cron: 0 3 * * *\n  actions:\n"
            "  - set: {device: garden_lights, property: on, value: true}\n",
        ),
    ],
)
def test_a_new_rule_goes_at_the_end_of_the_list_or_makes_one(
    demo: Space, tmp_path: Path, before: str, after: str
) -> None:
    folder = folder_with(tmp_path, demo, before)
    folder.put("rule", "n", rule("n"), version=None, file="mine.yaml")
    assert (tmp_path / "mine.yaml").read_text(encoding="utf-8") == after


def test_a_new_key_goes_where_the_docs_write_it(demo: Space, tmp_path: Path) -> None:
    folder = folder_with(tmp_path, demo, "rules:\n" + one_rule())
    item = folder.get("rule", "a")
    data = {**item.data, "conditions": [{"someone_home": True}], "name": "A"}
    folder.put("rule", "a", data, version=item.version)
    assert [
        line.split(":")[0].strip() for line in (tmp_path / "mine.yaml").read_text().splitlines()
    ] == [
        "rules",
        "- id",
        "name",
        "triggers",
        "conditions",
        "- someone_home",
        "actions",
    ]


def test_deleting_takes_the_rule_and_its_commented_out_lines(demo: Space, tmp_path: Path) -> None:
    text = (
        "rules:\n  # about a\n"
        + one_rule("a")
        + "      # - call: {device: garage_door, action: open}\n\n  # about b\n"
        + one_rule("b")
    )
    folder = folder_with(tmp_path, demo, text)
    folder.delete("rule", "a", version=folder.get("rule", "a").version)
    assert (
        tmp_path / "mine.yaml"
    ).read_text() == "rules:\n  # about a\n\n  # about b\n" + one_rule("b")
    folder.delete("rule", "b", version=folder.get("rule", "b").version)
    assert (tmp_path / "mine.yaml").read_text() == "rules:\n  # about a\n\n  # about b\n"
    assert load_automations(demo, tmp_path).rules == {}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (
            "rules: [{id: a, triggers: [{cron: '0 3 * * *'}], actions: [{delay: 1s}]}]\n",
            "[...] list",
        ),
        ("{rules: [{id: a, triggers: [{cron: '0 3 * * *'}], actions: [{delay: 1s}]}]}\n", "{…}"),
        ("rules:\n" + one_rule().replace("id: a", "id: &x a"), "anchor &x"),
        ("rules:\r" + one_rule().replace("\n", "\r"), "lone carriage return"),
    ],
)
def test_what_cannot_be_written_back_is_read_only(
    demo: Space, tmp_path: Path, text: str, why: str
) -> None:
    folder = folder_with(tmp_path, demo, text)
    item = folder.get("rule", "a")
    assert not item.editable and why in str(item.reason)
    with pytest.raises(ReadOnly):
        folder.put("rule", "a", {**item.data, "name": "x"}, version=item.version)
    assert (tmp_path / "mine.yaml").read_bytes() == text.encode("utf-8")


def test_versions(demo: Space, tmp_path: Path) -> None:
    folder = folder_with(tmp_path, demo, "rules:\n" + one_rule())
    item = folder.get("rule", "a")
    with pytest.raises(VersionRequired):
        folder.put("rule", "a", item.data, version=None)
    with pytest.raises(StaleVersion):
        folder.put("rule", "a", item.data, version="0" * 16)
    (tmp_path / "mine.yaml").write_text("# a person edits\nrules:\n" + one_rule())
    assert folder.get("rule", "a").version == item.version  # the rule's text did not change
    (tmp_path / "mine.yaml").write_text("rules:\n" + one_rule(tail="  # edited"))
    with pytest.raises(StaleVersion):
        folder.put("rule", "a", item.data, version=item.version)


def test_a_refused_change_writes_nothing(demo: Space, tmp_path: Path) -> None:
    folder = folder_with(tmp_path, demo, "rules:\n" + one_rule())
    before = (tmp_path / "mine.yaml").read_bytes()
    with pytest.raises(InvalidItem) as err:
        folder.put("rule", "b", rule("b", actions=[{"scene": "nope"}]), version=None)
    assert [p.path for p in err.value.located] == ["actions[0].scene"]
    assert (tmp_path / "mine.yaml").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.yaml"]  # no editor.yaml


def test_the_file_keeps_its_permissions_and_links(demo: Space, tmp_path: Path) -> None:
    real = tmp_path / "elsewhere" / "real.yaml"
    real.parent.mkdir()
    real.write_text("rules:\n" + one_rule())
    real.chmod(0o640)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "linked.yaml").symlink_to(real)
    folder = AutomationFolder(demo, rules)
    rename(folder, "a", "Linked")
    assert (rules / "linked.yaml").is_symlink() and "name: Linked" in real.read_text()
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    folder.put("rule", "n", rule("n"), version=None)
    assert stat.S_IMODE((rules / "editor.yaml").stat().st_mode) == 0o644


def test_one_writer_at_a_time(demo: Space, tmp_path: Path) -> None:
    folder = AutomationFolder(demo, tmp_path)
    errors: list[BaseException] = []

    def create(n: int) -> None:
        try:
            AutomationFolder(demo, tmp_path).put("rule", f"r{n}", rule(f"r{n}"), version=None)
        except BaseException as exc:  # collected for the assert
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(load_automations(demo, tmp_path).rules) == [f"r{n}" for n in range(8)]
    assert folder.get("rule", "r3").file == tmp_path / "editor.yaml"
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_the_shipped_demo_is_never_written(demo: Space) -> None:
    folder = AutomationFolder(demo, ROOT / "src/hyperhub/demo/automations")
    item = folder.get("rule", "leaving_home")
    assert not item.editable and "demo that ships inside HyperHub" in str(item.reason)
    with pytest.raises(ReadOnly):
        folder.put("rule", "leaving_home", item.data, version=item.version)
    with pytest.raises(ReadOnly):
        folder.put("rule", "new_one", rule("new_one"), version=None)


def test_saving_the_same_data_writes_nothing(demo: Space, tmp_path: Path) -> None:
    odd = (
        "rules:\n  - id: a\n    triggers: [ {cron: '0 3 * * *'} ]\n"
        "    actions: [ {set: { device: garden_lights, property: on, value: true } } ]\n"
    )
    folder = folder_with(tmp_path, demo, odd)
    item = folder.get("rule", "a")
    before = (tmp_path / "mine.yaml").stat().st_mtime_ns
    reordered = dict(reversed(list(item.data.items())))
    saved = folder.put("rule", "a", reordered, version=item.version)
    assert saved.item is not None and saved.item.version == item.version
    assert (tmp_path / "mine.yaml").read_text() == odd
    assert (tmp_path / "mine.yaml").stat().st_mtime_ns == before


def test_times_in_brackets_are_written_so_that_every_yaml_reader_reads_them(
    demo: Space, tmp_path: Path
) -> None:
    """YAML 1.2 reads `[07:30]` as one string; libyaml (the loader's fast path) refuses it."""
    from ruamel.yaml import YAML

    by_hand = (
        "rules:\n  - id: a\n    triggers: [{time: {at: [07:30]}}]\n    actions: [{delay: 1s}]\n"
    )
    folder = folder_with(tmp_path, demo, by_hand)
    item = folder.get("rule", "a")  # read as the loader reads it
    assert item.editable and item.data["triggers"] == [{"time": {"at": ["07:30"]}}]
    timed = rule("b", triggers=[{"time": {"at": ["07:30", "19:00"], "weekdays": "workdays"}}])
    folder.put("rule", "b", timed, version=None, file="mine.yaml")
    text = (tmp_path / "mine.yaml").read_text()
    assert 'time: {at: ["07:30", "19:00"], weekdays: workdays}' in text
    libyaml = YAML(typ="safe", pure=False)
    libyaml.version = (1, 2)
    assert libyaml.load(text.replace("[07:30]", '["07:30"]'))["rules"][1]["id"] == "b"

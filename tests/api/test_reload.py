"""Reading the automation files again on a running hub: `POST /api/automations/reload`
(SIGHUP, what `hyperhub rules reload` sends, is tested in tests/cli). Unchanged rules keep
running, a broken file changes nothing and says why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers.api_hub import Hub, copy_demo_space, folder_hub

EXTRA = """
rules:
  - id: porch_at_dusk
    triggers: [{sun: {event: sunset}}]
    actions: [{set: {device: garden_lights, property: on, value: true}}]
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_demo_space(tmp_path_factory.mktemp("space"))


@pytest.fixture(scope="module")
def hub(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with folder_hub(folder, tmp_path_factory.mktemp("reload-hub")) as running:
        yield running


def test_reload_through_the_api(hub: Hub, folder: Path) -> None:
    admin = hub.token("read", "admin", name="reload-admin")
    control = hub.token("read", "control", name="reload-control")
    extra = folder / "automations" / "extra.yaml"
    with hub.client(admin) as client, hub.client(control) as controller:
        assert controller.post("/api/automations/reload").status_code == 403
        extra.write_text(EXTRA, encoding="utf-8")
        answer = client.post("/api/automations/reload")
        assert answer.status_code == 200, answer.text
        assert answer.json() | {"rules": 9} == {
            "added": ["porch_at_dusk"],
            "changed": [],
            "removed": [],
            "rules": 9,
            "scenes": 4,
        }
        ids = {r["id"] for r in client.get("/api/rules").json()}
        assert "porch_at_dusk" in ids and "good_night" in ids
        extra.write_text(EXTRA.replace("garden_lights", "garden_lightz"), encoding="utf-8")
        broken = client.post("/api/automations/reload")
        assert broken.status_code == 422
        error = broken.json()["error"]
        assert error["code"] == "invalid_automations"
        assert "extra.yaml:5:" in error["message"] and "garden_lightz" in error["message"]
        assert "porch_at_dusk" in {r["id"] for r in client.get("/api/rules").json()}
        # 60 kB of brackets once segfaulted the hub here (ruamel's C parser): now a problem
        extra.write_text("rules: " + "[" * 30000 + "]" * 30000 + "\n", encoding="utf-8")
        deep = client.post("/api/automations/reload")
        assert deep.status_code == 422, deep.text
        assert (
            "extra.yaml:1: the file nests more than 100 levels deep"
            in deep.json()["error"]["message"]
        )
        assert "porch_at_dusk" in {r["id"] for r in client.get("/api/rules").json()}
        extra.unlink()
        answer = client.post("/api/automations/reload")
        assert answer.json()["removed"] == ["porch_at_dusk"]

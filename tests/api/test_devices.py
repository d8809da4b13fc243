"""The space and its devices over REST: listing, spec, set / call with acks, confirmation,
ranges, history, audit, and the uniform JSON errors."""

from __future__ import annotations

import time

import httpx
from tests.helpers.api_hub import Hub, error_of


def test_the_space_lists_its_areas_and_location(reader):
    space = reader.get("/api/space").json()
    assert space["name"] == "Chen family"
    kitchen = next(a for a in space["areas"] if a["id"] == "kitchen")
    assert kitchen == {
        "id": "kitchen",
        "name": "Kitchen",
        "aliases": ["厨房"],
        "names": {"en": "Kitchen", "zh": "厨房"},
        "floor": "ground floor",
    }
    assert set(space["location"]) == {"lat", "lon"}
    assert space["timezone"] == "Asia/Shanghai"  # the dashboard shows every time in it


def test_the_vocabulary_is_public_and_follows_the_language_tag(hub: Hub):
    with httpx.Client(base_url=hub.url) as anyone:  # no token: the sign-in page needs it
        zh = anyone.get("/api/words/zh-CN").json()
        en = anyone.get("/api/words/en").json()
        other = anyone.get("/api/words/fr").json()
    assert zh["properties"]["target_temp"]["label"] == "目标温度"
    assert en["properties"]["target_temp"] == {"label": "Target temperature", "short": "Target"}
    assert other == en  # a language HyperHub does not have reads as English


def test_devices_list_with_state_and_availability_and_filter(hub: Hub, reader):
    devices = reader.get("/api/devices").json()
    assert [d["id"] for d in devices] == list(hub.space.devices)
    light = next(d for d in devices if d["id"] == "living_room_light")
    assert set(light) == {
        "id",
        "name",
        "type",
        "class",
        "area",
        "aliases",
        "names",
        "online",
        "state",
        "updated",
        "adapter",
    }
    assert light["adapter"] is None  # simulated, not from an adapter
    assert light["online"] is True and "brightness" in light["state"]
    # what people call it per language: the rule the CLI and the sentences follow too
    assert light["names"] == {"en": "Ceiling Light", "zh": "客厅灯"}
    kitchen_lights = reader.get("/api/devices", params={"area": "kitchen", "type": "light"}).json()
    assert [d["id"] for d in kitchen_lights] == ["kitchen_light"]
    assert "areas: entrance" in error_of(reader.get("/api/devices?area=attic"), 404, "unknown_area")
    error_of(reader.get("/api/devices?type=teleporter"), 404, "unknown_type")


def test_a_device_comes_with_its_spec(reader):
    garage = reader.get("/api/devices/garage_door").json()
    assert garage["class"] == "garage"
    assert garage["spec"]["properties"]["position"] == {
        "kind": "int",
        "unit": "%",
        "min": 0.0,
        "max": 100.0,
        "values": None,
        "access": "rw",
        "risky": True,
    }
    assert garage["spec"]["actions"]["open"]["risky"] is True
    assert garage["spec"]["actions"]["stop"]["risky"] is False
    phone = reader.get("/api/devices/phone_li_na").json()
    assert phone["spec"]["actions"]["notify"]["args"][0]["name"] == "message"
    assert phone["spec"]["properties"]["battery"]["access"] == "ro"
    message = error_of(reader.get("/api/devices/livingroom_light"), 404, "unknown_device")
    assert "did you mean 'living_room_light'" in message


def test_set_answers_with_the_ack_and_the_new_state(controller):
    answer = controller.post(
        "/api/devices/study_desk_lamp/set", json={"property": "brightness", "value": 37}
    ).json()
    assert answer["ok"] is True and answer["device"] == "study_desk_lamp"
    assert answer["command"] == {"property": "brightness", "value": 37}
    assert answer["changes"]["brightness"] == 37
    assert answer["state"]["brightness"] == 37


def test_bad_values_are_refused_with_the_specs_message(controller):
    url = "/api/devices/study_desk_lamp/set"
    message = error_of(
        controller.post(url, json={"property": "brightness", "value": 101}),
        422,
        "value_not_allowed",
    )
    assert "0 to 100" in message
    assert "read-only" in error_of(
        controller.post("/api/devices/phone_li_na/set", json={"property": "battery", "value": 5}),
        422,
    )
    error_of(controller.post(url, json={"property": "warp", "value": 1}), 422, "invalid")
    error_of(
        controller.post(url, json={"property": "on", "value": "yes"}), 422, "value_not_allowed"
    )
    assert "body.property" in error_of(controller.post(url, json={"value": 1}), 422, "invalid")
    assert "confirm" in error_of(
        controller.post(url, json={"property": "on", "value": True, "confirm": "yes"}), 422
    )
    error_of(
        controller.post(url, json={"property": "on", "value": True, "extra": 1}), 422, "invalid"
    )
    bad_json = controller.post(
        url, content=b"{not json", headers={"content-type": "application/json"}
    )
    error_of(bad_json, 400, "bad_json")
    assert "JSON object" in error_of(controller.post(url, json=[1, 2]), 422, "invalid")
    error_of(
        controller.post("/api/devices/nothing_here/set", json={"property": "on", "value": True}),
        404,
        "unknown_device",
    )


def test_call_runs_an_action_and_unknown_actions_are_404(controller):
    controller.post("/api/devices/kitchen_light/set", json={"property": "on", "value": False})
    answer = controller.post("/api/devices/kitchen_light/call/toggle").json()
    assert answer["command"] == {"action": "toggle", "args": {}}
    assert answer["state"]["on"] is True
    notify = controller.post(
        "/api/devices/phone_li_na/call/notify", json={"args": {"message": "dinner"}}
    )
    assert notify.status_code == 200, notify.text
    error_of(
        controller.post("/api/devices/phone_li_na/call/notify", json={"args": {}}),
        422,
        "value_not_allowed",
    )
    error_of(controller.post("/api/devices/kitchen_light/call/explode"), 404, "unknown_action")


def test_risky_commands_need_confirm_and_the_risky_scope(hub: Hub, controller, owner):
    unlock = "/api/devices/back_door_lock/call/unlock"
    assert "needs confirmation" in error_of(controller.post(unlock), 409, "needs_confirmation")
    message = error_of(controller.post(unlock, json={"confirm": True}), 403, "missing_scope")
    assert "'control:risky'" in message
    error_of(owner.post(unlock), 409, "needs_confirmation")
    done = owner.post(unlock, json={"confirm": True}).json()
    assert done["state"]["locked"] is False
    relock = controller.post(
        "/api/devices/back_door_lock/set", json={"property": "locked", "value": True}
    )
    assert relock.json()["state"]["locked"] is True  # locking is not risky
    garage = {"property": "position", "value": 100}
    error_of(
        controller.post("/api/devices/garage_door/set", json=garage), 409, "needs_confirmation"
    )


def test_the_risky_question_is_asked_in_the_requests_language(controller):
    """A Chinese dashboard showed "Unlock … needs confirmation: anyone could walk in"."""
    unlock = "/api/devices/back_door_lock/call/unlock"
    zh = controller.post(unlock, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert error_of(zh, 409, "needs_confirmation") == (
        "解锁后门需要确认：任何人都能走进来（back_door_lock.unlock）"
    )
    en = controller.post(unlock, headers={"Accept-Language": "en-GB"})
    assert error_of(en, 409, "needs_confirmation") == (
        "Unlock Back Door Lock needs confirmation: anyone could walk in (back_door_lock.unlock)"
    )
    garage = {"property": "position", "value": 100}
    zh = controller.post(
        "/api/devices/garage_door/set", json=garage, headers={"Accept-Language": "zh"}
    )
    assert error_of(zh, 409, "needs_confirmation").startswith("把车库门的开合度设为 100 %需要确认")


def test_every_error_says_why_in_the_requests_language(controller):
    """A Chinese page showed the hub's English refusals; now the reason comes first in
    Chinese, the English details after it (they name ids and ranges)."""
    zh = {"Accept-Language": "zh-CN"}
    url = "/api/devices/bathroom_light/set"
    too_bright = {"property": "brightness", "value": 500}
    said = error_of(controller.post(url, json=too_bright, headers=zh), 422, "value_not_allowed")
    assert said.startswith("这个值不允许（bathroom_light.brightness: 500 is not allowed")
    english = error_of(controller.post(url, json=too_bright), 422, "value_not_allowed")
    assert said == f"这个值不允许（{english}）"
    nowhere = controller.post("/api/devices/attic_light/set", json=too_bright, headers=zh)
    assert error_of(nowhere, 404, "unknown_device").startswith("没有这个设备（")
    broken = controller.post(url, content=b"{", headers={**zh, "Content-Type": "application/json"})
    assert (
        error_of(broken, 400, "bad_json")
        == "请求不是有效的 JSON（the request body is not valid JSON）"
    )


def test_every_command_is_audited_with_its_tokens_name(hub: Hub, owner):
    with hub.client(hub.token("control", name="audit-me")) as client:
        client.post("/api/devices/bathroom_light/set", json={"property": "on", "value": True})
        client.post(
            "/api/devices/bathroom_light/set", json={"property": "brightness", "value": 500}
        )
    rows = owner.get("/api/audit", params={"device": "bathroom_light", "limit": 10}).json()
    mine = [r for r in rows if r["who"] == "api:audit-me"]
    assert {r["by"] for r in mine} == {"audit-me"}  # a token by its name
    assert [(r["kind"], r["what"], r["result"], r["code"]) for r in mine] == [
        ("set", {"property": "brightness", "value": 500}, "error", "value_not_allowed"),
        ("set", {"property": "on", "value": True}, "ok", ""),
    ]
    assert mine[0]["changes"] is None and mine[1]["changes"] in ({"on": True}, {})
    error_of(owner.get("/api/audit", params={"limit": 0}), 422, "invalid")


def test_history_is_read_from_the_store_and_downsampled(hub: Hub, controller, reader):
    for value in (10, 20, 30):
        controller.post(
            "/api/devices/bedside_lamp/set", json={"property": "brightness", "value": value}
        )
    url = "/api/devices/bedside_lamp/history"
    deadline = time.monotonic() + 15  # bounded: the store writes in batches
    while True:
        points = reader.get(url, params={"property": "brightness"}).json()["points"]
        if [v for _, v in points][-3:] == [10, 20, 30] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [v for _, v in points][-3:] == [10, 20, 30]
    one = reader.get(url, params={"property": "brightness", "points": 1, "since": "0"}).json()
    assert len(one["points"]) == 1
    now = time.time()
    iso = reader.get(
        url, params={"property": "brightness", "since": "2020-01-01T00:00", "until": str(now)}
    )
    assert iso.status_code == 200
    error_of(reader.get(url, params={"property": "warp"}), 422, "invalid")
    error_of(reader.get(url), 422, "invalid")
    error_of(
        reader.get(url, params={"property": "brightness", "since": "yesterday"}), 422, "invalid"
    )
    error_of(
        reader.get(url, params={"property": "brightness", "since": str(now), "until": "0"}), 422
    )
    error_of(reader.get(url, params={"property": "brightness", "points": 0}), 422)


def test_rules_and_scenes_are_empty_until_automations_land(reader):
    assert reader.get("/api/rules").json() == []
    assert reader.get("/api/scenes").json() == []


def test_unknown_routes_and_methods_answer_json(hub: Hub, reader):
    error_of(reader.get("/api/nothing"), 404, "not_found")
    error_of(reader.get("/api/ask"), 405, "method_not_allowed")
    error_of(reader.delete("/api/devices"), 405, "method_not_allowed")


def test_security_headers_and_closed_cors(hub: Hub, reader):
    response = reader.get("/api/devices", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    preflight = reader.options(
        "/api/devices",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_a_foreign_host_name_is_refused_on_loopback(hub: Hub, reader):
    error_of(reader.get("/api/health", headers={"Host": "evil.example"}), 400, "bad_host")
    assert reader.get("/api/health", headers={"Host": "localhost:1"}).status_code == 200


def test_a_body_over_the_limit_is_refused(controller):
    big = {"property": "on", "value": "x" * 70_000}
    error_of(controller.post("/api/devices/kitchen_light/set", json=big), 413, "too_large")


def test_the_dashboard_and_the_docs_are_served_without_a_token(hub: Hub):
    with hub.client() as anonymous:
        page = anonymous.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "<script>" not in page.text  # the CSP allows no inline script
        assert "default-src 'self'" in page.headers["content-security-policy"]
        error_of(anonymous.get("/__init__.py"), 404, "not_found")
        docs = anonymous.get("/docs")
        assert docs.status_code == 200 and "swagger-ui-bundle.js" in docs.text
        assert anonymous.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
        schema = anonymous.get("/openapi.json").json()
        assert "/api/devices/{device_id}/set" in schema["paths"]


def test_nan_and_infinity_are_refused_at_the_edge_and_lose_no_audit_row(hub: Hub, owner):
    """Python's JSON parser takes NaN / Infinity; a NaN once cost a whole audit batch, a
    confirmed unlock sent just before included."""
    unlock = owner.post("/api/devices/back_door_lock/call/unlock", json={"confirm": True})
    assert unlock.status_code == 200, unlock.text
    json_headers = {"content-type": "application/json"}
    for raw, url in (
        (b'{"property": "cabin_target_temp", "value": NaN}', "/api/devices/car/set"),
        (b'{"property": "cabin_target_temp", "value": -Infinity}', "/api/devices/car/set"),
        (b'{"property": "cabin_target_temp", "value": 1e400}', "/api/devices/car/set"),
        (b'{"args": {"message": [1, NaN]}}', "/api/devices/phone_li_na/call/notify"),
    ):
        message = error_of(owner.post(url, content=raw, headers=json_headers), 422, "invalid")
        assert "not a finite number" in message, message
    rows = owner.get("/api/audit", params={"limit": 20}).json()
    assert any(
        r["device"] == "back_door_lock" and r["what"]["action"] == "unlock" and r["result"] == "ok"
        for r in rows
    ), rows
    assert owner.get("/api/devices/car").json()["state"]["cabin_target_temp"] is not None
    owner.post("/api/devices/back_door_lock/set", json={"property": "locked", "value": True})


def test_writes_are_rate_limited_per_token_and_big_rejected_values_are_cut(hub: Hub, owner):
    """300 rejected 60 kB writes once grew the database by 38 MB: writes are limited per
    token (600 a minute by default, `hyperhub run --commands-per-minute`), and a rejected
    value is stored cut to 1,000 characters."""
    from hyperhub.api.limits import RateLimit

    assert hub.ctx.settings.commands_per_minute == 600
    hub.ctx.command_limit = RateLimit(3)
    try:
        with (
            hub.client(hub.token("control", name="flooder")) as a,
            hub.client(hub.token("control")) as b,
        ):
            url = "/api/devices/living_room_tv/set"
            huge = {"property": "source", "value": "x" * 60_000}
            for _ in range(2):
                error_of(a.post(url, json=huge), 422, "value_not_allowed")
            assert a.post(url, json={"property": "volume", "value": 20}).status_code == 200
            limited = a.post(url, json={"property": "volume", "value": 10})
            error_of(limited, 429, "rate_limited")
            assert int(limited.headers["Retry-After"]) >= 1
            error_of(a.post("/api/devices/kitchen_light/call/toggle"), 429, "rate_limited")
            assert b.post(url, json={"property": "volume", "value": 10}).status_code == 200
    finally:
        hub.ctx.command_limit = RateLimit(hub.ctx.settings.commands_per_minute)
    rows = owner.get("/api/audit", params={"device": "living_room_tv", "limit": 10}).json()
    rejected = [r for r in rows if r["who"] == "api:flooder" and r["result"] == "error"]
    assert len(rejected) == 2
    for row in rejected:
        assert len(row["what"]["value"]) < 1_100 and row["what"]["value"].endswith("characters)")
        assert len(row["message"]) < 1_100

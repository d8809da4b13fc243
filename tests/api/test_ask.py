"""`POST /api/ask`: the assistant runs on the live devices, with conversations, the risky
confirmation (which needs `control:risky`) and a rate limit."""

from __future__ import annotations

from tests.helpers.api_hub import Hub, error_of

from hyperhub.api.limits import RateLimit


def test_ask_changes_live_state_and_answers_in_the_cli_contract(hub: Hub, controller):
    controller.post("/api/devices/kids_room_light/set", json={"property": "on", "value": False})
    answer = controller.post("/api/ask", json={"text": "turn on the kids room light"}).json()
    assert set(answer) == {
        "text",
        "actions",
        "changes",
        "reply",
        "needs_confirmation",
        "engine",
        "ms",
        "conversation",
        "rule",
    }
    assert answer["rule"] is None
    assert answer["changes"] == {"kids_room_light": {"on": True}}
    assert answer["needs_confirmation"] is False and answer["engine"] == "matcher"
    assert controller.get("/api/devices/kids_room_light").json()["state"]["on"] is True


def test_the_speakers_area_scopes_the_lights_and_questions_change_nothing(controller):
    controller.post("/api/devices/bedroom_light/set", json={"property": "on", "value": False})
    answer = controller.post(
        "/api/ask", json={"text": "turn on the lights", "area": "master_bedroom"}
    ).json()
    assert answer["changes"].get("bedroom_light") == {"on": True}
    question = controller.post("/api/ask", json={"text": "is the front door locked?"}).json()
    assert question["changes"] == {} and question["reply"]
    error_of(
        controller.post("/api/ask", json={"text": "lights on", "area": "attic"}),
        404,
        "unknown_area",
    )
    error_of(controller.post("/api/ask", json={"text": "x" * 1001}), 422, "invalid")
    error_of(controller.post("/api/ask", json={}), 422, "invalid")


def test_a_conversation_carries_follow_ups(controller):
    controller.post(
        "/api/devices/study_desk_lamp/set", json={"property": "brightness", "value": 50}
    )
    first = controller.post("/api/ask", json={"text": "turn on the study desk lamp"}).json()
    follow = controller.post(
        "/api/ask", json={"text": "make it brighter", "conversation": first["conversation"]}
    ).json()
    assert follow["conversation"] == first["conversation"]
    assert follow["changes"]["study_desk_lamp"]["brightness"] > 50
    fresh = controller.post(
        "/api/ask", json={"text": "make it brighter", "conversation": "gone"}
    ).json()
    assert fresh["conversation"] != "gone" and fresh["changes"] == {}


def test_a_risky_ask_waits_for_a_yes_that_needs_the_risky_scope(hub: Hub, owner):
    owner.post("/api/devices/front_door_lock/set", json={"property": "locked", "value": True})
    with hub.client(hub.token("control", name="no-risk")) as plain:
        asked = plain.post("/api/ask", json={"text": "unlock the front door"}).json()
        assert asked["needs_confirmation"] is True and asked["changes"] == {}
        yes = {"text": "yes", "conversation": asked["conversation"]}
        message = error_of(plain.post("/api/ask", json=yes), 403, "missing_scope")
        assert "'control:risky'" in message
    assert owner.get("/api/devices/front_door_lock").json()["state"]["locked"] is True
    with hub.client(hub.token("control", "control:risky", name="trusted")) as trusted:
        asked = trusted.post("/api/ask", json={"text": "unlock the front door"}).json()
        assert asked["needs_confirmation"] is True
        done = trusted.post(
            "/api/ask", json={"text": "yes", "conversation": asked["conversation"]}
        ).json()
        assert done["changes"] == {"front_door_lock": {"locked": False}}
        # someone else's conversation id is not theirs to confirm: it starts a new one
        again = trusted.post("/api/ask", json={"text": "unlock the front door"}).json()
        with hub.client(hub.token("control", "control:risky")) as other:
            stolen = other.post(
                "/api/ask", json={"text": "yes", "conversation": again["conversation"]}
            ).json()
            assert stolen["conversation"] != again["conversation"] and stolen["changes"] == {}
    rows = owner.get("/api/audit", params={"device": "front_door_lock", "limit": 5}).json()
    assert rows[0]["who"] == "ask:trusted" and rows[0]["result"] == "ok"
    assert rows[0]["by"] == "the assistant (trusted)"  # who, in words
    zh = owner.get(
        "/api/audit",
        params={"device": "front_door_lock", "limit": 5},
        headers={"Accept-Language": "zh"},
    ).json()
    assert zh[0]["by"] == "助手（trusted）"
    owner.post("/api/devices/front_door_lock/set", json={"property": "locked", "value": True})


def test_ask_is_rate_limited_per_token(hub: Hub):
    hub.ctx.ask_limit = RateLimit(2)
    try:
        with hub.client(hub.token("control")) as a, hub.client(hub.token("control")) as b:
            for _ in range(2):
                assert a.post("/api/ask", json={"text": "is the car locked?"}).status_code == 200
            limited = a.post("/api/ask", json={"text": "is the car locked?"})
            error_of(limited, 429, "rate_limited")
            assert int(limited.headers["Retry-After"]) >= 1
            assert b.post("/api/ask", json={"text": "is the car locked?"}).status_code == 200
    finally:
        hub.ctx.ask_limit = RateLimit(hub.ctx.settings.ask_per_minute)


def test_a_control_only_token_can_act_but_not_read_state(hub: Hub, reader):
    """Scopes do not imply each other: "where is the car?" through /api/ask told a
    control-only token the car's coordinates, and set / call echoed the whole state."""
    car = reader.get("/api/devices/car").json()["state"]
    with hub.client(hub.token("control", name="control-only")) as blind:
        for text in ("where is the car?", "车在哪里？", "is the front door locked?"):
            answer = blind.post("/api/ask", json={"text": text})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["changes"] == {} and body["actions"] == []
            assert (
                "may control them but not read" in body["reply"] or "不能读取状态" in body["reply"]
            )
            assert str(car["location"]["lat"])[:6] not in body["reply"]
        acted = blind.post("/api/ask", json={"text": "turn off the kids room light"}).json()
        assert acted["changes"] == {"kids_room_light": {"on": False}}
        done = blind.post(
            "/api/devices/kids_room_light/set", json={"property": "on", "value": True}
        )
        assert done.status_code == 200, done.text
        assert done.json()["state"] == done.json()["changes"] == {"on": True}
        assert blind.get("/api/devices/car").status_code == 403
    with hub.client(hub.token("read", "control", name="both")) as both:
        full = both.post(
            "/api/devices/kids_room_light/set", json={"property": "on", "value": False}
        )
        assert set(full.json()["state"]) > {"on"}  # with read: the whole state
        located = both.post("/api/ask", json={"text": "where is the car?"}).json()
        assert "may control them but not read" not in located["reply"]

"""Auth end to end: tokens and scopes on every endpoint, revocation, users, login, the setup
code, rate limits, and the CLI commands that manage tokens and users."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from tests.helpers.api_hub import Hub, error_of

from hyperhub.api.limits import RateLimit

# every endpoint that needs a token: (method, path, body, scope it needs)
PROTECTED = [
    ("GET", "/api/space", None, "read"),
    ("GET", "/api/devices", None, "read"),
    ("GET", "/api/devices/living_room_light", None, "read"),
    ("GET", "/api/devices/living_room_light/history?property=brightness", None, "read"),
    ("GET", "/api/rules", None, "read"),
    ("GET", "/api/scenes", None, "read"),
    ("POST", "/api/devices/study_desk_lamp/set", {"property": "on", "value": True}, "control"),
    ("POST", "/api/devices/living_room_light/call/toggle", {}, "control"),
    ("POST", "/api/ask", {"text": "is the car locked?"}, "control"),
    ("GET", "/api/audit", None, "admin"),
    ("GET", "/api/tokens", None, "admin"),
    ("POST", "/api/tokens", {"scopes": ["read"]}, "admin"),
    ("DELETE", "/api/tokens/000000000000", None, "admin"),
]
OTHER_SCOPES = {
    "read": ("control", "control:risky", "admin"),
    "control": ("read", "control:risky", "admin"),
    "admin": ("read", "control", "control:risky"),
}


def call(client, method: str, path: str, body):
    return client.request(method, path, json=body)


@pytest.mark.parametrize(("method", "path", "body", "scope"), PROTECTED)
def test_every_endpoint_refuses_a_missing_or_invalid_token(hub: Hub, method, path, body, scope):
    with hub.client() as anonymous:
        response = call(anonymous, method, path, body)
        assert "Authorization: Bearer" in error_of(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"] == "Bearer"
    with hub.client("hh_not-a-token") as forged:
        error_of(call(forged, method, path, body), 401, "unauthorized")
    with hub.client("Basic abc") as wrong_kind:
        error_of(call(wrong_kind, method, path, body), 401)


@pytest.mark.parametrize(("method", "path", "body", "scope"), PROTECTED)
def test_every_endpoint_needs_its_own_scope(hub: Hub, method, path, body, scope):
    with hub.client(hub.token(*OTHER_SCOPES[scope], name="all-but")) as client:
        message = error_of(call(client, method, path, body), 403, "missing_scope")
    assert repr(scope) in message and "all-but" in message


def test_health_needs_no_token_and_says_what_runs(hub: Hub):
    with hub.client() as anonymous:
        health = anonymous.get("/api/health").json()
    assert health["status"] == "ok"
    assert health["space"] == "Chen family"
    assert health["devices"] == len(hub.space.devices)
    assert {"version", "ws_clients", "ws_dropped"} <= set(health)


def test_a_revoked_token_is_refused_at_once_from_another_process(hub: Hub):
    secret, token = hub.auth.create_token("to-revoke", {"read"})
    with hub.client(secret) as client:
        assert client.get("/api/space").status_code == 200
        out = hyperhub_cli(hub, "token", "revoke", token.id)
        assert out.returncode == 0, out.stderr
        assert "revoked" in error_of(client.get("/api/space"), 401, "token_revoked")


def test_an_expired_token_is_refused(hub: Hub):
    secret, _ = hub.auth.create_token("short", {"read"}, ttl=-1)
    with hub.client(secret) as client:
        error_of(client.get("/api/space"), 401, "token_expired")


def test_me_tells_a_token_its_scopes_and_logout_revokes_it(hub: Hub):
    with hub.client(hub.token("read", "control", name="tablet")) as client:
        me = client.get("/api/auth/me").json()
        assert me["name"] == "tablet" and me["scopes"] == ["read", "control"]
        assert client.post("/api/auth/logout").json() == {"ok": True}
        error_of(client.get("/api/auth/me"), 401, "token_revoked")


def test_admins_create_list_and_revoke_tokens(hub: Hub, owner):
    created = owner.post("/api/tokens", json={"name": "kiosk", "scopes": ["read"]}).json()
    assert created["token"].startswith("hh_") and created["scopes"] == ["read"]
    listed = {t["id"]: t for t in owner.get("/api/tokens").json()}
    assert listed[created["id"]]["name"] == "kiosk"
    assert all("token" not in t and "hash" not in t for t in listed.values())
    with hub.client(created["token"]) as kiosk:
        assert kiosk.get("/api/devices").status_code == 200
        revoked = owner.delete(f"/api/tokens/{created['id']}").json()
        assert revoked["revoked"] is not None
        error_of(kiosk.get("/api/devices"), 401, "token_revoked")
    error_of(owner.delete("/api/tokens/ffffffffffff"), 404, "unknown_token")
    error_of(owner.post("/api/tokens", json={"scopes": ["root"]}), 422, "invalid")
    error_of(owner.post("/api/tokens", json={"scopes": []}), 422, "invalid")


def hyperhub_cli(hub: Hub, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYPERHUB_DATA_DIR": str(hub.data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "hyperhub", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env=env,
        timeout=60,
    )


def test_token_create_prints_only_the_token_and_list_shows_it(hub: Hub):
    out = hyperhub_cli(hub, "token", "create", "--scopes", "read,control", "--name", "cli-made")
    assert out.returncode == 0, out.stderr
    secret = out.stdout.strip()
    assert secret.startswith("hh_") and "\n" not in secret
    with hub.client(secret) as client:
        assert client.get("/api/auth/me").json()["scopes"] == ["read", "control"]
    listed = hyperhub_cli(hub, "token", "list", "--json")
    assert "cli-made" in listed.stdout and secret not in listed.stdout
    bad = hyperhub_cli(hub, "token", "create", "--scopes", "read,sudo")
    assert bad.returncode == 1 and "unknown scope 'sudo'" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = hyperhub_cli(hub, "token", "revoke", "nope")
    assert missing.returncode == 1 and "no token 'nope'" in missing.stderr


def test_users_log_in_with_their_scopes_and_wrong_passwords_are_refused(hub: Hub):
    out = hyperhub_cli(hub, "user", "add", "lin", "--password-stdin", stdin="correct horse\n")
    assert out.returncode == 0, out.stderr
    with hub.client() as anonymous:
        good = anonymous.post(
            "/api/auth/login", json={"username": "lin", "password": "correct horse"}
        ).json()
        assert good["user"] == "lin" and good["scopes"] == ["read", "control"]
        assert good["expires"] is not None
        wrong = anonymous.post("/api/auth/login", json={"username": "lin", "password": "wrong!!!"})
        error_of(wrong, 401, "bad_credentials")
        nobody = anonymous.post("/api/auth/login", json={"username": "x", "password": "12345678"})
        assert error_of(nobody, 401, "bad_credentials") == error_of(wrong, 401)
    with hub.client(good["token"]) as lin:
        assert lin.get("/api/auth/me").json()["name"] == "lin"
    short = hyperhub_cli(hub, "user", "add", "kid", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "8 to 1024 characters" in short.stderr


def test_login_is_rate_limited_per_address(hub: Hub):
    hub.ctx.login_limit = RateLimit(3)
    try:
        with hub.client() as anonymous:
            body = {"username": "nobody", "password": "whatever1"}
            for _ in range(3):
                error_of(anonymous.post("/api/auth/login", json=body), 401)
            limited = anonymous.post("/api/auth/login", json=body)
            error_of(limited, 429, "rate_limited")
            assert int(limited.headers["Retry-After"]) >= 1
    finally:
        hub.ctx.login_limit = RateLimit(hub.ctx.settings.login_per_minute)


def test_the_one_time_setup_code_makes_the_first_admin(hub: Hub):
    """The only test that creates an admin user (the session's hub starts without one)."""
    code_file = hub.data_dir / "setup-code"
    assert hub.status.setup_code is not None
    assert stat.S_IMODE(code_file.stat().st_mode) == 0o600
    assert code_file.read_text().strip() == hub.status.setup_code
    with hub.client() as anonymous:
        assert anonymous.get("/api/auth/setup").json() == {"needed": True}
        body = {"code": "AAAA-BBBB-CCCC-DDDD", "username": "mei", "password": "s3cret-pass"}
        error_of(anonymous.post("/api/auth/setup", json=body), 401, "bad_credentials")
        body["code"] = hub.status.setup_code.lower()  # typed loosely: case and dashes ignored
        made = anonymous.post("/api/auth/setup", json=body).json()
        assert made["user"] == "mei"
        assert made["scopes"] == ["read", "control", "control:risky", "admin"]
        assert not code_file.exists()
        assert anonymous.get("/api/auth/setup").json() == {"needed": False}
        error_of(anonymous.post("/api/auth/setup", json=body), 409, "setup_done")
        login = anonymous.post(
            "/api/auth/login", json={"username": "mei", "password": "s3cret-pass"}
        )
        assert login.json()["scopes"] == ["read", "control", "control:risky", "admin"]
    with hub.client(made["token"]) as mei:
        assert mei.get("/api/audit").status_code == 200

"""Browser tests of the dashboard: a real `hyperhub run` on the demo space, driven through
Debian's Chromium by Playwright (never Playwright's downloaded browsers).

test_dashboard.py skips, with the reason, when the `playwright` package or /usr/bin/chromium
is missing (`./hub test` installs both); so this file imports playwright only in fixtures.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.helpers.wait import wait_until

CHROMIUM = Path(os.environ.get("HYPERHUB_CHROMIUM", "/usr/bin/chromium"))
ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "src/hyperhub/demo/space.yaml"
AUTOMATIONS = Path(__file__).with_name("automations.yaml")  # rules and scenes of the tests
PASSWORD = "correct-horse-battery"
START_TIMEOUT = 90.0  # seconds for the hub to answer /api/health
EXPECT_TIMEOUT = 15_000  # ms for a browser expectation
DESKTOP = {"width": 1280, "height": 800}


def hyperhub(*args: str, data_dir: Path, stdin: str | None = None) -> str:
    """Run a `hyperhub` command on the test hub's data dir; return its stdout."""
    proc = subprocess.run(
        [sys.executable, "-m", "hyperhub", *args, "--data-dir", str(data_dir)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"hyperhub {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


@dataclass
class Hub:
    url: str  # http://127.0.0.1:PORT/
    data_dir: Path
    token: str  # every scope, named web-tests
    log: Path
    password: str = PASSWORD  # of the user admin

    def cli(self, *args: str) -> str:
        """Run `hyperhub ARGS --data-dir` of this hub (it talks to the running hub)."""
        return hyperhub(*args, data_dir=self.data_dir)

    def wait_until(self, check, what: str, timeout: float = 15.0):
        """Poll `check()` until it is truthy (bounded); return its value."""
        return wait_until(check, what, timeout)

    def api(self, method: str, path: str, body: dict | None = None, token: str | None = None):
        """(status, JSON answer) of a request to /api/<path>."""
        req = urllib.request.Request(
            f"{self.url}api/{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {token or self.token}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                return res.status, json.loads(res.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def state(self, device: str) -> dict:
        status, body = self.api("GET", f"devices/{device}")
        assert status == 200, body
        return body["state"]

    def set(self, device: str, prop: str, value, confirm: bool = False) -> None:
        body = {"property": prop, "value": value, "confirm": confirm}
        status, answer = self.api("POST", f"devices/{device}/set", body)
        assert status == 200, answer


def _log_tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)  # like Ctrl-C: the hub stops its broker and devices
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its own process group (start_new_session)
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def hub(tmp_path_factory) -> Hub:
    """A running hub on the demo space (and the tests' automations) with an admin user and a
    token; free ports."""
    data_dir = tmp_path_factory.mktemp("hub")
    hyperhub(
        "user",
        "add",
        "admin",
        "--admin",
        "--password-stdin",
        data_dir=data_dir,
        stdin=PASSWORD + "\n",
    )
    token = hyperhub(
        "token",
        "create",
        "--scopes",
        "read,control,control:risky,admin",
        "--name",
        "web-tests",
        data_dir=data_dir,
    ).strip()
    log = data_dir / "hub-output.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hyperhub", "run", "--space", str(DEMO),
             "--data-dir", str(data_dir), "--port", "0", "--broker-port", "0",
             "--automations", str(AUTOMATIONS)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    try:
        url = wait_until(lambda: _api_url(proc, data_dir, log), "hub.json's api_url",
                         START_TIMEOUT)  # fmt: skip
        hub = Hub(url=url.rstrip("/") + "/", data_dir=data_dir, token=token, log=log)
        wait_until(lambda: _healthy(proc, hub), "GET /api/health 200", START_TIMEOUT)
        yield hub
    finally:
        _stop(proc)


def _api_url(proc: subprocess.Popen, data_dir: Path, log: Path) -> str | None:
    if proc.poll() is not None:
        raise AssertionError(f"hyperhub run exited with {proc.returncode}:\n{_log_tail(log)}")
    try:
        return json.loads((data_dir / "hub.json").read_text()).get("api_url")
    except (OSError, ValueError):
        return None


def _healthy(proc: subprocess.Popen, hub: Hub) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"hyperhub run exited with {proc.returncode}:\n{_log_tail(hub.log)}")
    try:
        with urllib.request.urlopen(f"{hub.url}api/health", timeout=2) as res:
            return res.status == 200
    except (OSError, urllib.error.HTTPError):
        return False


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh page (desktop size); the test fails on script errors or CSP violations."""
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT)
    context = browser.new_context(viewport=DESKTOP, color_scheme="light", locale="en-GB")
    page = context.new_page()
    problems: list[str] = []
    watch(page, problems)
    yield page
    context.close()
    assert not problems, "\n".join(problems)


def use_token(page, hub: Hub) -> None:
    """Open the dashboard and sign in by pasting the hub's test token."""
    page.goto(hub.url)
    page.get_by_text("Use an API token").click()
    page.get_by_role("textbox", name="API token").fill(hub.token)
    page.get_by_role("button", name="Use token").click()


def _sign_in_with_token(page, hub: Hub) -> None:
    from playwright.sync_api import expect

    use_token(page, hub)
    expect(page.get_by_role("heading", name="ground floor")).to_be_visible()
    expect(page.locator("#live")).to_have_text("Live")


@pytest.fixture
def sign_in(hub):
    """sign_in(page): sign in by pasting the test token (password logins are rate limited)."""
    return lambda page: _sign_in_with_token(page, hub)


@pytest.fixture
def signed_in(page, sign_in):
    sign_in(page)
    return page


def watch(page: Any, problems: list[str], timeout: int = EXPECT_TIMEOUT) -> None:
    """Give `page` the tests' timeout (ms) and note its script errors and CSP violations in
    `problems` (a test fails on any)."""
    page.set_default_timeout(timeout)
    page.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console: {msg.text}")
            if re.search(r"Content Security Policy|Refused to", msg.text)
            else None
        ),
    )

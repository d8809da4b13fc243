"""`hyperhub run` serves the API and the dashboard: the URL and the one-time setup code are
printed, `--cors-origin` opens CORS to one origin only, and a port in use is a one-line error."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hyperhub.fabric.broker import mosquitto_binary

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="needs Debian's mosquitto")


def run_hub(data_dir: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "HYPERHUB_DATA_DIR": str(data_dir)}
    env.pop("HYPERHUB_SPACE", None)
    return subprocess.Popen(
        [sys.executable, "-m", "hyperhub", "run", "--broker-port", "0", "--no-llm", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def api_url(hub: subprocess.Popen[str], data_dir: Path) -> str:
    for _ in range(600):  # bounded: up to ~60 s on a busy machine
        info = data_dir / "hub.json"
        if info.exists():
            data = json.loads(info.read_text())
            if data["pid"] == hub.pid and data.get("api_url"):
                return str(data["api_url"])
        if hub.poll() is not None:
            pytest.fail(f"the hub exited: {hub.communicate()[1]}")
        time.sleep(0.1)
    hub.kill()
    pytest.fail("the hub did not come up")


def stop(hub: subprocess.Popen[str]) -> str:
    if hub.poll() is None:
        hub.send_signal(signal.SIGTERM)
    try:
        return hub.communicate(timeout=30)[1]
    except subprocess.TimeoutExpired:
        hub.kill()
        return hub.communicate(timeout=10)[1]


def test_run_prints_the_dashboard_url_and_the_setup_code(tmp_path: Path):
    hub = run_hub(tmp_path, "--port", "0", "--cors-origin", "https://panel.example:8443")
    try:
        url = api_url(hub, tmp_path)
        assert url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/api/health").json()["status"] == "ok"
            allowed = client.get("/api/health", headers={"Origin": "https://panel.example:8443"})
            assert allowed.headers["access-control-allow-origin"] == "https://panel.example:8443"
            other = client.get("/api/health", headers={"Origin": "https://evil.example"})
            assert "access-control-allow-origin" not in other.headers
        code = (tmp_path / "setup-code").read_text().strip()
    finally:
        stderr = stop(hub)
    assert hub.returncode == 0, stderr
    assert f"Dashboard and API: {url}" in stderr
    assert f"One-time setup code: {code}" in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "hub.json").exists()


def test_a_port_in_use_is_a_one_line_error(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        hub = run_hub(tmp_path, "--port", str(port), "--duration", "20s")
        stderr = stop(hub) if hub.wait(60) is None else hub.communicate()[1]
    assert hub.returncode == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert f"cannot listen on 127.0.0.1:{port}" in lines[0] and "choose another --port" in lines[0]


def test_a_bad_cors_origin_is_refused(tmp_path: Path):
    hub = run_hub(tmp_path, "--port", "0", "--cors-origin", "panel.example/path")
    stderr = hub.communicate(timeout=60)[1]
    assert hub.returncode == 1 and "must be an origin like" in stderr


def test_a_hub_killed_hard_takes_its_mosquitto_with_it(tmp_path: Path):
    """`kill -9` of the hub left Mosquitto running (and its port taken) until the next start;
    now Mosquitto gets the parent-death signal."""
    import psutil

    hub = run_hub(tmp_path, "--port", "0")
    try:
        api_url(hub, tmp_path)
        broker_pid = int((tmp_path / "broker" / "mosquitto.pid").read_text())
        broker = psutil.Process(broker_pid)
        assert "mosquitto" in broker.name()
        hub.send_signal(signal.SIGKILL)
        hub.wait(timeout=10)
        gone, _ = psutil.wait_procs([broker], timeout=10)
        assert gone, "mosquitto outlived the hub"
    finally:
        if hub.poll() is None:
            hub.kill()
        hub.communicate(timeout=10)
    again = run_hub(tmp_path, "--port", "0")  # and the data dir serves again at once
    try:
        assert api_url(again, tmp_path).startswith("http://127.0.0.1:")
    finally:
        stop(again)

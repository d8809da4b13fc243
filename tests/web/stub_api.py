"""A tiny stand-in for the hub's API, for developing the dashboard without `hyperhub run`.

Not shipped and not used by the tests (they run the real hub). It serves src/hyperhub/web at
`/`, the REST endpoints of docs/api.md on a simulator of the space, and a minimal WebSocket.
Any username/password logs in.

    .venv/bin/python tests/web/stub_api.py [--port 8399] [--space FILE]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import mimetypes
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from hyperhub.assistant.pipeline import Assistant, Conversation
from hyperhub.devices.sim.simulator import Simulator
from hyperhub.space import load_space

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "src/hyperhub/web"
LOCK = threading.Lock()


class Hub:
    def __init__(self, space_file: Path) -> None:
        self.space = load_space(space_file)
        self.sim = Simulator(self.space)
        self.assistant = Assistant(self.space, engine="matcher")
        self.convs: dict[str, Conversation] = {}
        self.clients: list[socket.socket] = []
        self.history: dict[tuple[str, str], list] = {}
        self.audit: list[dict] = []
        now = time.time()
        for dev, state in self.sim.states().items():
            for prop, value in state.items():
                self.history[(dev, prop)] = [[now, value]]

    def device_json(self, dev_id: str, spec: bool = False) -> dict:
        d = self.space.devices[dev_id]
        out = {
            "id": d.id,
            "name": d.name,
            "type": d.type,
            "class": d.cls,
            "area": d.area,
            "aliases": list(d.aliases),
            "online": True,
            "state": self.sim.state(dev_id),
            "updated": time.time(),
        }
        if spec:
            props = {
                n: {
                    "kind": p.kind,
                    "unit": p.unit,
                    "min": p.min,
                    "max": p.max,
                    "values": p.values,
                    "access": p.access,
                    "risky": p.risky is not None,
                }
                for n, p in d.dtype.properties.items()
                if n in out["state"]
            }
            acts = {
                n: {
                    "args": [
                        {"name": a.name, "kind": a.kind, "required": a.required} for a in s.args
                    ],
                    "risky": s.is_risky(d.cls),
                }
                for n, s in d.dtype.actions.items()
            }
            out["spec"] = {"properties": props, "actions": acts}
        return out

    def publish(self, dev_id: str, changes: dict) -> None:
        if not changes:
            return
        now = time.time()
        for prop, value in changes.items():
            self.history.setdefault((dev_id, prop), []).append([now, value])
        msg = {
            "type": "state",
            "device": dev_id,
            "changes": changes,
            "state": self.sim.state(dev_id),
            "ts": now,
        }
        self.broadcast(msg)

    def broadcast(self, msg: dict) -> None:
        frame = ws_frame(json.dumps(msg).encode())
        for c in list(self.clients):
            try:
                c.sendall(frame)
            except OSError:
                self.clients.remove(c)

    def ticker(self) -> None:
        while True:
            time.sleep(1)
            with LOCK:
                for dev, changes in self.sim.tick().items():
                    self.publish(dev, changes)
                for ev in self.sim.drain_events():
                    self.broadcast(
                        {
                            "type": "event",
                            "device": ev.device,
                            "event": ev.name,
                            "args": ev.args,
                            "ts": ev.ts,
                        }
                    )


def ws_frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes([0x81, n])
    elif n < 65536:
        head = bytes([0x81, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x81, 127]) + n.to_bytes(8, "big")
    return head + payload


def read_frame(f) -> bytes | None:
    head = f.read(2)
    if len(head) < 2 or head[0] & 0x0F == 8:
        return None
    n = head[1] & 0x7F
    if n == 126:
        n = int.from_bytes(f.read(2), "big")
    elif n == 127:
        n = int.from_bytes(f.read(8), "big")
    mask = f.read(4)
    data = f.read(n)
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def error(status: int, code: str, message: str) -> tuple[int, dict]:
    return status, {"error": {"status": status, "code": code, "message": message}}


class Handler(BaseHTTPRequestHandler):
    hub: Hub

    def log_message(self, *args) -> None:
        pass

    def send_json(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/api/ws":
            return self.websocket()
        if url.path.startswith("/api/"):
            return self.send_json(*self.api("GET", url.path[5:], parse_qs(url.query), {}))
        rel = url.path.lstrip("/") or "index.html"
        path = (WEB / rel).resolve()
        if WEB not in path.parents or not path.is_file():
            return self.send_json(*error(404, "not_found", "no such file"))
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", mimetypes.guess_type(path.name)[0] or "text/plain")
        self.send_header("Content-Security-Policy", "default-src 'self'")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        url = urlparse(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        self.send_json(*self.api("POST", url.path[5:], {}, body))

    def api(self, method: str, path: str, q: dict, body: dict) -> tuple[int, object]:
        hub = self.hub
        parts = path.split("/")
        if path == "health":
            return 200, {"status": "ok", "space": hub.space.name, "devices": len(hub.space.devices)}
        if path == "auth/login":
            return 200, {
                "token": "stub-token",
                "scopes": ["read", "control", "control:risky", "admin"],
                "user": body.get("username"),
            }
        if path == "auth/setup":
            return 200, {"needed": False}
        if self.headers.get("Authorization") != "Bearer stub-token":
            return error(401, "unauthorized", "a valid token is needed")
        with LOCK:
            if path == "auth/logout":
                return 200, {"ok": True}
            if path == "auth/me":
                return 200, {
                    "id": "stub",
                    "name": "admin",
                    "user": "admin",
                    "scopes": ["read", "control", "control:risky", "admin"],
                }
            if path == "space":
                sp = hub.space
                return 200, {
                    "name": sp.name,
                    "location": sp.location and sp.location.as_dict(),
                    "areas": [
                        {"id": a.id, "name": a.name, "aliases": list(a.aliases), "floor": a.floor}
                        for a in sp.areas.values()
                    ],
                }
            if path == "devices":
                return 200, [hub.device_json(d) for d in hub.space.devices]
            if path in ("rules", "scenes"):
                return 200, []
            if path == "audit":
                return 200, hub.audit[-100:][::-1]
            if path == "ask":
                return 200, self.ask(body)
            if parts[0] == "devices" and len(parts) >= 2:
                dev = parts[1]
                if dev not in hub.space.devices:
                    return error(404, "unknown_device", f"no device {dev!r}")
                if len(parts) == 2:
                    return 200, hub.device_json(dev, spec=True)
                if parts[2] == "history":
                    pts = hub.history.get((dev, q.get("property", [""])[0]), [])
                    return 200, {"device": dev, "property": q.get("property"), "points": pts}
                return self.command(dev, parts[2:], body)
        return error(404, "not_found", f"no endpoint {path}")

    def command(self, dev: str, parts: list[str], body: dict) -> tuple[int, object]:
        hub, d = self.hub, self.hub.space.devices[dev]
        try:
            if parts[0] == "set":
                prop, value = body.get("property"), body.get("value")
                risky = d.is_risky_write(prop, value)
                what = f"set {prop}={value}"
                run = lambda: hub.sim.set(dev, prop, value)  # noqa: E731
            else:
                risky = d.is_risky_call(parts[1])
                what = f"call {parts[1]}"
                run = lambda: hub.sim.call(dev, parts[1], body.get("args") or {})  # noqa: E731
            if risky and not body.get("confirm"):
                return error(409, "needs_confirmation", f"{dev}: {what} is risky; confirm it")
            changes = run()
        except Exception as exc:
            return error(422, "invalid", str(exc))
        hub.audit.append(
            {
                "ts": time.time(),
                "who": "stub",
                "device": dev,
                "kind": parts[0],
                "what": what,
                "result": "ok",
                "message": "",
            }
        )
        hub.publish(dev, changes)
        return 200, {"ok": True, "device": dev, "command": what, "state": hub.sim.state(dev)}

    def ask(self, body: dict) -> dict:
        hub = self.hub
        cid = body.get("conversation") or f"c{len(hub.convs) + 1}"
        conv = hub.convs.setdefault(cid, Conversation())
        before = hub.sim.states()
        answer = hub.assistant.ask(
            body.get("text", ""), hub.sim, area=body.get("area"), conversation=conv
        )
        after = hub.sim.states()
        for dev in after:
            changed = {k: v for k, v in after[dev].items() if before[dev].get(k) != v}
            hub.publish(dev, changed)
        return {**answer.as_contract(), "conversation": cid}

    def websocket(self) -> None:
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(
            hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        ).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.connection.sendall(
            ws_frame(
                json.dumps(
                    {
                        "type": "hello",
                        "space": self.hub.space.name,
                        "devices": len(self.hub.space.devices),
                    }
                ).encode()
            )
        )
        self.hub.clients.append(self.connection)
        while read_frame(self.rfile) is not None:
            pass
        self.close_connection = True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8399)
    ap.add_argument("--space", default=str(ROOT / "src/hyperhub/space/demo.yaml"))
    args = ap.parse_args()
    Handler.hub = Hub(Path(args.space))
    threading.Thread(target=Handler.hub.ticker, daemon=True).start()
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()

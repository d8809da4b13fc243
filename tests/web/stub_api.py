"""A tiny stand-in for the hub's API, for developing the dashboard without `hyperhub run`.

Not shipped and not used by the tests (they run the real hub). It serves src/hyperhub/web at
`/`, the REST endpoints of docs/api.md on a simulator of the space, and a minimal WebSocket.
Any username/password logs in. Rules and scenes come from tests/web/automations.yaml (for
the demo space): a rule runs its set / call actions at once (no conditions, no delays).

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
from urllib.parse import parse_qs, unquote, urlparse

from hyperhub.assistant.pipeline import Assistant, Conversation
from hyperhub.automation.describe import describe_action, describe_condition, describe_trigger
from hyperhub.automation.loader import Book, parse_automations
from hyperhub.devices.sim.simulator import Simulator
from hyperhub.errors import HyperHubError
from hyperhub.space import load_space

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "src/hyperhub/web"
LOCK = threading.Lock()
AUTOMATIONS = Path(__file__).with_name("automations.yaml")


class Hub:
    def __init__(self, space_file: Path) -> None:
        self.space = load_space(space_file)
        self.sim = Simulator(self.space)
        self.assistant = Assistant(self.space, engine="matcher")
        self.convs: dict[str, Conversation] = {}
        self.clients: list[socket.socket] = []
        self.history: dict[tuple[str, str], list] = {}
        self.audit: list[dict] = []
        try:
            self.book = parse_automations(AUTOMATIONS.read_text(), AUTOMATIONS.name, self.space)
        except HyperHubError:  # another space: no rules
            self.book = Book()
        self.enabled = {r.id: r.enabled for r in self.book.rules.values()}
        self.runs: dict[str, list[dict]] = {r: [] for r in self.book.rules}
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

    def rule_json(self, rule_id: str) -> dict:
        rule = self.book.rules[rule_id]
        runs = self.runs[rule_id]
        last = runs[0] if runs else None
        file, line = self.book.sources.get(f"rule:{rule_id}", ("?", 0))
        return {
            "id": rule.id,
            "name": rule.title,
            "description": rule.description,
            "enabled": self.enabled[rule_id],
            "stopped": None,
            "mode": rule.mode,
            "running": False,
            "runs": len(runs),
            "last_run": last and {**last, "trigger": last["trigger"]["description"]},
            "triggers": [describe_trigger(x, self.book.places) for x in rule.triggers],
            "conditions": [describe_condition(x) for x in rule.conditions],
            "actions": [describe_action(x) for x in rule.actions],
            "risky": any(k == f"rule:{rule_id}" for k, _ in self.book.risky),
            "source": f"{file}:{line}",
        }

    def scene_json(self, scene_id: str) -> dict:
        scene = self.book.scenes[scene_id]
        return {
            "id": scene.id,
            "name": scene.name,
            "aliases": scene.aliases,
            "states": scene.states,
            "actions": [describe_action(x) for x in scene.actions],
            "risky": any(k == f"scene:{scene_id}" for k, _ in self.book.risky),
            "source": None,
        }

    def send(self, dev: str, command: dict) -> dict:
        """One set / call on the simulator, as a scene item / run step."""
        what = f"{dev}.{command.get('property') or command.get('action')}"
        try:
            if "property" in command:
                what += f" = {command['value']!r}"
                changes = self.sim.set(dev, command["property"], command["value"])
            else:
                changes = self.sim.call(dev, command["action"], command.get("args") or {})
        except Exception as exc:
            return {"device": dev, "what": what, "ok": False, "message": str(exc)}
        self.publish(dev, changes)
        return {"device": dev, "what": what, "ok": True, "message": ""}

    def commands(self, actions: list, states: dict | None = None) -> list[tuple[str, dict]]:
        out = [
            (d, {"property": p, "value": v})
            for d, s in (states or {}).items()
            for p, v in s.items()
        ]
        for a in actions:
            if a.set is not None:
                value = a.set.value
                if isinstance(value, str) and "{{" in value:  # no templates here: a stand-in
                    value = 150
                ids = [a.set.device] if isinstance(a.set.device, str) else a.set.device
                out += [(d, {"property": a.set.property, "value": value}) for d in ids]
            elif a.call is not None:
                ids = [a.call.device] if isinstance(a.call.device, str) else a.call.device
                out += [(d, {"action": a.call.action, "args": a.call.args}) for d in ids]
        return out

    def run_rule(self, rule_id: str, by: str) -> dict:
        started = time.time()
        steps = []
        for dev, command in self.commands(self.book.rules[rule_id].actions):
            item = self.send(dev, command)
            steps.append({"kind": "action", "what": item["what"], "ok": item["ok"], "at": time.time(),
                          "message": item["message"]})  # fmt: skip
        ok = all(s["ok"] for s in steps)
        run = {
            "id": sum(len(r) for r in self.runs.values()) + 1,
            "started": started,
            "finished": time.time(),
            "result": "ok" if ok else "error",
            "message": "" if ok else "an action failed",
            "trigger": {"kind": "manual", "by": by, "description": f"run by {by}"},
            "steps": steps,
        }
        self.runs[rule_id].insert(0, run)
        self.broadcast({"type": "rule_run", "rule": rule_id, **{k: run[k] for k in (
            "result", "message", "started", "finished")}, "trigger": f"run by {by}"})  # fmt: skip
        return {"started": True, "rule": rule_id, "result": "running", "message": ""}

    def automation(self, method: str, parts: list[str], q: dict) -> tuple[int, object]:
        book = self.book
        if parts == ["rules"]:
            return 200, [self.rule_json(r) for r in book.rules]
        if parts == ["scenes"]:
            return 200, [self.scene_json(s) for s in book.scenes]
        if parts[0] == "rules":
            rule = parts[1]
            if rule not in book.rules:
                return error(404, "unknown_rule", f"no rule {rule!r}")
            tail = parts[2:]
            if tail == ["runs"]:
                return 200, self.runs[rule][: int(q.get("limit", ["50"])[0])]
            if tail in (["enable"], ["disable"]):
                self.enabled[rule] = tail == ["enable"]
            elif tail == ["run"]:
                if not self.enabled[rule]:
                    return error(403, "not_allowed", f"rule {rule} cannot run: it is disabled")
                return 200, self.run_rule(rule, "api:stub")
            return 200, self.rule_json(rule)
        scene = next(
            (s for s in book.scenes.values() if parts[1] in (s.id, s.name, *s.aliases)), None
        )
        if scene is None:
            return error(404, "unknown_scene", f"no scene {parts[1]!r}")
        items = [self.send(d, c) for d, c in self.commands(scene.actions, scene.states)]
        return 200, {"scene": scene.id, "ok": all(i["ok"] for i in items), "items": items}

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
            if parts[0] in ("rules", "scenes"):
                return hub.automation(method, [unquote(x) for x in parts], q)
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
    ap.add_argument("--space", default=str(ROOT / "src/hyperhub/demo/space.yaml"))
    args = ap.parse_args()
    Handler.hub = Hub(Path(args.space))
    threading.Thread(target=Handler.hub.ticker, daemon=True).start()
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()

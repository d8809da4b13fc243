"""`hyperhub bench api`: the API of a real hub (`hyperhub run` in its own process, demo space).

- GET state (`GET /api/devices/{id}`) and POST set (`POST /api/devices/{id}/set`, each waiting
  for the device's ack) requests per second with 50 concurrent keep-alive clients (a raw
  asyncio HTTP/1.1 client, so the client is not what is measured), with p50 / p99 latency;
- WebSocket fan-out: 1,000 state changes per second published on the fabric (as the devices'
  node publishes them) to 100 connected clients; delivery latency = arrival at the client
  minus the state's time stamp (same machine, same clock), p50 / p99, and dropped messages;
- dashboard first load: `GET /` and every file it links (as a browser would, 6 connections).

    python -m bench.api_bench [--quick]
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
from rich.table import Table

from bench.harness import percentile
from bench.mqtt_flood import connect_packet, publish_packet
from hyperhub.auth import AuthStore
from hyperhub.config import demo_space
from hyperhub.fabric.credentials import CredentialStore
from hyperhub.fabric.topics import Topics
from hyperhub.runtime import LOCAL_NODE, read_hub_info
from hyperhub.space import load_space

GOAL_WS_P99_MS = 50.0
GOAL_FIRST_LOAD_MS = 1000.0
FULL = {"clients": 50, "http_seconds": 5.0, "ws_clients": 100, "ws_rate": 1000, "ws_seconds": 5.0}
QUICK = {"clients": 5, "http_seconds": 0.5, "ws_clients": 3, "ws_rate": 100, "ws_seconds": 0.5}


def run_api_bench(
    *, quick: bool = False, on_phase: Callable[[str], None] | None = None, **override: Any
) -> dict[str, Any]:
    """Start a hub, measure, stop it; return the figures."""
    options = {**(QUICK if quick else FULL), **override}
    return asyncio.run(_run(options, on_phase or (lambda _: None)))


async def _run(o: dict[str, Any], phase: Callable[[str], None]) -> dict[str, Any]:
    space = load_space(demo_space())
    with tempfile.TemporaryDirectory(prefix="hyperhub-api-bench-") as tmp:
        data_dir = Path(tmp)
        phase("starting a hub")
        hub = _start_hub(data_dir)
        try:
            info = read_hub_info(data_dir)
            assert info is not None and info.api_url is not None
            base = info.api_url.rstrip("/")
            with AuthStore(data_dir) as auth:
                token, _ = auth.create_token("bench", {"read", "control"})
            lights = [d.id for d in space.devices.values() if d.type == "light"]
            phase("warming up")
            await _http_load(base, token, 4, 1.0, [_get(base, token, "/api/devices/car")])
            phase(f"GET state, {o['clients']} clients")
            get = await _http_load(
                base,
                token,
                o["clients"],
                o["http_seconds"],
                [_get(base, token, f"/api/devices/{d}") for d in space.devices],
                hub.pid,
            )
            phase(f"POST set, {o['clients']} clients")
            sets = [
                _post(base, token, f"/api/devices/{d}/set", {"property": "brightness", "value": v})
                for v in range(1, 101)
                for d in lights
            ]
            post = await _http_load(base, token, o["clients"], o["http_seconds"], sets, hub.pid)
            phase(f"WebSocket fan-out to {o['ws_clients']} clients")
            hub_process = psutil.Process(hub.pid)
            cpu_before = sum(hub_process.cpu_times()[:2])
            ws = await _fan_out(
                base,
                token,
                data_dir,
                info.slug,
                lights,
                o["ws_clients"],
                o["ws_rate"],
                o["ws_seconds"],
            )
            ws["hub_cpu_s"] = round(sum(hub_process.cpu_times()[:2]) - cpu_before, 2)
            phase("dashboard first load")
            load = await _first_load(base)
            async with httpx.AsyncClient(base_url=base) as client:
                health = (await client.get("/api/health")).json()
        finally:
            _stop_hub(hub)
    return {
        "options": o,
        "get_state": get,
        "post_set": post,
        "ws": {**ws, "dropped_at_hub": health.get("ws_dropped", 0)},
        "first_load": load,
        "get_req_per_s": get["req_per_s"],
        "set_req_per_s": post["req_per_s"],
        "ws_p99_ms": ws["p99_ms"],
        "first_load_ms": load["ms"],
    }


# -- the hub ---------------------------------------------------------------------------------


def _start_hub(data_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HYPERHUB_DATA_DIR": str(data_dir)}
    env.pop("HYPERHUB_SPACE", None)
    command = [
        sys.executable,
        "-m",
        "hyperhub",
        "run",
        "--space",
        str(demo_space()),
        "--broker-port",
        "0",
        "--port",
        "0",
        "--no-llm",
        "--commands-per-minute",
        "0",  # one token drives the whole load: the per-token limit would measure itself
    ]
    log = (data_dir / "hub.log").open("wb")
    hub = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        info = read_hub_info(data_dir)
        if info is not None and info.pid == hub.pid and info.api_url:
            return hub
        if hub.poll() is not None:
            break
        time.sleep(0.1)
    _stop_hub(hub)
    raise RuntimeError(f"the hub did not start: {(data_dir / 'hub.log').read_text()[-2000:]}")


def _stop_hub(hub: subprocess.Popen[bytes]) -> None:
    if hub.poll() is None:
        hub.send_signal(signal.SIGTERM)
        try:
            hub.wait(30)
        except subprocess.TimeoutExpired:
            hub.kill()
            hub.wait(10)


# -- HTTP load -------------------------------------------------------------------------------


def _host(base: str) -> tuple[str, int]:
    match = re.match(r"http://\[?([^\]/]+?)\]?:(\d+)$", base)
    assert match, base
    return match.group(1), int(match.group(2))


def _get(base: str, token: str, path: str) -> bytes:
    host, port = _host(base)
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()


def _post(base: str, token: str, path: str, body: dict[str, Any]) -> bytes:
    host, port = _host(base)
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode()
    return head + data


async def _http_load(
    base: str,
    token: str,
    clients: int,
    seconds: float,
    requests: list[bytes],
    hub_pid: int | None = None,
) -> dict[str, Any]:
    """`clients` keep-alive connections, each sending the next request when its answer is in;
    with `hub_pid`, also the hub process's CPU time per request (robust on a busy machine)."""
    host, port = _host(base)
    hub = psutil.Process(hub_pid) if hub_pid is not None else None
    cpu_before = sum(hub.cpu_times()[:2]) if hub is not None else 0.0
    latencies: list[float] = []
    errors: dict[int, int] = {}
    start = time.perf_counter()
    deadline = start + seconds

    async def worker(offset: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        i = offset
        try:
            while time.perf_counter() < deadline:
                request = requests[i % len(requests)]
                i += clients
                t0 = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    errors[status] = errors.get(status, 0) + 1
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    await asyncio.gather(*(worker(k) for k in range(clients)))
    elapsed = time.perf_counter() - start
    cpu = sum(hub.cpu_times()[:2]) - cpu_before if hub is not None else float("nan")
    return {
        "hub_cpu_ms_per_request": round(cpu / max(1, len(latencies)) * 1000, 3),
        "clients": clients,
        "requests": len(latencies),
        "req_per_s": round(len(latencies) / elapsed),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "errors": errors,
    }


# -- WebSocket fan-out -----------------------------------------------------------------------

CLIENT_PROCESSES = 2  # the clients' JSON parsing must not be what is measured


async def _fan_out(
    base: str,
    token: str,
    data_dir: Path,
    slug: str,
    devices: list[str],
    clients: int,
    rate: int,
    seconds: float,
) -> dict[str, Any]:
    """Publish `rate` state changes a second (as the devices' node does) for `seconds`, with
    `clients` WebSockets (in `CLIENT_PROCESSES` processes) subscribed to those devices; each
    delivery's latency is its arrival minus the state's time stamp (one clock)."""
    url = base.replace("http://", "ws://") + f"/api/ws?token={token}"
    total = int(rate * seconds)
    mp = multiprocessing.get_context("spawn")
    ready = mp.Barrier(CLIENT_PROCESSES + 1)
    results = mp.Queue()
    shares = [
        clients // CLIENT_PROCESSES + (k < clients % CLIENT_PROCESSES)
        for k in range(CLIENT_PROCESSES)
    ]
    workers = [
        mp.Process(target=_client_process, args=(url, devices, n, total, ready, results))
        for n in shares
        if n
    ]
    for worker in workers:
        worker.start()
    try:
        await asyncio.to_thread(ready.wait, 60)  # every client subscribed
        sent_s = await asyncio.to_thread(_publish, data_dir, slug, devices, rate, total)
        parts = [await asyncio.to_thread(results.get, True, 120) for _ in workers]
    finally:
        for worker in workers:
            worker.join(10)
            if worker.is_alive():
                worker.kill()
    latencies = [x for part in parts for x in part["latencies"]]
    return {
        "clients": clients,
        "changes": total,
        "changes_per_s": round(total / sent_s),
        "deliveries": sum(p["received"] for p in parts),
        "expected": total * clients,
        "frames": sum(p["frames"] for p in parts),
        "clients_cpu_s": round(sum(p["cpu_s"] for p in parts), 2),
        "seconds": seconds,
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "max_ms": round(max(latencies, default=float("nan")) * 1000, 2),
    }


def _publish(data_dir: Path, slug: str, devices: list[str], rate: int, total: int) -> float:
    """Send `total` state messages at `rate` a second over a plain MQTT socket, logged in as
    the hub's local node (the devices' owner); returns the seconds it took."""
    principal = next(p for p in CredentialStore(data_dir).nodes() if p.name == LOCAL_NODE)
    info = read_hub_info(data_dir)
    assert info is not None
    topics = Topics(slug)
    with socket.create_connection((info.broker_host, info.broker_port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(connect_packet("hyperhub-api-bench", principal.name, principal.password))
        connack = sock.recv(4)
        if len(connack) < 4 or connack[3] != 0:
            raise RuntimeError(f"the broker refused the bench publisher: {connack!r}")
        start = time.perf_counter()
        sent = 0
        while sent < total:
            due = min(total, int((time.perf_counter() - start) * rate) + 1)
            packets = []
            while sent < due:
                device = devices[sent % len(devices)]
                level = (sent // len(devices)) % 100 + 1  # a new value each time: one change
                payload = json.dumps({"ts": time.time(), "state": {"brightness": level}})
                packets.append(publish_packet(topics.state(device), payload.encode()))
                sent += 1
            sock.sendall(b"".join(packets))
            time.sleep(0.001)
        took = time.perf_counter() - start
        sock.sendall(b"\xe0\x00")  # DISCONNECT
    return took


def _client_process(
    url: str, devices: list[str], clients: int, total: int, ready: Any, results: Any
) -> None:
    """WebSocket clients in a process of their own; puts their latencies on `results`."""
    results.put(asyncio.run(_clients(url, devices, clients, total, ready)))


async def _clients(
    url: str, devices: list[str], clients: int, total: int, ready: Any
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    cpu_at_start = time.process_time()
    host, port, path = _ws_target(url)
    subscribe = json.dumps({"subscribe": {"devices": devices}})
    protocols: list[_WsClient] = []
    for _ in range(clients):
        _, protocol = await loop.create_connection(
            lambda: _WsClient(host, port, path, subscribe, total), host, port
        )
        protocols.append(protocol)
    await asyncio.wait_for(asyncio.gather(*(p.subscribed for p in protocols)), 60)
    await asyncio.to_thread(ready.wait, 60)
    await asyncio.wait([asyncio.ensure_future(p.done) for p in protocols], timeout=30 + total / 100)
    for p in protocols:
        p.close()
    return {
        "latencies": [x for p in protocols for x in p.latencies],
        "received": sum(p.received for p in protocols),
        "frames": sum(p.frames for p in protocols),
        "cpu_s": time.process_time() - cpu_at_start,
    }


def _ws_target(url: str) -> tuple[str, int, str]:
    match = re.match(r"ws://([^/:]+):(\d+)(/.*)$", url)
    assert match, url
    return match.group(1), int(match.group(2)), match.group(3)


class _WsClient(asyncio.Protocol):
    """A minimal WebSocket client (RFC 6455: handshake, unmasked server frames, one masked
    text frame to subscribe) that only reads state messages and their latency: much cheaper
    per frame than a full client library, so the clients are not what the bench measures."""

    def __init__(self, host: str, port: int, path: str, subscribe: str, total: int) -> None:
        loop = asyncio.get_running_loop()
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}"
            "\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.subscribe = subscribe.encode()
        self.total = total
        self.buffer = bytearray()
        self.upgraded = False
        self.subscribed: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self.latencies: list[float] = []
        self.received = 0
        self.frames = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(f"no WebSocket: {bytes(self.buffer[:80])!r}")
            del self.buffer[: end + 4]
            self.upgraded = True
            self._send_text(self.subscribe)
        now = time.time()
        while True:
            frame = self._next_frame()
            if frame is None:
                return
            self.frames += 1
            data = json.loads(frame)
            for m in data if isinstance(data, list) else (data,):
                kind = m.get("type")
                if kind == "state" and "brightness" in m["changes"]:
                    self.latencies.append(now - m["ts"])
                    self.received += 1
                elif kind == "subscribed" and not self.subscribed.done():
                    self.subscribed.set_result(None)
            if self.received >= self.total and not self.done.done():
                self.done.set_result(None)

    def _next_frame(self) -> bytes | None:
        buf = self.buffer
        if len(buf) < 2:
            return None
        length, offset = buf[1] & 0x7F, 2
        if length == 126:
            if len(buf) < 4:
                return None
            length, offset = int.from_bytes(buf[2:4], "big"), 4
        elif length == 127:
            if len(buf) < 10:
                return None
            length, offset = int.from_bytes(buf[2:10], "big"), 10
        if len(buf) < offset + length:
            return None
        payload = bytes(buf[offset : offset + length])
        del buf[: offset + length]
        return payload

    def _send_text(self, payload: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        n = len(payload)
        head = bytes([0x81]) + (
            bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
        )
        assert self.transport is not None
        self.transport.write(head + mask + masked)


# -- dashboard first load --------------------------------------------------------------------

_LINKS = re.compile(r"""(?:src|href)=["']([^"'#?]+)["']""")
_IMPORTS = re.compile(r"""(?:\bimport\b[^"';]*?|\bfrom\s*)["']([^"']+\.js)["']""")


def _resolve(link: str, parent: str) -> str | None:
    """An absolute path on this server for a link found in `parent`, or None (elsewhere)."""
    if "://" in link or link.startswith(("data:", "mailto:", "//", "#")):
        return None
    if link.startswith("/"):
        return link
    base = parent.rsplit("/", 1)[0]
    parts: list[str] = []
    for part in f"{base}/{link}".split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/" + "/".join(parts)


async def _first_load(base: str) -> dict[str, Any]:
    """GET / on new connections, then every same-origin file it links and every module its
    scripts import (as a browser loads them: 6 connections, level by level)."""
    limits = httpx.Limits(max_connections=6)
    async with httpx.AsyncClient(base_url=base, limits=limits) as client:
        t0 = time.perf_counter()
        page = await client.get("/")
        seen = {"/"}
        statuses, size = [page.status_code], len(page.content)
        level = {p for p in (_resolve(x, "/") for x in _LINKS.findall(page.text)) if p}
        while level:
            seen |= level
            paths = sorted(level)
            answers = await asyncio.gather(*(client.get(p) for p in paths))
            level = set()
            for path, answer in zip(paths, answers, strict=True):
                statuses.append(answer.status_code)
                size += len(answer.content)
                if path.endswith(".js"):
                    found = (_resolve(x, path) for x in _IMPORTS.findall(answer.text))
                    level |= {p for p in found if p and p not in seen}
        ms = (time.perf_counter() - t0) * 1000
    return {
        "ms": round(ms, 1),
        "files": len(statuses),
        "kb": round(size / 1024, 1),
        "all_ok": all(s == 200 for s in statuses),
    }


# -- the report ------------------------------------------------------------------------------


def results_table(r: dict[str, Any]) -> list[Table]:
    """The figures as Rich tables."""
    http = Table(
        title=f"REST on a running hub (demo space), {r['get_state']['clients']} "
        "concurrent keep-alive clients"
    )
    for name, justify in (
        ("request", "left"),
        ("req/s", "right"),
        ("p50 ms", "right"),
        ("p99 ms", "right"),
        ("hub CPU ms/req", "right"),
        ("errors", "right"),
    ):
        http.add_column(name, justify=justify)  # type: ignore[arg-type]
    for label, part in (
        ("GET /api/devices/{id}", r["get_state"]),
        ("POST /api/devices/{id}/set (waits for the ack)", r["post_set"]),
    ):
        errors = ", ".join(f"{k}: {v}" for k, v in part["errors"].items()) or "0"
        http.add_row(
            label,
            f"{part['req_per_s']:,}",
            f"{part['p50_ms']:.1f}",
            f"{part['p99_ms']:.1f}",
            f"{part['hub_cpu_ms_per_request']:.2f}",
            errors,
        )
    ws = r["ws"]
    live = Table(
        title=f"WebSocket fan-out: {ws['changes']:,} state changes at "
        f"{ws['changes_per_s']:,}/s to {ws['clients']} clients"
    )
    for name in ("metric", "value", "goal"):
        live.add_column(name, justify="left" if name == "metric" else "right")
    live.add_row("deliveries / expected", f"{ws['deliveries']:,} / {ws['expected']:,}", "")
    live.add_row("frames (several messages per frame under load)", f"{ws['frames']:,}", "")
    live.add_row("delivery latency p50, ms", f"{ws['p50_ms']:.1f}", "")
    live.add_row("delivery latency p99, ms", f"{ws['p99_ms']:.1f}", f"< {GOAL_WS_P99_MS:g}")
    live.add_row("delivery latency max, ms", f"{ws['max_ms']:.1f}", "")
    live.add_row("dropped at the hub (slow clients)", f"{ws['dropped_at_hub']:,}", "0")
    live.add_row(
        "hub CPU s / clients' CPU s in the phase", f"{ws['hub_cpu_s']} / {ws['clients_cpu_s']}", ""
    )
    load = r["first_load"]
    page = Table(title="Dashboard first load on loopback (GET / + linked files, 6 connections)")
    for name in ("metric", "value", "goal"):
        page.add_column(name, justify="left" if name == "metric" else "right")
    page.add_row("first load, ms", f"{load['ms']:.0f}", f"< {GOAL_FIRST_LOAD_MS:g}")
    page.add_row("files / KB", f"{load['files']} / {load['kb']:.0f}", "")
    page.add_row("every file 200", str(load["all_ok"]), "True")
    return [http, live, page]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from rich.console import Console

    args = sys.argv[1:] if argv is None else argv
    figures = run_api_bench(quick="--quick" in args)
    console = Console()
    for table in results_table(figures):
        console.print(table)
    return figures


if __name__ == "__main__":
    main()

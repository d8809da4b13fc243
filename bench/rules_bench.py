"""Rules benchmark: how fast a rule answers a trigger with 1,000 rules loaded, and what the
rules cost state ingestion.

One run (about 1.5 min at the defaults on 2 cores; `--quick`: seconds) against a real
Mosquitto, with the hub's `HubFabric` and a real SQLite store, and the rule engine on it
through `FabricAccess`, wired as `hyperhub run` wires it:

- **ingest**: the fabric benchmark's paced flood of state messages into the hub, without the
  engine and with the engine holding `rules` rules that watch the flooded devices. No rule
  fires, yet every message changes a watched property: the sensors' numbers stay on the
  quiet side of their thresholds (the engine's gate, `Watches.quiet`, lets the hub leave
  those out before they reach the engine — checking that is part of the cost measured), the
  climates' modes and fan speeds change among values their `from` / `to` rules do not
  wait for (those are evaluated every time). Each run starts from a collected heap, as in a
  hub that has run a while (what start-up built, the engine's rules included, is old for
  the collector). After a warm-up run, the runs alternate (off,
  on, on, off, off, on, on, off) and each side's mean rate counts: a hub process gets a
  little slower run after run, and in this order that drift weighs on both sides alike
  (the best of each side would favour the side that ran first); the slowdown is the
  difference in %.
  Beside it, the hub process's CPU time per message (less sensitive to other load).
- **latency**: a `DeviceNode` process hosts the watched devices and the lights the rules
  set (it runs and acks every command). It publishes `rate` quiet state changes per second
  round robin over the watched devices and, on top, `fire_rate` per second that each cross
  one rule's threshold, rule after rule. Per run, in the hub: from the hub reading the
  triggering state message (its ingest handler) to the engine handing the rule's first
  command to the hub (`RunTrace.first_sent`). End to end, on the node's clock: from the
  node publishing the crossing value to the node receiving the rule's command; cut in two
  at the hub (node → hub read, first command → node) where the hub's `perf_counter` is the
  node's clock (Linux: both CLOCK_MONOTONIC). The hub's garbage collections are noted too.

The rules (all checked by `parse_automations`), one per watched device: numeric thresholds
with hysteresis (a sensor's temperature above 30, its humidity below 20), state `from` / `to`
(a climate's mode from cool to heat) and `to` (its fan speed to high); some with a
condition (that holds), some with a templated value, some in mode restart or queue. Each
sets a light's brightness; the light and the value name the rule, so the node knows which
crossing a command answers.

    python -m bench.rules_bench [--quick] [--json] [--rules N] [--rate N] [--seconds N]
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from rich.table import Table

from bench.fabric_bench import SLUG, Bench, Flood, _wait_until, simulated_node, sized_main
from bench.harness import child, distribution
from bench.synthetic import synthetic_space_yaml
from hyperhub.automation import Book, parse_automations
from hyperhub.automation.access import FabricAccess, store_sink
from hyperhub.automation.engine import Engine, RunTrace
from hyperhub.fabric.broker import MosquittoBroker, mosquitto_binary
from hyperhub.fabric.credentials import CredentialStore
from hyperhub.fabric.hubside import HubFabric
from hyperhub.fabric.topics import Topics, parse_topic
from hyperhub.space import Device, Space, parse_space
from hyperhub.spec import builtin_types
from hyperhub.store import StateStore

ROOT = Path(__file__).resolve().parents[1]
NODE = "rules_node"
GOAL_P99_MS = 20.0
GOAL_SLOWDOWN_PCT = 10.0
TICK_S = 0.002  # the node's traffic loop: how often it catches up with its rates
TAIL_S = 1.0  # the node waits this long after the traffic for the last commands
NODE_TICK_S = 3600.0  # the node's simulator stays still: the bench sets every reading
WARM_UP = 20_000  # messages of a first ingest run that does not count (a cold process)
SLOW_MS = 5.0  # a run slower than this in the hub: was a garbage collection in it?
# the hub's perf_counter and the node's monotonic_ns are one clock (Linux: CLOCK_MONOTONIC)
SHARED_CLOCK = all(
    "CLOCK_MONOTONIC" in time.get_clock_info(clock).implementation
    for clock in ("perf_counter", "monotonic")
)
T = TypeVar("T")
# watched devices: sensors (numeric triggers) and climates (state triggers); lights are set
MIX = [
    ("sensor", 6, "{temperature: 22.5, humidity: 45}"),
    ("climate", 3, "{on: true, mode: cool, target_temp: 25}"),
    ("light", 1, "{on: false, brightness: 60}"),
]
FULL: dict[str, int] = {
    "rules": 1000,
    "rate": 1000,  # quiet state changes per second (latency part)
    "fire_rate": 20,  # state changes per second that fire a rule, on top
    "seconds": 30,  # of traffic (latency part)
    "flood": 100_000,  # messages per ingest run
    "repeats": 4,  # ingest runs of each kind (alternating; even: the order is balanced)
    "window": 5000,  # the flood runs at most this far ahead of the hub
}
QUICK: dict[str, int] = {
    "rules": 40,
    "rate": 200,
    "fire_rate": 10,
    "seconds": 3,
    "flood": 4000,
    "repeats": 1,
    "window": 1000,
}


def run_rules_bench(
    *, quick: bool = False, on_phase: Callable[[str], None] | None = None, **opts: int
) -> dict[str, Any]:
    """Run both parts and return the figures; `opts` override `FULL` / `QUICK`."""
    unknown = set(opts) - set(FULL)
    if unknown:
        raise TypeError(f"unknown options: {', '.join(sorted(unknown))}")
    settings = {**(QUICK if quick else FULL), **opts}
    if settings["rate"] < settings["fire_rate"]:
        raise ValueError("rate must be at least fire_rate (quiet values re-arm the rules)")
    return asyncio.run(_run(settings, quick, on_phase or (lambda _phase: None)))


# -- the space and the rules ------------------------------------------------------------------


@dataclass(frozen=True)
class Watched:
    """A watched device and its rule: the property the rule watches, values that fire
    nothing (taken in turn), the value the property must have just before a crossing
    (`ready`), the value that fires the rule, and what the rule sets."""

    rule: str
    device: str
    kind: str  # above | below | from_to | to
    prop: str
    quiet: list[Any]
    ready: Any
    fire: Any
    light: str
    value: int  # the brightness the rule sets (the light and it name the rule)


KINDS: dict[str, dict[str, Any]] = {
    "above": {
        "prop": "temperature",
        "quiet": [round(20 + k * 0.5, 1) for k in range(13)],  # 20 … 26: armed again (<= 28)
        "fire": 31.5,
        "trigger": "numeric: {{device: {d}, property: temperature, above: 30, hysteresis: 2}}",
        "condition": "state: {{device: {d}, property: humidity, above: 10}}",  # never varied
    },
    "below": {
        "prop": "humidity",
        "quiet": [35 + k * 2.5 for k in range(11)],  # 35 … 60
        "fire": 15.0,
        "trigger": "numeric: {{device: {d}, property: humidity, below: 20, hysteresis: 5}}",
        "condition": "state: {{device: {d}, property: temperature, below: 40}}",
    },
    "from_to": {
        "prop": "mode",
        "quiet": ["cool", "auto", "dry", "fan"],
        "ready": "cool",
        "fire": "heat",
        "trigger": "state: {{device: {d}, property: mode, from: cool, to: heat}}",
        "condition": "state: {{device: {d}, property: on, is: true}}",
    },
    "to": {
        "prop": "fan_speed",
        "quiet": ["auto", "low", "medium"],
        "fire": "high",
        "trigger": "state: {{device: {d}, property: fan_speed, to: high}}",
        "condition": "state: {{device: {d}, property: on, is: true}}",
    },
}


def build_space(rules: int) -> tuple[str, list[Watched]]:
    """A synthetic space with at least `rules` sensors and climates and a tenth as many
    lights, and one `Watched` per rule."""
    devices = rules + rules // 8 + 10
    while True:
        text = synthetic_space_yaml(devices, mix=MIX)
        space = parse_space(text, "<rules space>")
        by_type: dict[str, list[Device]] = defaultdict(list)
        for device in space.devices.values():
            by_type[device.type].append(device)
        watched = [d for d in space.devices.values() if d.type != "light"][:rules]
        lights = by_type["light"]
        if len(watched) == rules and lights and rules <= 100 * len(lights):
            break
        devices += rules // 10 + 10
    plan = []
    turn = {"sensor": 0, "climate": 0}
    for i, device in enumerate(watched):
        pair = ("above", "below") if device.type == "sensor" else ("from_to", "to")
        kind = pair[turn[device.type] % 2]
        turn[device.type] += 1
        spec = KINDS[kind]
        light = lights[i % len(lights)]
        plan.append(
            Watched(
                rule=f"r{i:04d}",
                device=device.id,
                kind=kind,
                prop=spec["prop"],
                quiet=spec["quiet"],
                ready=spec.get("ready", spec["quiet"][0]),
                fire=spec["fire"],
                light=light.id,
                value=1 + i // len(lights),
            )
        )
    return text, plan


def rules_yaml(plan: list[Watched]) -> str:
    """The automation file: one rule per watched device."""
    lines = ["rules:"]
    for i, w in enumerate(plan):
        spec = KINDS[w.kind]
        lines.append(f"  - id: {w.rule}")
        if i % 5 == 1:
            lines.append("    mode: restart")
        elif i % 5 == 3:
            lines.append("    mode: queue")
        lines.append("    triggers:")
        lines.append("      - " + spec["trigger"].format(d=w.device))
        if i % 10 == 4:
            lines.append("    conditions:")
            lines.append("      - " + spec["condition"].format(d=w.device))
        value = f'"{{{{ {w.value} + trigger.index }}}}"' if i % 7 == 2 else str(w.value)
        lines.append("    actions:")
        lines.append(f"      - set: {{device: {w.light}, property: brightness, value: {value}}}")
    return "\n".join(lines) + "\n"


# -- the run ----------------------------------------------------------------------------------


async def _run(o: dict[str, int], quick: bool, phase: Callable[[str], None]) -> dict[str, Any]:
    started = time.perf_counter()
    figures: dict[str, Any] = {"quick": quick, **o}
    with tempfile.TemporaryDirectory(prefix="hyperhub-rules-bench-") as tmp:
        scratch = Path(tmp)
        phase(f"building {o['rules']:,} rules")
        space_text, plan = build_space(o["rules"])
        space_file = scratch / "space.yaml"
        space_file.write_text(space_text, encoding="utf-8")
        space = parse_space(space_text, str(space_file))
        text = rules_yaml(plan)
        t = time.perf_counter()
        book = parse_automations(text, "bench_rules.yaml", space)
        figures["book_load_s"] = round(time.perf_counter() - t, 2)
        figures["devices"] = len(space.devices)
        figures["lights"] = len({w.light for w in plan})
        figures["kinds"] = {k: sum(w.kind == k for w in plan) for k in KINDS}
        credentials = CredentialStore(scratch / "data")
        credentials.add_node(NODE, list(space.devices))
        watched = [space.devices[w.device] for w in plan]
        quiet = {w.device: (w.prop, w.quiet) for w in plan}

        def vary(device: Device) -> tuple[str, list[Any]]:
            return quiet[device.id]

        phase("building the flood")
        flood = Flood.build(watched, o["flood"], scratch / "flood", vary)
        warm = Flood.build(watched, min(o["flood"], WARM_UP), scratch / "warm", vary)
        if mosquitto_binary() is None:
            raise SystemExit("mosquitto is not installed (apt-get install mosquitto)")
        async with (
            MosquittoBroker(scratch / "data", SLUG, credentials) as mosquitto,
            contextlib.AsyncExitStack() as stack,
        ):
            bench = await stack.enter_async_context(
                Bench(mosquitto, credentials, NODE, o["window"], scratch)
            )
            phase("ingest: warming up (not counted)")
            await bench.hub(warm, watched)
            runs: list[dict[str, Any]] = []
            for r in range(o["repeats"]):
                for with_rules in (False, True) if r % 2 == 0 else (True, False):
                    name = f"with {o['rules']:,} rules" if with_rules else "without rules"
                    phase(f"ingest {len(runs) + 1}/{2 * o['repeats']}: {name}")
                    fired: list[int] = [0]
                    attach = _engine_on(space, book, fired) if with_rules else None
                    cpu = time.process_time()  # this process: the hub (not its store writer)
                    with _gc_pauses() as pauses:
                        run = await bench.hub(flood, watched, attach)
                    cpu_us = (time.process_time() - cpu) / flood.count * 1e6
                    gc_ms = {
                        f"gen{g}": round(sum((e - b) * 1000 for b, e, gg in pauses if gg == g), 1)
                        for g in (0, 1, 2)
                    }
                    runs.append(
                        {
                            "rules": with_rules,
                            "fired": fired[0],
                            "hub_cpu_us_per_msg": round(cpu_us, 2),
                            "gc_ms": gc_ms,
                            **run,
                        }
                    )
            figures["ingest"] = _ingest_figures(runs)
            phase(
                f"latency: {o['rate']:,} quiet + {o['fire_rate']} firing changes/s "
                f"for {o['seconds']} s"
            )
            figures["latency"] = await _latency(bench, space, book, plan, space_file, o)
    figures.update(_headline(figures))
    figures["total_s"] = round(time.perf_counter() - started, 1)
    return figures


def _engine_on(
    space: Space, book: Book, fired: list[int]
) -> Callable[[HubFabric, StateStore], contextlib.AbstractAsyncContextManager[Engine]]:
    """For `Bench.hub`: the rule engine on its hub while the flood runs; counts the runs."""

    @contextlib.asynccontextmanager
    async def attach(hub: HubFabric, store: StateStore) -> AsyncIterator[Engine]:
        engine = Engine(space, book, FabricAccess(hub), traces=store_sink(hub, store))

        def count(_trace: RunTrace) -> None:
            fired[0] += 1

        engine.runs.listen(count)
        await engine.start()
        try:
            yield engine
        finally:
            await engine.close()

    return attach


def _ingest_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def mean_rate(with_rules: bool) -> int:
        return round(statistics.mean(r["msgs_per_s"] for r in runs if r["rules"] == with_rules))

    def cpu(with_rules: bool) -> float:
        side = [r["hub_cpu_us_per_msg"] for r in runs if r["rules"] == with_rules]
        return round(statistics.mean(side), 2)

    without, with_rules = mean_rate(False), mean_rate(True)
    slowdown = (1 - with_rules / without) * 100 if without else 0.0
    return {
        "without_rules_msgs_per_s": without,
        "with_rules_msgs_per_s": with_rules,
        "slowdown_pct": round(slowdown, 1),
        # CPU time of the hub process per message (the whole part: the same fixed work on
        # both sides), the mean of each side: the engine's cost, less sensitive to other load
        "cpu_us_per_msg": cpu(False),
        "cpu_us_per_msg_with_rules": cpu(True),
        "cpu_added_pct": round((cpu(True) / cpu(False) - 1) * 100, 1) if cpu(False) else 0.0,
        "fired": sum(r["fired"] for r in runs),
        "complete": all(r["complete"] and r["dropped"] == 0 for r in runs),
        "store_matches": all(r["store_matches"] for r in runs),
        "runs": runs,
    }


async def _latency(
    bench: Bench,
    space: Space,
    book: Book,
    plan: list[Watched],
    space_file: Path,
    o: dict[str, int],
) -> dict[str, Any]:
    """The node's traffic into the hub with the engine on it; per run, the latencies."""
    data_dir = Path(tempfile.mkdtemp(prefix="hub-", dir=bench.scratch))
    traces: list[RunTrace] = []
    with StateStore.open(data_dir=data_dir) as store:
        hub = HubFabric(
            SLUG,
            bench.hub_url.client_kwargs(),
            types=builtin_types(),
            store=store,
            known_space=space,
        )
        arrived = _stamp_arrivals(hub)
        async with hub:
            await hub.wait_connected(10)
            async with _node_process(bench, space_file, list(space.devices), plan) as node:
                if not await _wait_until(lambda: _all_there(hub, space), 60, every=0.05):
                    raise RuntimeError(
                        f"the hub has {len(hub.registry)} devices of "
                        f"{len(space.devices)} from the node"
                    )
                engine = Engine(space, book, FabricAccess(hub), traces=store_sink(hub, store))
                _stamp_fired(engine, hub, arrived)
                engine.runs.listen(traces.append)
                await engine.start()
                try:
                    go = {"rate": o["rate"], "fire_rate": o["fire_rate"], "seconds": o["seconds"]}
                    with _gc_pauses() as pauses:
                        result = await node.talk(go, timeout=o["seconds"] + TAIL_S + 60)
                    await engine.wait_idle(10)
                finally:
                    await engine.close()
            stats = hub.stats
            await hub.flush(30)
    figures = _latency_figures(plan, traces, result, o)
    figures["command_timeouts"] = stats.timeouts
    figures["gc"] = _gc_figures(pauses, traces)
    return figures


@contextlib.contextmanager
def _gc_pauses() -> Iterator[list[tuple[float, float, int]]]:
    """The hub process's garbage collections meanwhile: (start, end, generation), in
    perf_counter seconds."""
    pauses: list[tuple[float, float, int]] = []
    began = [0.0]

    def note(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            pauses.append((began[0], time.perf_counter(), info["generation"]))

    gc.callbacks.append(note)
    try:
        yield pauses
    finally:
        gc.callbacks.remove(note)


def _gc_figures(pauses: list[tuple[float, float, int]], traces: list[RunTrace]) -> dict[str, Any]:
    """Collections per generation (count, longest ms), and how many of the runs that took
    over `SLOW_MS` in the hub had a collection within them."""
    figures: dict[str, Any] = {}
    for generation in (0, 1, 2):
        took = [(end - start) * 1000 for start, end, g in pauses if g == generation]
        figures[f"gen{generation}"] = {
            "count": len(took),
            "max_ms": round(max(took), 1) if took else 0.0,
        }
    slow = with_gc = 0
    for trace in traces:
        arrived, sent = trace.trigger.get("bench_arrived"), trace.first_sent
        if arrived is None or sent is None or (sent - arrived) * 1000 <= SLOW_MS:
            continue
        slow += 1
        with_gc += any(start < sent and end > arrived for start, end, _ in pauses)
    figures.update(slow_runs=slow, slow_runs_with_gc=with_gc)
    return figures


def _stamp_arrivals(hub: HubFabric) -> list[float]:
    """Note when the hub's ingest handler takes each state message (before `start`, which
    subscribes the handlers); the engine side copies it into the trigger of what fires."""
    arrived = [0.0]

    def stamp(_topic: str) -> None:
        arrived[0] = time.perf_counter()

    hub.on_state_message(stamp)
    return arrived


def _stamp_fired(engine: Engine, hub: HubFabric, arrived: list[float]) -> None:
    """Put into each fired trigger's info when its own state message arrived and when the
    trigger fired (the engine's evaluation of that change done). The hub hands the engine
    its changes in batches: a listener ahead of the engine's notes each change's arrival
    (by the identity of its `changed` dict), and the batch is evaluated change by change."""
    watches = engine.watches
    evaluate = watches.on_changes
    arrivals: dict[int, float] = {}

    def note(_device: str, changed: dict[str, Any], _ts: float) -> None:
        if len(arrivals) > 100_000:  # changes the gate left out are never taken back
            arrivals.clear()
        arrivals[id(changed)] = arrived[0]

    hub.listen_changes(note, first=True)

    def stamped(items: Any) -> list[Any]:
        out: list[Any] = []
        for item in items:
            fired = evaluate((item,))
            came = arrivals.pop(id(item[1]), None)
            if fired:
                now = time.perf_counter()
                for one in fired:
                    one.info["bench_arrived"] = came if came is not None else arrived[0]
                    one.info["bench_fired"] = now
                out += fired
        return out

    watches.on_changes = stamped  # type: ignore[method-assign]


def _all_there(hub: HubFabric, space: Space) -> bool:
    registry = hub.registry
    for device in space.devices:
        record = registry.get(device)
        if record is None or record.ts is None or not registry.is_online(device):
            return False
    return True


def _latency_figures(
    plan: list[Watched], traces: list[RunTrace], node: dict[str, Any], o: dict[str, int]
) -> dict[str, Any]:
    """Latencies per crossing: in the hub (and its two parts), end to end at the node, and
    the end to end cut in three where the hub's clock is the node's (CLOCK_MONOTONIC)."""
    index = {w.rule: i for i, w in enumerate(plan)}
    runs: dict[int, _Queue[RunTrace]] = defaultdict(_Queue)
    in_hub, evaluated, dispatched = [], [], []
    results: dict[str, int] = defaultdict(int)
    for trace in sorted(traces, key=lambda t: t.trigger.get("bench_arrived") or 0.0):
        results[trace.result] += 1
        arrived, fired = trace.trigger.get("bench_arrived"), trace.trigger.get("bench_fired")
        if trace.first_sent is None or arrived is None or fired is None:
            continue
        in_hub.append((trace.first_sent - arrived) * 1000)
        evaluated.append((fired - arrived) * 1000)
        dispatched.append((trace.first_sent - fired) * 1000)
        runs[index[trace.rule]].add(round(arrived * 1e9), trace)
    topics = Topics(SLUG)
    rule_of = {(w.light, w.value): i for i, w in enumerate(plan)}
    commands: dict[int, _Queue[None]] = defaultdict(_Queue)
    for t_ns, topic, value in node["commands"]:
        parsed = parse_topic(topics, topic)
        rule = rule_of.get((parsed.device, value)) if parsed is not None else None
        if rule is not None:
            commands[rule].add(t_ns, None)
    end_to_end, to_hub, to_node = [], [], []
    for rule, t_ns in sorted(node["fires"], key=lambda f: f[1]):
        command = commands[rule].take(t_ns)
        if command is None:
            continue
        end_to_end.append((command[0] - t_ns) / 1e6)
        run = runs[rule].take(t_ns) if SHARED_CLOCK else None
        if run is not None and run[1].first_sent is not None:
            to_hub.append((run[0] - t_ns) / 1e6)
            to_node.append((command[0] - run[1].first_sent * 1e9) / 1e6)
    return {
        "crossings": len(node["fires"]),
        "runs": len(traces),
        "results": dict(results),
        "commands_at_node": len(node["commands"]),
        "unanswered": len(node["fires"]) - len(end_to_end),
        "in_hub_ms": distribution(in_hub),
        "evaluate_ms": distribution(evaluated),
        "dispatch_ms": distribution(dispatched),
        "end_to_end_ms": distribution(end_to_end),
        "node_to_hub_ms": distribution(to_hub),
        "hub_to_node_ms": distribution(to_node),
        "quiet_sent": node["quiet"],
        "quiet_per_s": round(node["quiet"] / o["seconds"]),
        "ready_sent": node["ready"],
        "generator_lag_max_ms": node["lag_max_ms"],
    }


class _Queue(Generic[T]):
    """Items of one rule with their times (ns), taken in order."""

    def __init__(self) -> None:
        self.items: list[tuple[int, T]] = []
        self.next = 0

    def add(self, t_ns: int, item: T) -> None:
        self.items.append((t_ns, item))

    def take(self, at_least: int) -> tuple[int, T] | None:
        """The next item not taken yet at `at_least` or later (earlier ones are skipped)."""
        while self.next < len(self.items) and self.items[self.next][0] < at_least:
            self.next += 1
        if self.next == len(self.items):
            return None
        self.next += 1
        return self.items[self.next - 1]


def _headline(f: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue names, at the top level of the JSON."""
    lat, ingest = f["latency"], f["ingest"]
    return {
        "rule_p50_ms": lat["in_hub_ms"]["p50"],
        "rule_p99_ms": lat["in_hub_ms"]["p99"],
        "end_to_end_p50_ms": lat["end_to_end_ms"]["p50"],
        "end_to_end_p99_ms": lat["end_to_end_ms"]["p99"],
        "ingest_msgs_per_s": ingest["without_rules_msgs_per_s"],
        "ingest_with_rules_msgs_per_s": ingest["with_rules_msgs_per_s"],
        "ingest_slowdown_pct": ingest["slowdown_pct"],
    }


# -- the node ---------------------------------------------------------------------------------


class _Node:
    """The node process: one JSON line each way per exchange."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def line(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            raw = await self.proc.stdout.readline()
        if not raw.strip():
            raise RuntimeError("the node process ended early (see its stderr)")
        return json.loads(raw)

    async def talk(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        await self.proc.stdin.drain()
        return await self.line(timeout)


@contextlib.asynccontextmanager
async def _node_process(
    bench: Bench, space_file: Path, devices: list[str], plan: list[Watched]
) -> AsyncIterator[_Node]:
    """The node hosting every device of the space, in its own process; once it is ready.
    Stopped (goodbye) on exit."""
    spec = {
        "name": NODE,
        "space": str(space_file),
        "devices": devices,
        "url": bench.url_of(NODE).client_kwargs(),
        "plan": [asdict(w) for w in plan],
    }
    spec_file = bench.scratch / "node.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    code = "from bench.rules_bench import node_process; node_process()"
    async with child(code, str(spec_file), stdout=asyncio.subprocess.PIPE) as proc:
        node = _Node(proc)
        ready = await node.line(60)
        if ready.get("ready") is not True:
            raise RuntimeError(f"the node process did not start: {ready!r}")
        yield node


def node_process() -> None:
    """Entry point of the node process: host the devices; on a `go` line, run the traffic
    and answer with what it sent and which commands came when; exit when stdin closes."""

    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    space = parse_space(Path(spec["space"]).read_text(encoding="utf-8"), spec["space"])
    plan = [Watched(**w) for w in spec["plan"]]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        node = simulated_node(spec, space)
        received: list[tuple[int, str, bytes]] = []
        node.on_command(
            lambda topic, payload: received.append((time.monotonic_ns(), topic, payload))
        )
        async with node:
            await node.wait_ready(60)
            _say({"ready": True})
            line = await loop.run_in_executor(None, sys.stdin.readline)
            go = json.loads(line)
            result = await _traffic(node, plan, go["rate"], go["fire_rate"], go["seconds"])
            await asyncio.sleep(TAIL_S)
            commands = []
            for t_ns, topic, payload in received:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    commands.append((t_ns, topic, json.loads(payload)["value"]))
            _say({**result, "commands": commands})
            await loop.run_in_executor(None, sys.stdin.read)

    asyncio.run(main())


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def _traffic(
    node: Any, plan: list[Watched], rate: int, fire_rate: int, seconds: float
) -> dict[str, Any]:
    """Publish `rate` quiet changes per second round robin over the watched devices and
    `fire_rate` crossings per second, rule after rule, for `seconds`; note each crossing's
    publish time (a crossing first sets its `ready` value when the property has another)."""
    topics = Topics(SLUG)
    state = {w.device: dict(node.memory.states[w.device]) for w in plan}
    names = {w.device: topics.state(w.device) for w in plan}
    turns = [0] * len(plan)
    encode = json.JSONEncoder(separators=(",", ":")).encode
    send = node.client.send

    def publish(w: Watched, value: Any) -> None:
        now = state[w.device]
        now[w.prop] = value
        payload = encode({"ts": time.time(), "state": now}).encode()
        send(names[w.device], payload, retain=True).add_done_callback(_quiet)

    quiet = ready = fires_due = 0
    fires: list[tuple[int, int]] = []
    lag = 0.0
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        for _ in range(int(elapsed * rate) - quiet):
            i = quiet % len(plan)
            w = plan[i]
            values = w.quiet
            value = values[turns[i] % len(values)]
            turns[i] += 1
            if value == state[w.device][w.prop]:
                value = values[turns[i] % len(values)]
                turns[i] += 1
            publish(w, value)
            quiet += 1
        for _ in range(int(elapsed * fire_rate) - fires_due):
            i = fires_due % len(plan)
            w = plan[i]
            current = state[w.device][w.prop]
            if current != w.ready and (w.kind == "from_to" or current not in w.quiet):
                publish(w, w.ready)
                ready += 1
            t_ns = time.monotonic_ns()
            publish(w, w.fire)
            fires.append((i, t_ns))
            fires_due += 1
        behind = elapsed - quiet / rate
        lag = max(lag, behind)
        await asyncio.sleep(TICK_S)
    return {"quiet": quiet, "ready": ready, "fires": fires, "lag_max_ms": round(lag * 1000, 1)}


def _quiet(future: asyncio.Future[None]) -> None:
    """Retrieve a send's outcome (a lost one is not this benchmark's business)."""
    if not future.cancelled():
        future.exception()


# -- reporting --------------------------------------------------------------------------------


def results_table(r: dict[str, Any]) -> list[Table]:
    """The figures as one Rich table: figure, value, goal, whether it is met."""
    lat, ingest = r["latency"], r["ingest"]
    table = Table(
        title=f"Rules: {r['rules']:,} loaded; {r['rate']:,} state changes/s, "
        f"{r['fire_rate']}/s of them firing a rule, for {r['seconds']} s"
    )
    for name, justify in (
        ("figure", "left"),
        ("value", "right"),
        ("goal", "right"),
        ("ok?", "center"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]

    def ms(value: float | None) -> str:
        return "–" if value is None else f"{value:.2f}"

    def ok(good: bool) -> str:
        return "✓" if good else "✗"

    hub, e2e = lat["in_hub_ms"], lat["end_to_end_ms"]
    p99_ok = hub["p99"] is not None and hub["p99"] < GOAL_P99_MS
    table.add_row("trigger → first command sent, p50, ms (in the hub)", ms(hub["p50"]), "", "")
    table.add_row(
        "trigger → first command sent, p99, ms (in the hub)",
        ms(hub["p99"]),
        f"< {GOAL_P99_MS:g}",
        ok(p99_ok),
    )
    table.add_row(
        "node publish → command at the node, p50, ms (end to end)", ms(e2e["p50"]), "", ""
    )
    table.add_row(
        "node publish → command at the node, p99, ms (end to end)", ms(e2e["p99"]), "", ""
    )
    done = lat["results"].get("ok", 0)
    all_ran = lat["runs"] == lat["crossings"] == done == e2e["count"]
    table.add_row(
        "crossings → runs (ok) → commands received by the node",
        f"{lat['crossings']:,} → {lat['runs']:,} ({done:,}) → {e2e['count']:,}",
        "all",
        ok(all_ran),
    )
    table.add_row(
        "hub ingest without rules, state msgs/s", f"{ingest['without_rules_msgs_per_s']:,}", "", ""
    )
    table.add_row(
        f"hub ingest with {r['rules']:,} rules (none firing), state msgs/s",
        f"{ingest['with_rules_msgs_per_s']:,}",
        "",
        "",
    )
    slow_ok = ingest["slowdown_pct"] <= GOAL_SLOWDOWN_PCT and ingest["fired"] == 0
    table.add_row(
        "ingest slowdown with the rules, %",
        f"{ingest['slowdown_pct']:.1f}",
        f"<= {GOAL_SLOWDOWN_PCT:g}",
        ok(slow_ok),
    )
    table.add_row(
        "hub CPU per state message without / with the rules, µs",
        f"{ingest['cpu_us_per_msg']:.1f} / {ingest['cpu_us_per_msg_with_rules']:.1f} "
        f"({ingest['cpu_added_pct']:+.1f} %)",
        "",
        "",
    )
    ev, dispatch = lat["evaluate_ms"], lat["dispatch_ms"]
    up, down, gc_ = lat["node_to_hub_ms"], lat["hub_to_node_ms"], lat["gc"]
    parts = [
        f"p50 / p99 ms in the hub: state message read → rule fired {ms(ev['p50'])} / "
        f"{ms(ev['p99'])}, fired → first command {ms(dispatch['p50'])} / {ms(dispatch['p99'])}",
    ]
    if up["count"]:
        parts.append(
            f"end to end: node → hub read {ms(up['p50'])} / {ms(up['p99'])}, first command → "
            f"node {ms(down['p50'])} / {ms(down['p99'])}"
        )
    parts += [
        f"hub GC meanwhile: {gc_['gen2']['count']} full collections (longest "
        f"{gc_['gen2']['max_ms']:g} ms), in {gc_['slow_runs_with_gc']} of the "
        f"{gc_['slow_runs']} runs over {SLOW_MS:g} ms",
        f"quiet changes sent {lat['quiet_per_s']:,}/s (generator at most "
        f"{lat['generator_lag_max_ms']:g} ms behind); {r['devices']:,} devices, "
        f"{r['lights']} lights; rules parsed and checked in {r['book_load_s']:g} s",
        f"ingest: flood of {r['flood']:,} messages, mean of {r['repeats']} runs each, "
        f"{ingest['fired']} runs fired; total run {r['total_s']:.0f} s",
    ]
    table.caption = "; ".join(parts)
    return [table]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return sized_main(argv, "rules", FULL, run_rules_bench, results_table, __doc__)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()

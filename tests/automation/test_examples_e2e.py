"""The demo's shipped automations (examples/demo/automations/) end to end: `hyperhub run`'s
whole stack (`runtime.serve`: embedded broker, the hub on the fabric, the local node with the
simulated demo space, the SQLite store, the rule engine) on a manual clock.

Time moves only when a test says so: the node then ticks the simulator (the car drives its
route home, covers travel), its state goes over the real broker to the hub, and the engine
sees the changes and its time triggers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tests.helpers.wait import until

from hyperhub import config
from hyperhub.automation.loader import load_automations
from hyperhub.clock import ManualClock
from hyperhub.devices.sim import Simulator
from hyperhub.runtime import ServeStatus, serve
from hyperhub.space import load_space
from hyperhub.store import StateStore

SHANGHAI = ZoneInfo("Asia/Shanghai")
AWAY = {"lat": 31.2268, "lon": 121.5452}  # Century Park, ~4.8 km from home


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp()


class Demo:
    """The running demo hub, and ways to move its time and devices."""

    def __init__(self, status: ServeStatus, clock: ManualClock, store: StateStore) -> None:
        assert status.engine is not None and status.fabric is not None and status.node
        self.status = status
        self.engine = status.engine
        self.fabric = status.fabric
        self.node = status.node
        self.clock = clock
        self.store = store
        backend = self.node.backend
        assert isinstance(backend, Simulator)
        self.sim = backend

    def state(self, device: str) -> dict[str, Any]:
        record = self.fabric.registry.get(device)
        return {} if record is None else dict(record.state)

    async def until(self, check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
        await until(check, what, timeout, every=0.01)

    async def sync(self) -> None:
        """Publish what the simulator changed and wait until the hub has what the node last
        published (rules that fired may change those devices meanwhile: compared each time),
        then let the rules that fired finish (their commands acked)."""
        changed = self.node.poll()
        published = self.node.memory.states
        for device in changed:
            await self.until(
                lambda d=device: all(self.state(d).get(k) == v for k, v in published[d].items()),
                f"the hub to see {device}'s state",
            )
        self.engine.check_time()
        for _ in range(3):
            await asyncio.sleep(0.01)
            await self.engine.wait_idle(15)

    async def advance(self, seconds: float, step: float = 2.0) -> None:
        left = seconds
        while left > 1e-9:
            h = min(step, left)
            self.clock.advance(h)
            await self.sync()
            left -= h

    async def report(self, device: str, **values: Any) -> None:
        self.sim.report(device, values)
        await self.sync()

    def runs(self, rule: str) -> list[str]:
        self.engine.flush_traces()
        return [r.result for r in reversed(self.store.rule_runs(rule, limit=100))]

    async def stored_runs(self, rule: str) -> list[str]:
        self.engine.flush_traces()
        await self.fabric.flush(10)
        return [r.result for r in reversed(self.store.rule_runs(rule, limit=100))]


@asynccontextmanager
async def demo_hub(tmp_path: Path, start: str) -> AsyncIterator[Demo]:
    space = load_space(config.demo_space())
    book = load_automations(space)
    clock = ManualClock(at(start))
    data_dir = tmp_path / "data"
    store = StateStore.open(data_dir=data_dir)
    stop = asyncio.Event()
    ready: asyncio.Future[ServeStatus] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(
            space,
            store,
            data_dir,
            broker_port=0,
            tick_s=3600,  # the test ticks the node itself (`Demo.sync`)
            stop=stop,
            on_ready=ready.set_result,
            automations=book,
            clock=clock,
        )
    )
    try:
        async with asyncio.timeout(30):
            status = await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # raises why it did not start
        demo = Demo(ready.result(), clock, store)
        await demo.sync()
        yield demo
    finally:
        stop.set()
        async with asyncio.timeout(30):
            await asyncio.gather(task, return_exceptions=True)
        store.close()
    del status


def run(coro: Any) -> Any:
    async def bounded() -> Any:
        async with asyncio.timeout(120):
            return await coro

    return asyncio.run(bounded())


def test_arriving_home_after_sunset(tmp_path: Path) -> None:
    async def main() -> None:
        async with demo_hub(tmp_path, "2026-11-26 18:30") as demo:
            assert demo.state("car")["speed_kmh"] > 0  # its route: driving home
            await demo.advance(9 * 60)  # 5 km at 40 km/h
            assert demo.state("car")["speed_kmh"] == 0 and demo.state("car")["gear"] == "P"
            assert await demo.stored_runs("arriving_home_ac") == ["ok"]
            assert await demo.stored_runs("arriving_home_garage") == ["ok"]
            assert await demo.stored_runs("arriving_home_hallway_light") == ["ok"]
            ac = demo.state("living_room_ac")
            assert ac["on"] is True and ac["mode"] == "heat"  # 16.8 °C inside: heat
            assert demo.state("hallway_light")["on"] is True
            await demo.until(lambda: demo.state("garage_door")["position"] == 100, "garage open")
            [run_] = demo.store.rule_runs("arriving_home_ac")
            assert 1.9 < run_.trigger["distance_km"] <= 2.0 and run_.trigger["approaching"]
            sent = [s for s in run_.steps if s["kind"] == "action"]
            assert sent[-1]["what"].startswith("phone_chen_wei.notify(message='SU7 is 2.0 km")
            audit = demo.store.audit_log("garage_door")
            assert audit[0].actor == "rule:arriving_home_garage" and audit[0].result == "ok"

    run(main())


def test_arriving_home_in_daylight_leaves_the_hallway_light_off(tmp_path: Path) -> None:
    async def main() -> None:
        async with demo_hub(tmp_path, "2026-11-26 12:00") as demo:
            await demo.advance(9 * 60, step=4)
            assert await demo.stored_runs("arriving_home_hallway_light") == ["conditions_false"]
            assert demo.state("hallway_light")["on"] is False
            assert await demo.stored_runs("arriving_home_ac") == ["ok"]

    run(main())


def test_leaving_home_when_the_last_phone_leaves(tmp_path: Path) -> None:
    async def main() -> None:
        async with demo_hub(tmp_path, "2026-11-26 09:00") as demo:
            home = demo.sim.state("phone_chen_wei")["location"]
            demo.sim.start_route("phone_li_na", [home, AWAY], 30)
            await demo.advance(60, step=5)  # Li Na is 500 m away; Chen Wei is home
            assert await demo.stored_runs("leaving_home") == ["conditions_false"]
            assert demo.state("living_room_light")["on"] is True
            await demo.report("front_door_lock", locked=False)
            demo.sim.start_route("phone_chen_wei", [home, AWAY], 30)
            await demo.advance(60, step=5)
            assert await demo.stored_runs("leaving_home") == ["conditions_false", "ok"]
            assert demo.state("front_door_lock")["locked"] is True
            assert demo.state("robot_vacuum")["status"] == "cleaning"
            lights = ["living_room_light", "kitchen_light", "bedside_lamp", "dining_pendant"]
            assert all(demo.state(light)["on"] is False for light in lights)

    run(main())


def test_good_night_when_the_watch_reports_sleep(tmp_path: Path) -> None:
    async def main() -> None:
        async with demo_hub(tmp_path, "2026-11-26 23:00") as demo:
            await demo.report("cyberdog", mode="patrol", posture="stand")
            await demo.report("watch_chen_wei", sleeping=True)
            await demo.advance(4 * 60, step=30)
            assert await demo.stored_runs("good_night") == []  # asleep for 5 minutes first
            await demo.advance(61, step=30)
            assert await demo.stored_runs("good_night") == ["ok"]
            assert demo.state("phone_chen_wei")["dnd"] is True
            assert demo.state("cyberdog")["mode"] == "dock"
            assert demo.state("bedside_lamp")["on"] is False
            await demo.advance(120, step=10)  # curtains and blinds travel
            assert demo.state("living_room_curtain")["position"] == 0
            assert demo.state("bedroom_blind")["position"] == 0

    run(main())


def test_car_preconditioning_on_a_cold_workday_morning(tmp_path: Path) -> None:
    async def main() -> None:
        async with demo_hub(tmp_path, "2026-11-27 07:20") as demo:  # a Friday
            assert demo.state("car")["cabin_temp"] < 10
            await demo.advance(11 * 60, step=30)
            assert await demo.stored_runs("car_preconditioning") == ["ok"]
            car = demo.state("car")
            assert car["hvac_on"] is True and car["cabin_target_temp"] == 22

    run(main())


def test_purifier_and_robot_dog_patrol(tmp_path: Path) -> None:
    async def main() -> None:
        async with demo_hub(tmp_path, "2026-11-26 14:00") as demo:
            await demo.report("living_room_purifier", pm25=120)
            assert await demo.stored_runs("purifier_on_pm25") == ["ok"]
            assert demo.state("living_room_purifier")["speed"] == 80
            await demo.report("hallway_motion", motion=True)  # people are home: no patrol
            assert await demo.stored_runs("robot_dog_patrol") == ["conditions_false"]
            await demo.report("hallway_motion", motion=False)
            await demo.report("phone_chen_wei", location=AWAY)
            await demo.report("phone_li_na", location=AWAY)
            await demo.report("hallway_motion", motion=True)
            assert (await demo.stored_runs("robot_dog_patrol"))[-1] == "ok"
            assert demo.state("cyberdog")["mode"] == "patrol"

    run(main())


@pytest.mark.parametrize("name", ["回家模式", "movie_night", "晚安", "away mode"])
def test_every_scene_applies_through_the_fabric(tmp_path: Path, name: str) -> None:
    async def main() -> None:
        async with demo_hub(tmp_path, "2026-11-26 20:00") as demo:
            report = await demo.engine.apply_scene(name, actor="test")
            assert report.ok, report.summary()
            scene = demo.engine.scene(name)
            await demo.sync()
            for device, values in scene.states.items():
                for prop, value in values.items():
                    if prop != "position":  # covers travel: checked by the good-night test
                        assert demo.state(device)[prop] == value, (device, prop)

    run(main())

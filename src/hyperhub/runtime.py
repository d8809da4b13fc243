"""A running hub: the broker, the hub on the fabric, and a node hosting the local devices.

`serve()` assembles them for `hyperhub run`; `run_node()` runs one node for `hyperhub node`;
`send_to_running_hub()` lets one-shot CLI commands reach a running hub over the fabric
(`connect_to_running_hub()` gives them its connection, e.g. to apply a scene).
A running hub describes itself in `<data_dir>/hub.json` (no secrets: credentials stay in the
credential store, mode 0600).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperhub import __version__
from hyperhub.adapters.running import NODE_PREFIX, Adapters, hosted_by_adapters
from hyperhub.clock import Clock, SystemClock
from hyperhub.devices.sim import Simulator
from hyperhub.errors import HyperHubError
from hyperhub.fabric.broker import local_url, start_default_broker
from hyperhub.fabric.broker_url import BrokerURL
from hyperhub.fabric.commands import audit_row
from hyperhub.fabric.credentials import CredentialStore
from hyperhub.fabric.hubside import HubFabric
from hyperhub.fabric.messages import AckMsg
from hyperhub.fabric.node import DeviceNode
from hyperhub.fabric.topics import space_slug
from hyperhub.space import Space
from hyperhub.spec.backend import DeviceBackend
from hyperhub.spec.policy import Command
from hyperhub.store import StateStore

if TYPE_CHECKING:
    from hyperhub.api import ApiServer, ApiSettings
    from hyperhub.api.live import LiveFeed
    from hyperhub.assistant.pipeline import Assistant
    from hyperhub.automation.engine import Engine
    from hyperhub.automation.loader import Book

log = logging.getLogger("hyperhub.runtime")
RUNTIME_FILE = "hub.json"
LAST_BROKER_FILE = "broker-address.json"  # the last embedded broker's host and port
DAY = 86400.0
LOCAL_NODE = "local"  # the hub process's own node ("hub" is the hub's broker user)
DEFAULT_BROKER_PORT = 18830  # not 1883: leave that to a system Mosquitto


@dataclass
class HubInfo:
    """What a running hub publishes about itself in its data dir."""

    pid: int
    space: str
    slug: str
    broker_host: str
    broker_port: int
    broker_kind: str  # mosquitto, amqtt or external
    local_devices: int
    version: str = __version__
    api_url: str | None = None  # where the API and dashboard answer, when served
    automations: str | None = None  # the automation files it runs (SIGHUP reads them again)


@dataclass
class ServeStatus:
    """What `serve` reports: to `on_ready` when up, and when it returns."""

    info: HubInfo
    remote_devices: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    setup_code: str | None = None  # the one-time admin setup code, while no admin exists
    api: ApiServer | None = None  # the API being served (tests reach its context here)
    engine: Engine | None = None  # the rule engine, when the space has automations
    fabric: HubFabric | None = None  # the hub on the fabric (tests look at its registry)
    node: DeviceNode | None = None  # the hub's own node, hosting the local devices
    adapters: Adapters | None = None  # the space's adapters and their nodes


def remote_devices(space: Space, credentials: CredentialStore) -> set[str]:
    """Devices of the space that a registered node (not the hub's own, not an adapter's)
    hosts."""
    out: set[str] = set()
    for node in credentials.nodes():
        if node.name != LOCAL_NODE and not node.name.startswith(NODE_PREFIX):
            out.update(d for d in node.devices if d in space.devices)
    return out


def read_hub_info(data_dir: Path) -> HubInfo | None:
    try:
        data = json.loads((data_dir / RUNTIME_FILE).read_text())
        return HubInfo(**data)
    except (OSError, ValueError, TypeError):
        return None


@dataclass(frozen=True)
class Retention:
    """How long the store keeps history and the audit log (days; 0: for ever), and how often
    the hub prunes them (the first time at start)."""

    history_days: float = 90.0
    audit_days: float = 365.0
    every_s: float = 3600.0


@contextlib.asynccontextmanager
async def _pruning(
    fabric: HubFabric, store: StateStore, keep: Retention, clock: Clock | None
) -> AsyncIterator[None]:
    """A task, owned here, that deletes history and audit rows older than `keep` says (by
    the hub's clock), through the fabric's store writer (after the writes queued before),
    every `keep.every_s`."""

    async def prune() -> None:
        while True:
            now = clock.now() if clock is not None else time.time()
            if keep.history_days > 0:
                fabric.submit("prune history", store.prune_history, now - keep.history_days * DAY)
            if keep.audit_days > 0:
                fabric.submit("prune the audit log", store.prune_audit, now - keep.audit_days * DAY)
            await asyncio.sleep(keep.every_s)

    task = asyncio.create_task(prune(), name="retention")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def serve(
    space: Space,
    store: StateStore,
    data_dir: Path,
    *,
    broker: BrokerURL | None = None,
    broker_host: str = "127.0.0.1",
    broker_port: int = DEFAULT_BROKER_PORT,
    broker_kind: str = "auto",
    tick_s: float = 1.0,
    command_timeout: float = 3.0,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[ServeStatus], Awaitable[None] | None] | None = None,
    api: ApiSettings | None = None,
    assistant: Assistant | None = None,
    automations: Book | None = None,
    automations_path: Path | None = None,
    clock: Clock | None = None,
    retention: Retention | None = None,
) -> ServeStatus:
    """Run the hub until `stop` is set (or SIGINT/SIGTERM).

    With `api`, the REST/WebSocket API and the dashboard are served too (in this loop, once
    the fabric and the local devices are ready), with `assistant` behind `/api/ask`
    (default: the matcher alone); a data dir with no admin gets a one-time setup code.
    `automations` (a loaded `Book`) run once the local devices are ready; `automations_path`
    is where they were read from (the assistant saves the rules it is asked for there;
    default: `automations/` next to the space file). `clock` (tests:
    a `ManualClock`) drives the simulated devices and the rules; default: the wall clock.
    `retention` says how long history and the audit log are kept (default: `Retention()`).
    """
    stop = stop or asyncio.Event()
    slug = space_slug(space.name)
    credentials = CredentialStore(data_dir)
    # the adapters' logins first (and none left for adapters the space no longer has), so
    # that what other nodes host is counted without them; before the broker reads them
    Adapters.logins(space, credentials)
    remote = remote_devices(space, credentials)
    elsewhere = remote | hosted_by_adapters(space)
    local = [d for d, dev in space.devices.items() if d not in elsewhere and dev.adapter is None]
    node_principal = credentials.add_node(LOCAL_NODE, local)
    # a command to an adapter's device waits for its report (`timeout_s`): the hub waits longer
    waits = [decl.timeout_s + 1 for decl in space.adapters.values()]
    command_timeout = max([command_timeout, *waits])
    kind: str  # the broker's: mosquitto, amqtt or external
    with _stop_on_signals(stop):
        async with AsyncExitStack() as stack:
            if broker is None:
                running = await stack.enter_async_context(
                    start_default_broker(
                        data_dir,
                        slug,
                        credentials,
                        port=broker_port,
                        host=broker_host,
                        kind=broker_kind,  # type: ignore[arg-type]
                    )
                )
                hub_kwargs = running.url(credentials.hub()).client_kwargs()
                node_kwargs = running.url(node_principal).client_kwargs()
                host, port, kind = running.host, running.port, running.kind
                login_kwargs = _login_kwargs(running)
                reload_broker: Callable[[], Awaitable[None]] | None = running.reload
            else:
                hub_kwargs = node_kwargs = broker.client_kwargs()
                host, port, kind = broker.host, broker.port, "external"
                login_kwargs = _same_login(hub_kwargs)
                reload_broker = None
            fabric = await stack.enter_async_context(
                HubFabric(
                    slug,
                    hub_kwargs,
                    types=space.types,
                    store=store,
                    command_timeout=command_timeout,
                    known_space=space,
                    clock=clock,
                )
            )
            await fabric.wait_connected(15)
            backend = Simulator(
                space, clock, only=local, state=space.restored_state(store.current_all())
            )
            node = await stack.enter_async_context(
                DeviceNode(
                    LOCAL_NODE,
                    space,
                    local,
                    node_kwargs,
                    backend=backend,
                    tick_s=tick_s,
                    clock=clock,
                )
            )
            await node.wait_ready(15)
            adapters = await stack.enter_async_context(
                Adapters(
                    space,
                    data_dir,
                    slug,
                    credentials,
                    login_kwargs=login_kwargs,
                    reload_broker=reload_broker,
                    tick_s=tick_s,
                    fabric=fabric,
                )
            )
            await stack.enter_async_context(
                _pruning(fabric, store, retention or Retention(), clock)
            )
            engine = None
            if automations is not None:
                engine = await _start_engine(stack, space, automations, fabric, store, clock)
            _reload_on_hangup(stack, adapters, engine, automations_path)
            server = setup_code = None
            if api is not None:
                server, setup_code = await _start_api(
                    stack,
                    api,
                    space,
                    fabric,
                    store,
                    data_dir,
                    assistant,
                    engine,
                    automations_path,
                    adapters,
                )
            asks = server.ctx.assistant if server is not None else assistant
            live = server.ctx.live if server is not None else None
            _follow_adapters(adapters, engine, automations_path, asks, live)
            info = HubInfo(
                os.getpid(),
                space.name,
                slug,
                host,
                port,
                kind,
                len(local),
                api_url=None if server is None else server.url,
                automations=None
                if engine is None or automations_path is None
                else str(automations_path),
            )
            _write_info(data_dir, info)
            stack.callback(_remove_info, data_dir)
            status = ServeStatus(
                info,
                sorted(remote),
                setup_code=setup_code,
                api=server,
                engine=engine,
                fabric=fabric,
                node=node,
                adapters=adapters,
            )
            if on_ready is not None:
                result = on_ready(status)
                if asyncio.iscoroutine(result):
                    await result
            await stop.wait()
        status.stats = asdict(fabric.stats)  # after close: the writer has flushed by then
        return status


async def _start_engine(
    stack: AsyncExitStack,
    space: Space,
    book: Book,
    fabric: HubFabric,
    store: StateStore,
    clock: Clock | None,
) -> Engine:
    """Run the rules (stopped when `stack` closes, before the fabric)."""
    from hyperhub.automation.access import FabricAccess, store_sink
    from hyperhub.automation.engine import Engine

    hub = FabricAccess(fabric)
    engine = Engine(space, book, hub, clock=clock, traces=store_sink(fabric, store))
    engine.remember_last_runs(lambda rule: next(iter(store.rule_runs(rule, limit=1)), None))
    await engine.start()
    stack.push_async_callback(engine.close)
    return engine


def _reload_on_hangup(
    stack: AsyncExitStack, adapters: Adapters, engine: Engine | None, path: Path | None
) -> None:
    """SIGHUP (`hyperhub rules reload`, `hyperhub adapters accept`) reads the accepted devices
    and the automations again; a broken file is logged and changes nothing. The reload task
    is the stack's: cancelled when it closes."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    async def reload() -> None:
        added, removed = await adapters.reload()
        if engine is None or path is None or added or removed:
            return  # no rules, or `_follow_adapters` reloaded them with the devices
        try:
            await engine.reload_files(path)
        except HyperHubError as exc:
            log.error("automations not reloaded (the old ones keep running):\n%s", exc)

    def hangup() -> None:
        task = loop.create_task(reload(), name="reload-on-hangup")
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    try:
        loop.add_signal_handler(signal.SIGHUP, hangup)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
        return

    def remove() -> None:
        loop.remove_signal_handler(signal.SIGHUP)
        for task in tasks:
            task.cancel()

    stack.callback(remove)


def _follow_adapters(
    adapters: Adapters,
    engine: Engine | None,
    path: Path | None,
    assistant: Assistant | None,
    live: LiveFeed | None = None,
) -> None:
    """Devices accepted or removed while running: the assistant learns their names, the
    rules are read again (a rule may name a device that has just joined), the dashboards
    are told (WebSocket `devices`)."""

    async def changed(added: list[str], removed: list[str]) -> None:
        if live is not None:
            live.devices_changed(added, removed)
        log.info(
            "devices joined: %s; left: %s", ", ".join(added) or "none", ", ".join(removed) or "none"
        )
        if assistant is not None:
            assistant.refresh()
        if engine is not None and path is not None:
            try:
                await engine.reload_files(path)
            except HyperHubError as exc:
                log.error("automations not reloaded (the old ones keep running):\n%s", exc)

    adapters.on_change(changed)


def _login_kwargs(running: Any) -> Callable[[Any], dict[str, Any]]:
    def kwargs(principal: Any) -> dict[str, Any]:
        found: dict[str, Any] = running.url(principal).client_kwargs()
        return found

    return kwargs


def _same_login(kwargs: dict[str, Any]) -> Callable[[Any], dict[str, Any]]:
    """On an external broker every part of the hub uses the URL's own login."""
    return lambda _principal: dict(kwargs)


async def _start_api(
    stack: AsyncExitStack,
    settings: ApiSettings,
    space: Space,
    fabric: HubFabric,
    store: StateStore,
    data_dir: Path,
    assistant: Assistant | None,
    engine: Engine | None = None,
    automations_path: Path | None = None,
    adapters: Adapters | None = None,
) -> tuple[ApiServer, str | None]:
    """Serve the API (stopped when `stack` closes); returns it and the setup code."""
    from hyperhub.api import ApiContext, ApiServer
    from hyperhub.assistant.pipeline import Assistant
    from hyperhub.auth import AuthStore

    auth = AuthStore(data_dir)
    stack.callback(auth.close)
    setup_code = auth.issue_setup_code()
    chosen = assistant if assistant is not None else Assistant(space, engine="matcher")
    ctx = ApiContext(
        space,
        fabric,
        store,
        auth,
        chosen,
        settings,
        engine=engine,
        automations_path=automations_path,
        adapters=adapters,
    )
    server = await stack.enter_async_context(ApiServer(ctx))
    return server, setup_code


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set `stop` while inside (where the loop can take signals)."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def _write_info(data_dir: Path, info: HubInfo) -> None:
    path = data_dir / RUNTIME_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(info), indent=2))
    tmp.replace(path)
    if info.broker_kind != "external":  # kept after the hub stops: `nodes add` names it
        last = data_dir / LAST_BROKER_FILE
        last.write_text(json.dumps({"host": info.broker_host, "port": info.broker_port}))


def _broker_address(data_dir: Path) -> tuple[str, int]:
    """Where the hub of `data_dir` has its embedded broker: the running hub's, else the last
    one's, else the default."""
    info = read_hub_info(data_dir)
    if info is not None and info.broker_kind != "external":
        return info.broker_host, info.broker_port
    try:
        last = json.loads((data_dir / LAST_BROKER_FILE).read_text())
        return str(last["host"]), int(last["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return "127.0.0.1", DEFAULT_BROKER_PORT


def _remove_info(data_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (data_dir / RUNTIME_FILE).unlink()


def load_backend(entry: str, space: Space, devices: list[str]) -> DeviceBackend:
    """A backend from a Python entry point `module:factory`, called as factory(space, devices)."""
    module_name, _, attr = entry.partition(":")
    if not module_name or not attr:
        raise HyperHubError(f"backend {entry!r} must look like module.path:factory")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise HyperHubError(f"cannot load backend {entry!r}: {exc}") from None
    return factory(space, devices)


async def run_node(
    space: Space,
    devices: list[str],
    broker: BrokerURL,
    *,
    name: str,
    backend: DeviceBackend | None = None,
    tick_s: float = 1.0,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[DeviceNode], None] | None = None,
) -> dict[str, Any]:
    """Run one node until `stop` (or SIGINT/SIGTERM); returns its counters."""
    stop = stop or asyncio.Event()
    with _stop_on_signals(stop):
        if backend is None:  # simulated devices, unless the node is given real ones
            backend = Simulator(space, SystemClock(), only=devices)
        async with DeviceNode(
            name, space, devices, broker.client_kwargs(), backend=backend, tick_s=tick_s
        ) as node:
            with contextlib.suppress(HyperHubError):
                await node.wait_ready(15)  # keeps retrying in the background if not yet
            if on_ready is not None:
                on_ready(node)
            await stop.wait()
            return asdict(node.stats)


async def send_to_running_hub(
    info: HubInfo,
    data_dir: Path,
    space: Space,
    store: StateStore,
    device: str,
    *,
    actor: str,
    confirm: bool,
    timeout: float = 3.0,
    **command: Any,
) -> AckMsg:
    """Send one command through a running hub's broker; audit it in the store like the hub.

    The HubFabric used here has no store (it must not mirror states into this process's
    store), so the audit row is written here (`audit_command`).
    """
    connection = connect_to_running_hub(info, data_dir, space, devices=[device], timeout=timeout)
    cmd = Command(device, **command)  # what HubFabric audits: normalised `what`, its kind
    async with contextlib.AsyncExitStack() as stack:
        try:
            fabric = await stack.enter_async_context(connection)
        except HyperHubError as exc:  # no connection: the attempt is audited all the same
            audit_command(store, actor, cmd, exc)
            raise
        return await send_audited(fabric, store, actor, cmd, confirm=confirm)


async def send_audited(
    fabric: HubFabric, store: StateStore, actor: str, cmd: Command, *, confirm: bool
) -> AckMsg:
    """Send `cmd` through `fabric` — a connection of this process, with no store — and audit
    it in `store` as the hub audits its own (`audit_command`), failed or not."""
    fields: dict[str, Any] = (
        {"property": cmd.property, "value": cmd.value}
        if cmd.action is None
        else {"action": cmd.action, "args": cmd.args or {}}
    )
    try:
        ack = await fabric.send_command(cmd.device, actor=actor, confirm=confirm, **fields)
    except HyperHubError as exc:
        audit_command(store, actor, cmd, exc)
        raise
    audit_command(store, actor, cmd, ack.changes)
    return ack


class HubDevices:
    """A running hub's devices for `Assistant.aask` in another process (`hyperhub ask` and
    `chat`): state from the hub's mirror (the store's where the mirror has none yet),
    commands through the hub's broker like `set` and `call` — checked, acknowledged by the
    device, and audited in the store as `actor`. The assistant asks for a yes before a risky
    plan, so its commands go out confirmed. An ack's changes are overlaid on the mirror at
    once, so the reply's report of what changed is exact."""

    def __init__(
        self,
        fabric: HubFabric,
        store: StateStore,
        actor: str,
        stored: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.fabric = fabric
        self.store = store
        self.actor = actor
        self.stored = stored or {}
        self._overlay: dict[str, dict[str, Any]] = {}

    def state(self, device_id: str) -> dict[str, Any]:
        record = self.fabric.registry.get(device_id)
        base = dict(record.state) if record is not None and record.state else {}
        return {**self.stored.get(device_id, {}), **base, **self._overlay.get(device_id, {})}

    async def set(self, device_id: str, prop: str, value: Any) -> Any:
        return await self._send(Command(device_id, property=prop, value=value))

    async def call(self, device_id: str, action: str, args: dict[str, Any] | None = None) -> Any:
        return await self._send(Command(device_id, action=action, args=args or {}))

    async def _send(self, cmd: Command) -> dict[str, Any]:
        ack = await send_audited(self.fabric, self.store, self.actor, cmd, confirm=True)
        self._overlay.setdefault(cmd.device, {}).update(ack.changes)
        return dict(ack.changes)


def connect_to_running_hub(
    info: HubInfo,
    data_dir: Path,
    space: Space,
    *,
    devices: Iterable[str] = (),
    timeout: float = 3.0,
) -> contextlib.AbstractAsyncContextManager[HubFabric]:
    """A `HubFabric` on a running hub's broker, as the hub's own user, with no store; once
    entered it is connected and `devices` have been discovered (a bounded wait: a device
    that has not joined fails when a command is sent to it). Commands time out after
    `timeout` seconds.

    Refuses at once (before connecting) a hub on an external broker: this process has no
    credentials for it.
    """
    if info.broker_kind == "external":
        raise HyperHubError(
            "this hub uses an external broker; send commands through the hub's API, "
            "or with a client of that broker"
        )
    url = local_url(info.broker_host, info.broker_port, CredentialStore(data_dir).hub())
    return _connected(info.slug, url.client_kwargs(), space, list(devices), timeout)


@contextlib.asynccontextmanager
async def _connected(
    slug: str, client_kwargs: dict[str, Any], space: Space, devices: list[str], timeout: float
) -> AsyncIterator[HubFabric]:
    async with HubFabric(
        slug,
        client_kwargs,
        types=space.types,
        store=None,
        command_timeout=timeout,
        known_space=space,
    ) as fabric:
        await fabric.wait_connected(5)
        await _wait_discovered(fabric, devices, timeout)
        yield fabric


def audit_command(
    store: StateStore, actor: str, cmd: Command, outcome: dict[str, Any] | HyperHubError
) -> None:
    """Audit a command sent from this process (its `HubFabric` has no store) with the row
    `HubFabric` writes (`audit_row`); `outcome` is the changes, or the error."""
    store.audit_many([audit_row(actor, cmd, outcome)])


async def _wait_discovered(fabric: HubFabric, devices: list[str], timeout: float) -> None:
    """Give the retained discovery messages a moment to arrive (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline and any(fabric.registry.get(d) is None for d in devices):
        await asyncio.sleep(0.02)


def add_node(data_dir: Path, space: Space, name: str, devices: list[str]) -> tuple[str, bool]:
    """Register node credentials; reload a running embedded Mosquitto. Returns (URL, reloaded).

    Devices the hub's own node hosts (every device not on another node, once the hub has run)
    are taken from it: its login may no longer publish for them, and the hub stops
    simulating them at its next start."""
    if name == LOCAL_NODE:
        raise HyperHubError(f"node name {name!r} is the hub's own node; choose another")
    if name.startswith(NODE_PREFIX):
        raise HyperHubError(
            f"node names starting {NODE_PREFIX!r} are the adapters'; choose another"
        )
    credentials = CredentialStore(data_dir)
    local = next((n for n in credentials.nodes() if n.name == LOCAL_NODE), None)
    if local is not None and set(local.devices) & set(devices):
        credentials.add_node(LOCAL_NODE, [d for d in local.devices if d not in devices])
    principal = credentials.add_node(name, devices)
    host, port = _broker_address(data_dir)
    return local_url(host, port, principal).render(show_password=True), _reload_broker(
        data_dir, credentials, space
    )


def add_bridge_login(
    data_dir: Path, space: Space, adapter_id: str, which: str = "bridge"
) -> tuple[str, bool]:
    """A login on the hub's embedded broker for the system behind an adapter (Zigbee2MQTT,
    Home Assistant; `which` "devices": the firmware of HA-discovery devices), allowed only
    that system's topics; reload a running Mosquitto. Returns (URL, reloaded)."""
    from hyperhub.adapters.running import bridge_login, check_adapter

    decl = check_adapter(space, adapter_id)
    if decl.broker is not None:
        raise HyperHubError(
            f"adapter {adapter_id} talks to its own broker ({decl.broker}); "
            "its system logs in there, not on the hub's"
        )
    credentials = CredentialStore(data_dir)
    principal = bridge_login(credentials, decl, which)
    host, port = _broker_address(data_dir)
    url = local_url(host, port, principal).render(show_password=True)
    return url, _reload_broker(data_dir, credentials, space)


def remove_node(data_dir: Path, space: Space, name: str) -> tuple[list[str], bool]:
    """Forget node `name` (its login is refused from the broker's reload on); its devices go
    back to the hub's own node at the hub's next start. Returns (its devices, reloaded)."""
    if name == LOCAL_NODE:
        raise HyperHubError(f"node {name!r} is the hub's own node; it cannot be removed")
    credentials = CredentialStore(data_dir)
    node = next((n for n in credentials.nodes() if n.name == name), None)
    if node is None:
        known = ", ".join(n.name for n in credentials.nodes() if n.name != LOCAL_NODE)
        raise HyperHubError(f"no node {name!r}; nodes: {known or 'none'}")
    credentials.remove_node(name)
    return list(node.devices), _reload_broker(data_dir, credentials, space)


def _reload_broker(data_dir: Path, credentials: CredentialStore, space: Space) -> bool:
    """Rewrite the Mosquitto files and make a running embedded Mosquitto read them."""
    credentials.write_mosquitto_files(space_slug(space.name))
    info = read_hub_info(data_dir)
    pid_file = data_dir / "broker" / "mosquitto.pid"
    if info is not None and info.broker_kind == "mosquitto" and pid_file.exists():
        with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGHUP)
            return True
    return False

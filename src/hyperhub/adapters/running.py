"""The adapters of a running hub: each one's connection to its system, the node that hosts
its accepted devices on the fabric, what it found, and devices accepted while running.

Per adapter of the space (`adapters:` in the space file):

- a broker login of its own on the hub's broker, `adapter_<id>`, owning its accepted devices
  and — when the adapter talks to its system over the hub's broker (no `broker:` URL) — that
  system's topics (`zigbee2mqtt/#`), nothing else;
- the adapter (`Zigbee2Mqtt`, …) on its system's broker, and a `DeviceNode` hosting its
  accepted devices with the adapter as their `PushBackend`;
- what it found, written for the CLI (`adapters.found`) each time it reads its system's
  device list; with `accept: all`, every new device is accepted at once.

`reload()` (on SIGHUP, after `hyperhub adapters accept|reject`, or from the API) reads the
accepted devices again and applies the difference live: new devices join the space, the
broker's ACL and the fabric; removed ones leave. The other parts of the hub learn of it
through `on_change` (the assistant's catalog, the rules). A change to the space file itself
still needs a restart.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperhub.adapters.accepted import accept, free_id, rejected
from hyperhub.adapters.base import Adapter, Proposal
from hyperhub.adapters.found import Found, FoundList, write_found
from hyperhub.adapters.ha_discovery.adapter import HaDiscovery
from hyperhub.adapters.ha_discovery.publish import HaPublisher
from hyperhub.adapters.owntracks.adapter import OwnTracks
from hyperhub.adapters.zigbee2mqtt.adapter import Zigbee2Mqtt
from hyperhub.errors import AdapterError, HyperHubError
from hyperhub.fabric.broker_url import BrokerURL
from hyperhub.fabric.credentials import CredentialStore, Principal
from hyperhub.fabric.hubside import HubFabric
from hyperhub.fabric.node import DeviceNode
from hyperhub.service import Service
from hyperhub.space import Space, load_space
from hyperhub.space.adapters import AdapterDecl, bridge_access, foreign_topics

log = logging.getLogger("hyperhub.adapters")
NODE_PREFIX = "adapter_"
Changed = Callable[[list[str], list[str]], Awaitable[None] | None]


def node_name(adapter_id: str) -> str:
    """The broker login and fabric node of adapter `adapter_id`."""
    return f"{NODE_PREFIX}{adapter_id}"


def bridge_login(
    credentials: CredentialStore, decl: AdapterDecl, which: str = "bridge"
) -> Principal:
    """A login of the system behind the adapter on the hub's broker (`which`: "bridge",
    Zigbee2MQTT or Home Assistant itself; "devices", the firmware of HA-discovery devices):
    `<id>_<which>`, allowed what `bridge_access` says and nothing of HyperHub's. A node of
    that name that hosts devices is someone else's: refused."""
    logins = bridge_access(decl)
    access = logins.get(which)
    if access is None:
        raise AdapterError(
            f"adapter {decl.id} has no login {which!r}; its logins: {', '.join(logins)}"
        )
    name = f"{decl.id}_{access.suffix}"
    existing = credentials.principal(name)
    if existing is not None and existing.devices:
        raise AdapterError(
            f"a node called {name!r} hosts devices ({', '.join(existing.devices)}); "
            "it is not this adapter's to take over: remove it first (hyperhub nodes remove)"
        )
    return credentials.add_node(name, [], access.topics, reads=access.reads, writes=access.writes)


def accepted_ids(space: Space, adapter_id: str) -> list[str]:
    """The devices adapter `adapter_id` hosts: those accepted from it, and (OwnTracks) the
    phones of the space its `users:` map names."""
    decl = space.adapters.get(adapter_id)  # (a space file changed under a running hub: none)
    ids = [d.id for d in space.devices.values() if d.adapter == adapter_id]
    if decl is not None and decl.kind == "owntracks":
        ids += [d for d in decl.options.users.values() if d in space.devices and d not in ids]
    return ids


def _login(credentials: CredentialStore, space: Space, decl: AdapterDecl) -> Principal:
    """Adapter `decl`'s broker login: the devices it hosts, and its system's topics when it
    talks to that system over the hub's broker."""
    topics = foreign_topics(decl) if decl.broker is None else ()
    return credentials.add_node(node_name(decl.id), accepted_ids(space, decl.id), topics)


def hosted_by_adapters(space: Space) -> set[str]:
    """Every device of the space an adapter hosts (the simulator leaves them alone)."""
    return {d for decl in space.adapters.values() for d in accepted_ids(space, decl.id)}


def make_adapter(decl: AdapterDecl, space: Space, client_kwargs: dict[str, Any]) -> Adapter:
    """The adapter of `decl`'s kind, on the broker of `client_kwargs`."""
    if decl.kind == "zigbee2mqtt":
        return Zigbee2Mqtt(decl, space, client_kwargs)
    if decl.kind == "owntracks":
        return OwnTracks(decl, space, client_kwargs)
    if decl.kind == "ha_discovery":
        return HaDiscovery(decl, space, client_kwargs)
    raise AdapterError(f"adapter {decl.id}: no adapter of kind {decl.kind!r}")


def found_of(adapter_id: str, proposal: Proposal) -> Found:
    return Found(
        adapter_id,
        proposal.external,
        proposal.entry(),
        proposal.friendly_name,
        proposal.model,
        proposal.vendor,
        proposal.description,
        proposal.unmapped,
    )


@dataclass
class Running:
    decl: AdapterDecl
    adapter: Adapter
    node: DeviceNode
    login: Principal


class Adapters(Service):
    """`async with Adapters(space, data_dir, slug, credentials, login_kwargs=…, …):`.

    `login_kwargs(principal)` gives the client arguments for a login on the hub's broker;
    `reload_broker()` makes the broker read its logins again (after devices were added).
    """

    def __init__(
        self,
        space: Space,
        data_dir: Path,
        slug: str,
        credentials: CredentialStore,
        *,
        login_kwargs: Callable[[Principal], dict[str, Any]],
        reload_broker: Callable[[], Awaitable[None]] | None = None,
        tick_s: float = 1.0,
        fabric: HubFabric | None = None,
    ) -> None:
        self.space = space
        self.data_dir = data_dir
        self.slug = slug
        self.credentials = credentials
        self.login_kwargs = login_kwargs
        self.reload_broker = reload_broker
        self.tick_s = tick_s
        self.fabric = fabric  # the hub's side, for adapters that publish the hub's devices
        self.running: dict[str, Running] = {}
        self.publishers: dict[str, HaPublisher] = {}
        self._changed: list[Changed] = []
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    @staticmethod
    def logins(space: Space, credentials: CredentialStore) -> list[Principal]:
        """Create (or update) each adapter's broker login, and forget those of adapters the
        space no longer declares (the hub's own; a bridge's login, whose password was given
        to the other system, stays until `hyperhub nodes remove`); before the broker starts."""
        wanted = {node_name(a) for a in space.adapters}
        for login in credentials.nodes():
            if login.name.startswith(NODE_PREFIX) and login.name not in wanted:
                credentials.remove_node(login.name)
        return [_login(credentials, space, decl) for decl in space.adapters.values()]

    def on_change(self, callback: Changed) -> None:
        """Call `callback(added, removed)` after devices joined or left the space."""
        self._changed.append(callback)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        for login, decl in zip(
            self.logins(self.space, self.credentials), self.space.adapters.values(), strict=True
        ):
            foreign = (
                BrokerURL.parse(decl.broker).client_kwargs()
                if decl.broker
                else self.login_kwargs(login)
            )
            adapter = make_adapter(decl, self.space, foreign)
            node = DeviceNode(
                node_name(decl.id),
                self.space,
                accepted_ids(self.space, decl.id),
                self.login_kwargs(login),
                backend=adapter,
                slug=self.slug,
                tick_s=self.tick_s,
            )
            adapter.on_found(functools.partial(self._found, decl, adapter))
            await adapter.start()
            await node.start()
            self.running[decl.id] = Running(decl, adapter, node, login)
            if decl.kind == "ha_discovery" and decl.options.publish and self.fabric is not None:
                publisher = HaPublisher(decl, self.space, self.fabric, foreign, slug=self.slug)
                await publisher.start()
                self.publishers[decl.id] = publisher

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for publisher in self.publishers.values():
            await publisher.stop()
        self.publishers.clear()
        for running in self.running.values():
            await running.node.stop()
            await running.adapter.stop()
        self.running.clear()

    # -- what the adapters found ---------------------------------------------------------------

    def pending(self, adapter_id: str) -> list[Found]:
        """What adapter `adapter_id` found that is neither accepted nor rejected."""
        running = self.running.get(adapter_id)
        if running is None:
            return []
        turned_down = rejected(self.space)
        return [
            found_of(adapter_id, p)
            for p in running.adapter.pending()
            if (adapter_id, p.external) not in turned_down
        ]

    def _found(self, decl: AdapterDecl, adapter: Adapter, _pending: list[Proposal]) -> None:
        """The adapter read its system's device list: tell the CLI; accept all if asked."""
        listed = FoundList(
            decl.id,
            decl.kind,
            time.time(),
            adapter.reachable,
            [found_of(decl.id, p) for p in adapter.found.values()],
            adapter.problems,
        )
        try:
            write_found(self.data_dir, self.slug, listed)
        except OSError as exc:
            log.warning("adapter %s: cannot write what it found: %s", decl.id, exc)
        if decl.accept == "all" and self.pending(decl.id):
            task = asyncio.get_running_loop().create_task(
                self._accept_all(decl.id), name=f"adapter-{decl.id}-accept-all"
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _accept_all(self, adapter_id: str) -> None:
        async with self._lock:
            taken: list[str] = []
            for found in self.pending(adapter_id):
                wanted = str(found.proposal.get("id") or "device")
                device_id = free_id(self.space, wanted, taken)
                try:
                    accept(self.space, found, device_id=device_id)
                except HyperHubError as exc:
                    log.error("adapter %s: not accepting %s: %s", adapter_id, found.key, exc)
                    continue
                taken.append(device_id)
                log.info("adapter %s: accepted %s as %s", adapter_id, found.key, device_id)
        await self.reload()

    # -- devices accepted or removed while running ------------------------------------------------

    async def reload(self) -> tuple[list[str], list[str]]:
        """Read the accepted devices again and apply the difference; returns (added, removed).
        A file that no longer loads is logged and changes nothing."""
        async with self._lock:
            if self.space.path is None:
                return [], []
            try:
                fresh = load_space(self.space.path)
            except HyperHubError as exc:
                log.error("accepted devices not reloaded (the old ones stay):\n%s", exc)
                return [], []
            now = {d.id: d for d in fresh.devices.values() if d.adapter in self.running}
            was = {d.id: d for d in self.space.devices.values() if d.adapter in self.running}
            # (the phones an OwnTracks `users:` map names are the space file's: they stay)
            added = [d for d in now if d not in was]
            removed = [d for d in was if d not in now or now[d] != was[d]]
            added += [d for d in removed if d in now]  # changed: leaves and joins again
            if not added and not removed:
                return [], []
            # leaving devices say goodbye while their login may still speak for them; then
            # the logins (what can fail), and the space's devices last
            for running in self.running.values():
                gone = [d for d in removed if d in running.node.devices]
                if gone:
                    await running.node.drop(gone)
            for running in self.running.values():
                running.login = _login(self.credentials, fresh, running.decl)
            if self.reload_broker is not None:
                await self.reload_broker()
            for device_id in removed:
                del self.space.devices[device_id]
            for device_id in added:
                self.space.devices[device_id] = now[device_id]
            for running in self.running.values():
                await self._apply(running, added)
            for publisher in self.publishers.values():
                await publisher.refresh(self.space)
        for callback in self._changed:
            try:
                result = callback(added, removed)
                if result is not None:
                    await result
            except Exception:
                log.exception("a listener of the adapters' devices failed")
        return added, removed

    async def _apply(self, running: Running, added: list[str]) -> None:
        mine = accepted_ids(self.space, running.decl.id)
        running.adapter.accept_from(self.space)
        new = [d for d in added if d in mine]
        if new:
            await running.node.host(self.space, new)


def check_adapter(space: Space, adapter_id: str) -> AdapterDecl:
    """The adapter `adapter_id` of the space, or `AdapterError` naming the ones it has."""
    decl = space.adapters.get(adapter_id)
    if decl is None:
        known = ", ".join(space.adapters) or "none; declare one under `adapters:` in the space file"
        raise AdapterError(f"the space has no adapter {adapter_id!r}; adapters: {known}")
    return decl

"""An adapter's devices on a real broker's fabric, as the hub runs them: the adapter, the
`DeviceNode` that hosts its accepted devices (with the adapter as their backend, on the
adapter's login), and a `HubFabric` that sends them commands."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tests.helpers.broker import RunningBroker

from hyperhub.fabric.credentials import Principal
from hyperhub.fabric.hubside import HubFabric
from hyperhub.fabric.node import DeviceNode
from hyperhub.space import Space


@asynccontextmanager
async def hosted(
    broker: RunningBroker, space: Space, adapter: Any, login: Principal
) -> AsyncIterator[tuple[HubFabric, DeviceNode]]:
    """`async with hosted(broker, space, adapter, login) as (hub, node):` — all started, the
    node ready."""
    hub = HubFabric(
        "test",
        broker.url(broker.hub).client_kwargs(),
        types=space.types,
        store=None,
        known_space=space,
        command_timeout=5,
    )
    node = DeviceNode(
        login.name,
        space,
        adapter.device_ids,
        broker.url(login).client_kwargs(),
        backend=adapter,
        slug="test",
    )
    async with adapter, hub, node:
        await node.wait_ready(10)
        yield hub, node

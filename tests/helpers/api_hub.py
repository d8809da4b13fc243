"""A real hub in this process for the API tests: broker on 127.0.0.1, the space's simulated
devices, a SQLite store and the API on a free port, run by `runtime.serve` on its own
event-loop thread. `start_hub` starts one; `Hub` is the running hub; `error_of` checks the
API's JSON errors. The fixtures that use them are in tests/api/conftest.py."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from hyperhub.api import ApiContext, ApiSettings
from hyperhub.auth import AuthStore
from hyperhub.automation import Book
from hyperhub.config import demo_space
from hyperhub.fabric.broker import mosquitto_binary
from hyperhub.runtime import Retention, ServeStatus, serve
from hyperhub.space import Space
from hyperhub.store import StateStore


def copy_demo_space(where: Path) -> Path:
    """A writable copy of the demo space file and its automations folder in `where`."""
    demo = Path(demo_space())
    shutil.copy(demo, where / "space.yaml")
    shutil.copytree(demo.parent / "automations", where / "automations")
    return where


START_TIMEOUT = 60.0


@dataclass
class Hub:
    """A hub running in this process, on its own loop thread."""

    data_dir: Path
    space: Space
    status: ServeStatus
    auth: AuthStore  # the test's own connection to the hub's auth.db (as the CLI would use)
    _stop: Callable[[], None] = field(repr=False)
    loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)  # the hub's loop

    def call(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run `fn` on the hub's event loop (its devices and engine live there); its result."""
        assert self.loop is not None

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    @property
    def url(self) -> str:
        return (self.status.info.api_url or "").rstrip("/")

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/api/ws"

    @property
    def ctx(self) -> ApiContext:
        assert self.status.api is not None
        return self.status.api.ctx

    def token(self, *scopes: str, name: str | None = None) -> str:
        """A new token with exactly these scopes."""
        secret, _ = self.auth.create_token(name, scopes)
        return secret

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=15.0)


def start_hub(
    data_dir: Path,
    space: Space,
    *,
    automations: Book | None = None,
    automations_path: Path | None = None,
    retention: Retention | None = None,
    **settings: Any,
) -> Hub:
    """Start a hub (bounded wait), with these rules and scenes if given; stop it with
    `hub._stop()`."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed (Debian: apt-get install mosquitto)")
    data_dir.mkdir(parents=True, exist_ok=True)
    ready = threading.Event()
    box: dict[str, Any] = {}
    loop = asyncio.new_event_loop()

    async def main() -> None:
        stop = asyncio.Event()
        box["stop"] = stop
        with StateStore.open(data_dir=data_dir) as store:

            def on_ready(status: ServeStatus) -> None:
                box["status"] = status
                ready.set()

            try:
                await serve(
                    space,
                    store,
                    data_dir,
                    broker_port=0,
                    tick_s=0.5,
                    stop=stop,
                    on_ready=on_ready,
                    api=ApiSettings(port=0, **settings),
                    automations=automations,
                    automations_path=automations_path,
                    retention=retention,
                )
            except BaseException as exc:
                box["error"] = exc
                ready.set()
                raise

    thread = threading.Thread(
        target=lambda: loop.run_until_complete(main()), name="api-test-hub", daemon=True
    )
    thread.start()
    if not ready.wait(START_TIMEOUT) or "error" in box:
        raise RuntimeError(f"the hub did not start: {box.get('error')!r}")

    def stop() -> None:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(30)
        loop.close()

    return Hub(data_dir, space, box["status"], AuthStore(data_dir), stop, loop)


def error_of(response: httpx.Response, status: int, code: str | None = None) -> str:
    """Assert a JSON error of this status (and code); return its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["status"] == status
    if code is not None:
        assert body["error"]["code"] == code, body
    message: str = body["error"]["message"]
    assert "Traceback" not in message
    return message


@contextmanager
def folder_hub(folder: Path, data_dir: Path) -> Iterator[Hub]:
    """A hub on the space file in `folder` with the rules and scenes of its `automations/`
    (which saves through the API rewrite), stopped afterwards."""
    from hyperhub.automation import load_automations
    from hyperhub.space import load_space

    space = load_space(folder / "space.yaml")
    running = start_hub(
        data_dir,
        space,
        automations=load_automations(space),
        automations_path=folder / "automations",
    )
    try:
        yield running
    finally:
        running.auth.close()
        running._stop()

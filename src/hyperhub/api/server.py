"""`ApiServer`: uvicorn serving the app inside the hub's event loop, as a task it owns.

The listening socket is bound here first, so a port in use is a one-line error (uvicorn
would exit the process); signals stay with the hub (`runtime.serve` handles them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn

from hyperhub.api.app import create_app
from hyperhub.api.context import ApiContext
from hyperhub.errors import HyperHubError
from hyperhub.service import Service

log = logging.getLogger("hyperhub.api")
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the hub's own handlers stop everything, this server included


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket on host:port (port 0: any free one)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise HyperHubError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        hint = "; choose another --port" if exc.errno in (98, 48) else ""
        raise HyperHubError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}"
        ) from None
    sock.setblocking(False)
    return sock


def url_of(host: str, port: int) -> str:
    """The URL people open: a wildcard address shows as 127.0.0.1."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


class ApiServer(Service):
    """`async with ApiServer(ctx) as api:` serves until the block ends; `api.url` says where."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.app = create_app(ctx)
        self.port = ctx.settings.port
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        return url_of(self.ctx.settings.host, self.port)

    async def start(self) -> None:
        """Listen, start serving, start the live feed; then `ctx.ready` (health answers 200)."""
        settings = self.ctx.settings
        self._socket = bind(settings.host, settings.port)
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # rate limits go by the real peer address
            server_header=False,
            ws="websockets-sansio",
            ws_max_size=64 * 1024,
            # compressing every frame costs more CPU than a LAN saves in bytes (fan-out bench)
            ws_per_message_deflate=False,
            timeout_graceful_shutdown=3,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._serve(), name="api-server")
        try:
            async with asyncio.timeout(START_TIMEOUT):
                while not self._server.started:
                    if self._task.done():
                        break
                    await asyncio.sleep(0.01)
        except TimeoutError:
            await self.stop()
            raise HyperHubError(f"the API did not start within {START_TIMEOUT:g} s") from None
        if not self._server.started:
            await self.stop()
            raise HyperHubError(f"the API could not start on {self.url}")
        self.ctx.live.start()
        self.ctx.ready = True

    async def _serve(self) -> None:
        assert self._server is not None and self._socket is not None
        try:
            await self._server.serve(sockets=[self._socket])
        except SystemExit:  # uvicorn exits on a startup failure; the hub reports it instead
            log.error("the API server stopped at startup")

    async def stop(self) -> None:
        """Stop taking requests, close the WebSockets, wait for the server (bounded)."""
        self.ctx.ready = False
        await self.ctx.live.stop()
        self.ctx.voice.close()
        task, self._task = self._task, None
        if task is not None and self._server is not None:
            self._server.should_exit = True
            done, _ = await asyncio.wait({task}, timeout=STOP_TIMEOUT)
            if not done:
                self._server.force_exit = True
                task.cancel()
                await asyncio.wait({task}, timeout=2)
        if self._socket is not None:
            self._socket.close()
            self._socket = None

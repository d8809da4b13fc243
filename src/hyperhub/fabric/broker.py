"""The embedded broker: a supervised Mosquitto child process, or in-process amqtt without it.

`start_default_broker()` picks one. Both listen on loopback by default, refuse anonymous
clients, and give each principal of the `CredentialStore` only the topics its ACL allows
(docs/fabric.md, "Broker"). An external broker needs none of this: it is just a `BrokerURL`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import struct
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, Protocol, TypedDict, Unpack

import psutil

from hyperhub.errors import BrokerError
from hyperhub.fabric.broker_url import BrokerURL
from hyperhub.fabric.credentials import CredentialStore, Principal
from hyperhub.fabric.messages import FOREIGN_PAYLOAD
from hyperhub.service import Service

log = logging.getLogger(__name__)

BrokerKind = Literal["mosquitto", "amqtt"]
_SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin")  # often not on PATH
_RELOADED = b"Reloading config."  # what Mosquitto logs when it takes a SIGHUP
_BACKOFF_FIRST, _BACKOFF_MAX = 0.2, 10.0  # seconds between restart attempts
_STABLE_AFTER = 60.0  # a broker that ran this long has its failure count reset
_MAX_FAILURES = 10  # consecutive failed runs before the supervisor gives up
_LOG_ROTATE_BYTES = 5 * 1024 * 1024
_RELOAD_TIMEOUT = 5.0  # seconds for Mosquitto to take a SIGHUP


class Broker(Protocol):
    """What the hub needs from whichever embedded broker runs."""

    @property
    def kind(self) -> BrokerKind: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def restarts(self) -> int: ...
    def url(self, principal: Principal) -> BrokerURL: ...
    async def reload(self) -> None: ...


@dataclass(frozen=True)
class BrokerLimits:
    """Queue and size limits of the embedded Mosquitto (chosen in docs/fabric.md, "Broker")."""

    # per client; ~1 s of a full-rate flood to a slow hub, and the announce burst of 10 nodes
    # of 1,000 devices (discovery + availability + state: ~30k messages) with room to spare
    max_queued_messages: int = 50_000
    max_queued_bytes: int = 64 * 1024 * 1024  # per client; bounds memory if messages are big
    max_inflight_messages: int = 100  # QoS 1/2 messages on the wire per client
    # a larger payload is dropped (the client stays): room for a foreign system's device
    # list (Zigbee2MQTT's bridge/devices is ~4.5 KB a device); HyperHub's own messages are
    # refused above `messages.MAX_PAYLOAD` by whoever reads them
    message_size_limit: int = FOREIGN_PAYLOAD
    max_packet_size: int = FOREIGN_PAYLOAD + 64 * 1024  # a larger packet disconnects
    sys_interval: int = 5  # seconds between $SYS updates (…/publish/messages/dropped)
    # a node's persistent session (its queued commands) is forgotten after this long offline;
    # every command in it is past its deadline long before
    persistent_client_expiration: str = "1h"


def mosquitto_binary() -> str | None:
    """Path of the `mosquitto` executable (PATH, then the sbin dirs), or None."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for directory in _SBIN_DIRS:
        candidate = Path(directory) / "mosquitto"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _dies_with_parent() -> list[str]:
    """A prefix that makes the command get SIGTERM when the hub dies, even by `kill -9`
    (Linux's parent-death signal, set by util-linux's `setpriv`, which then execs it): a
    hub killed hard left its Mosquitto running until the next start. Empty elsewhere; the
    next start still stops a Mosquitto left behind (its pid file)."""
    setpriv = shutil.which("setpriv") or shutil.which("setpriv", path="/usr/bin:/bin")
    return [setpriv, "--pdeathsig", "TERM"] if setpriv and sys.platform == "linux" else []


def free_port(host: str) -> int:
    """A TCP port on `host` that nothing listens on right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def local_url(host: str, port: int, principal: Principal) -> BrokerURL:
    """How a client on this machine reaches a broker listening on host:port."""
    reachable = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    return BrokerURL(reachable, port, principal.name, principal.password)


async def mqtt_connack(
    host: str, port: int, username: str, password: str, timeout: float = 2.0
) -> int:
    """Log in with MQTT 3.1.1 and log out; return the CONNACK code (0 = accepted).

    Raises OSError if nothing (MQTT) listens, TimeoutError if the broker does not answer.
    """

    def field(text: str) -> bytes:
        data = text.encode()
        return struct.pack("!H", len(data)) + data

    body = field("MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 10)  # user+password, clean
    body += field(f"hyperhub-probe-{os.getpid()}") + field(username) + field(password)
    length, remaining = b"", len(body)
    while True:
        remaining, digit = divmod(remaining, 128)
        length += bytes([digit | (0x80 if remaining else 0)])
        if not remaining:
            break
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(b"\x10" + length + body)
            await writer.drain()
            connack = await reader.readexactly(4)
            if connack[:2] != b"\x20\x02":
                raise ConnectionError(f"{host}:{port} does not answer like an MQTT broker")
            if connack[3] == 0:
                writer.write(b"\xe0\x00")  # DISCONNECT
                await writer.drain()
            return connack[3]
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class Listening(TypedDict, total=False):
    """Where an embedded broker listens, and how long it may take to start and to stop."""

    host: str
    port: int  # 0: a free one
    start_timeout: float
    stop_timeout: float


class _Embedded(Service):
    """What both embedded brokers share: the space they serve, the credential store their
    logins and ACL come from, and where they listen (port 0: a free one); `async with`
    starts and stops them."""

    def __init__(
        self,
        data_dir: Path,
        space_slug: str,
        credentials: CredentialStore | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        start_timeout: float = 10.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.space = space_slug
        self.credentials = credentials or CredentialStore(self.data_dir)
        self.host = host
        self.port = port
        self._auto_port = port == 0
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout

    def url(self, principal: Principal) -> BrokerURL:
        """The URL `principal` logs in with."""
        return local_url(self.host, self.port, principal)

    def _tries(self) -> Iterator[bool]:
        """The tries at listening: one on the port given; with port 0, three, each on a free
        port picked just before (a picked port can be taken before the broker binds it).
        Yields whether another try follows this one."""
        tries = 3 if self._auto_port else 1
        for attempt in range(tries):
            if self._auto_port:
                self.port = free_port(self.host)
            yield attempt + 1 < tries


class MosquittoBroker(_Embedded):
    """A private Mosquitto that HyperHub configures, starts, restarts and stops.

    `async with MosquittoBroker(data_dir, "lin_family", store) as broker:` writes
    `<data_dir>/broker/mosquitto.conf` (plus password and ACL files from the store), starts
    `mosquitto -c` on host:port (port 0 picks a free one), waits until it accepts the hub's
    login, restarts it with backoff if it dies, and stops it (SIGTERM, then SIGKILL) on exit.
    """

    kind: BrokerKind = "mosquitto"

    def __init__(
        self,
        data_dir: Path,
        space_slug: str,
        credentials: CredentialStore | None = None,
        *,
        limits: BrokerLimits | None = None,
        binary: str | None = None,
        **listening: Unpack[Listening],
    ) -> None:
        # mosquitto gets absolute paths
        super().__init__(
            Path(data_dir).expanduser().resolve(), space_slug, credentials, **listening
        )
        self.limits = limits or BrokerLimits()
        self.restarts = 0
        self.failure: BrokerError | None = None  # set when the supervisor gave up
        self.dir = self.data_dir / "broker"
        self.conf_path = self.dir / "mosquitto.conf"
        self.log_path = self.dir / "mosquitto.log"
        self.pid_path = self.dir / "mosquitto.pid"
        self._binary = binary
        self._proc: asyncio.subprocess.Process | None = None
        self._started_at = 0.0
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._log_file: IO[bytes] | None = None
        self._reload_lock = asyncio.Lock()

    # -- public ----------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """The running mosquitto's process id, or None."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    async def reload(self) -> None:
        """Rewrite the password and ACL files and have Mosquitto re-read them (SIGHUP).

        Returns once Mosquitto has taken the signal, so a node added just before can log in.
        """
        async with self._reload_lock:
            self.credentials.write_mosquitto_files(self.space)
            proc = self._proc
            if proc is None or proc.returncode is not None:
                return  # the supervisor's next start reads the new files
            offset = self._log_size()
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGHUP)
            try:
                async with asyncio.timeout(_RELOAD_TIMEOUT):
                    while _RELOADED not in self._log_since(offset):
                        if proc.returncode is not None:
                            return  # died meanwhile; the restart reads the new files
                        await asyncio.sleep(0.01)
            except TimeoutError:
                raise BrokerError(
                    f"mosquitto (pid {proc.pid}) did not reload its credentials within "
                    f"{_RELOAD_TIMEOUT:g} s; see {self.log_path}"
                ) from None
            log.info("mosquitto reloaded credentials (%d nodes)", len(self.credentials.nodes()))

    async def start(self) -> None:
        self._binary = self._binary or mosquitto_binary()
        if self._binary is None:
            raise BrokerError("mosquitto is not installed (Debian: apt-get install mosquitto)")
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        await asyncio.to_thread(_stop_stale, self.pid_path, self.conf_path)
        _rotate(self.log_path)
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._stopping = False
        try:
            self.credentials.write_mosquitto_files(self.space)
            await self._start_first()
        except BaseException:
            await self.stop()
            raise
        self._supervisor = asyncio.create_task(self._supervise(), name=f"mosquitto:{self.port}")
        log.info(
            "mosquitto (pid %s) listening on %s:%d, config %s",
            self.pid,
            self.host,
            self.port,
            self.conf_path,
        )

    async def stop(self) -> None:
        """Stop supervising and stop mosquitto: SIGTERM, then SIGKILL after the timeout."""
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
            self._supervisor = None
        await self._terminate()
        self.pid_path.unlink(missing_ok=True)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    # -- starting and supervising ---------------------------------------------------------
    async def _start_first(self) -> None:
        for more in self._tries():
            offset = self._log_size()
            try:
                await self._launch()
                return
            except BrokerError:
                in_use = b"Address already in use" in self._log_since(offset)
                if not (in_use and more):
                    raise

    async def _launch(self) -> None:
        """Start mosquitto on the current config and wait until it accepts the hub."""
        self.conf_path.write_text(self._conf(), encoding="utf-8")
        offset = self._log_size()
        self._started_at = asyncio.get_running_loop().time()
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *_dies_with_parent(),
                self._binary or "mosquitto",
                "-c",
                str(self.conf_path),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=self._log_file,
                start_new_session=True,  # a Ctrl-C at the terminal reaches the hub, not mosquitto
            )
        except OSError as exc:
            raise BrokerError(f"cannot run {self._binary}: {exc}") from exc
        self.pid_path.write_text(f"{self._proc.pid}\n", encoding="utf-8")
        try:
            await self._wait_ready(self._proc, offset)
        except BaseException:
            await self._terminate()
            raise

    async def _wait_ready(self, proc: asyncio.subprocess.Process, offset: int) -> None:
        hub = self.credentials.hub()
        where = f"{self.host}:{self.port}"
        try:
            async with asyncio.timeout(self._start_timeout):
                while True:
                    if proc.returncode is not None:
                        raise BrokerError(
                            f"mosquitto exited with code {proc.returncode} while starting on "
                            f"{where}: {self._tail(offset)}"
                        )
                    try:
                        code = await mqtt_connack(
                            self.host, self.port, hub.name, hub.password, timeout=0.5
                        )
                    except (OSError, TimeoutError, asyncio.IncompleteReadError):
                        await asyncio.sleep(0.02)  # not listening yet
                        continue
                    if code == 0:
                        return
                    raise BrokerError(
                        f"mosquitto on {where} refused the hub's login (CONNACK {code}); "
                        f"check {self.credentials.password_file}: {self._tail(offset)}"
                    )
        except TimeoutError:
            raise BrokerError(
                f"mosquitto did not accept connections on {where} within "
                f"{self._start_timeout:g} s: {self._tail(offset)}"
            ) from None

    async def _supervise(self) -> None:
        """Restart mosquitto whenever it exits, with backoff; give up after many failures."""
        loop = asyncio.get_running_loop()
        failures = 0
        while self._proc is not None:
            code = await self._proc.wait()
            if self._stopping:
                return
            ran_for = loop.time() - self._started_at
            failures = 1 if ran_for >= _STABLE_AFTER else failures + 1
            if failures > _MAX_FAILURES:
                self.failure = BrokerError(
                    f"mosquitto on {self.host}:{self.port} failed {_MAX_FAILURES} times in a row; "
                    f"not restarting it again. See {self.log_path}"
                )
                log.error("%s", self.failure)
                return
            delay = min(_BACKOFF_MAX, _BACKOFF_FIRST * 2 ** (failures - 1))
            log.warning(
                "mosquitto exited with code %s after %.1f s; restarting in %.1f s: %s",
                code,
                ran_for,
                delay,
                self._tail(max(0, self._log_size() - 2000)),
            )
            await asyncio.sleep(delay)
            try:
                await self._launch()
            except (BrokerError, OSError) as exc:
                log.error("restarting mosquitto failed (attempt %d): %s", failures, exc)
                continue
            self.restarts += 1
            log.warning("mosquitto restarted (pid %s, restart #%d)", self.pid, self.restarts)

    async def _terminate(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), self._stop_timeout)
        except TimeoutError:
            log.warning(
                "mosquitto (pid %d) ignored SIGTERM for %g s; killing it",
                proc.pid,
                self._stop_timeout,
            )
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await asyncio.wait_for(proc.wait(), self._stop_timeout)

    # -- files ---------------------------------------------------------------------------
    def _conf(self) -> str:
        lim = self.limits
        lines = [
            "# Generated by HyperHub at every start; edits are overwritten (docs/fabric.md).",
            f"listener {self.port} {self.host}",
            "allow_anonymous false",
            f"password_file {self.credentials.password_file.resolve()}",
            f"acl_file {self.credentials.acl_file.resolve()}",
            "# A relay, not a store: devices re-publish retained state when they reconnect.",
            "persistence false",
            f"max_queued_messages {lim.max_queued_messages}",
            f"max_queued_bytes {lim.max_queued_bytes}",
            f"max_inflight_messages {lim.max_inflight_messages}",
            f"message_size_limit {lim.message_size_limit}",
            f"max_packet_size {lim.max_packet_size}",
            f"persistent_client_expiration {lim.persistent_client_expiration}",
            "set_tcp_nodelay true",
            f"sys_interval {lim.sys_interval}",
            f"log_dest file {self.log_path}",
            *(f"log_type {t}" for t in ("error", "warning", "notice", "information")),
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
            "connection_messages true",
            *_run_as_this_user(),
        ]
        return "\n".join(lines) + "\n"

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def _log_since(self, offset: int) -> bytes:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read(1_000_000)
        except FileNotFoundError:
            return b""

    def _tail(self, offset: int, lines: int = 8) -> str:
        text = self._log_since(offset).decode("utf-8", "replace").strip().splitlines()
        return " | ".join(text[-lines:]) or f"(nothing in {self.log_path})"


def _run_as_this_user() -> list[str]:
    """Mosquitto started as root drops to user "mosquitto", who cannot read our 0600 files."""
    try:
        import pwd
    except ImportError:  # pragma: no cover - not POSIX: no privilege drop either
        return []
    return [f"user {pwd.getpwuid(os.geteuid()).pw_name}"]


def _rotate(path: Path) -> None:
    """Keep one old log once the current one passes a few MB."""
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size > _LOG_ROTATE_BYTES:
            path.replace(path.with_name(path.name + ".1"))


def _stop_stale(pid_path: Path, conf_path: Path) -> None:
    """Stop a mosquitto that an earlier, crashed hub left running on this data dir."""
    try:
        pid = int(pid_path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return
    try:
        proc = psutil.Process(pid)
        if str(conf_path) in proc.cmdline():
            log.warning("stopping mosquitto pid %d left running by an earlier hub", pid)
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except psutil.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
    except psutil.Error:
        pass  # gone already, or not ours
    pid_path.unlink(missing_ok=True)


class AmqttBroker(_Embedded):
    """The in-process fallback: amqtt on loopback, with the same logins and topic ACL.

    Meant for small spaces (≲1k devices, a few thousand messages/s). It has no payload
    size limit and no bounded queues; the hub drops oversize payloads itself.
    """

    kind: BrokerKind = "amqtt"
    restarts = 0  # in-process: it lives and dies with the hub
    _broker: Any = None  # amqtt's, while it runs

    async def reload(self) -> None:
        """Nothing to do: the ACL plugin reads the credential store as it changes."""
        self.credentials.nodes()  # surfaces a broken credentials file now, not at next login

    async def start(self) -> None:
        # 0.3 s to import amqtt; only this mode needs it
        from amqtt.errors import BrokerError as AmqttError

        from hyperhub.fabric.amqtt_plugins import broker_class

        broker_type = broker_class()  # with fixes for amqtt 0.12's races (see amqtt_plugins)

        log.warning(
            "running the in-process amqtt broker: it is meant for small spaces "
            "(≲1k devices); install Debian's 'mosquitto' package for more"
        )
        self.credentials.hub()  # make sure the hub can log in
        for more in self._tries():
            broker = broker_type(self._config())
            try:
                await asyncio.wait_for(broker.start(), self._start_timeout)
            except (AmqttError, TimeoutError) as exc:
                if more:
                    continue
                raise BrokerError(
                    f"amqtt broker cannot listen on {self.host}:{self.port}: {exc}"
                ) from exc
            self._broker = broker
            break
        log.info("amqtt broker listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Shut amqtt down (within the stop timeout)."""
        broker, self._broker = self._broker, None
        if broker is not None:
            try:
                await asyncio.wait_for(broker.shutdown(), self._stop_timeout)
            except TimeoutError:
                log.warning("amqtt broker did not shut down within %g s", self._stop_timeout)

    def _config(self) -> dict[str, object]:
        plugins = "hyperhub.fabric.amqtt_plugins"
        options = {"credentials": self.credentials, "space": self.space}
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                f"{plugins}.CredentialAuthPlugin": options,
                f"{plugins}.TopicAclPlugin": options,
            },
        }


@contextlib.asynccontextmanager
async def start_default_broker(
    data_dir: Path,
    space_slug: str,
    credentials: CredentialStore | None = None,
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    kind: Literal["auto", "mosquitto", "amqtt"] = "auto",
) -> AsyncIterator[Broker]:
    """Run the embedded broker: Mosquitto if installed (or `kind="mosquitto"`), else amqtt."""
    credentials = credentials or CredentialStore(Path(data_dir))
    broker: MosquittoBroker | AmqttBroker
    if kind == "mosquitto" or (kind == "auto" and mosquitto_binary() is not None):
        broker = MosquittoBroker(data_dir, space_slug, credentials, host=host, port=port)
    else:
        if kind == "auto":
            log.warning("mosquitto is not installed; falling back to the amqtt broker")
        broker = AmqttBroker(data_dir, space_slug, credentials, host=host, port=port)
    async with broker:
        yield broker

"""`BatchWriter`: mirrors fabric state into the store in batches, off the event loop.

Updates gather for up to `interval` seconds or `max_batch` updates, then go to
`StateStore.write_states` in one transaction. If the store falls behind by more than
`max_pending` updates, the oldest pending ones are dropped and counted.

Where the writing happens:

- **a process** (SQLite on disk, the default there): a child process
  (`hyperhub.fabric.store_process`) owns its own connection to the same database file and
  writes the batches, so SQLite's work does not compete with the hub's parsing for one GIL:
  two cores work instead of one. Batches go to it pickled over a pipe, at most `in_flight`
  unanswered at a time. The store's own write methods given to `submit` (audit rows) go the
  same way, in order with the batches: one process writes, so nothing waits on SQLite's lock.
  If the process dies, that is logged as an error, what it had not answered is written again
  on the thread below (writes of state are idempotent; an audit row it wrote just before
  dying may be written twice), and the thread is used from then on;
- **a thread** (PostgreSQL, in-memory SQLite, or `process=False`): one worker thread in the
  hub process runs the batches and every `submit` call in order. PostgreSQL does its work in
  its own server process anyway.

Other callables given to `submit` always run on the thread.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import json
import logging
import pickle
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, NamedTuple

import hyperhub
from hyperhub.errors import StoreError
from hyperhub.fabric.store_process import CALLS, HEADER, READY, frame
from hyperhub.store import StateRow, StateStore

log = logging.getLogger("hyperhub.fabric.store")
_STDERR_TAIL = 10  # lines of the process's stderr kept for the message if it dies
STALL_S = 30.0  # a batch unanswered this long is logged as an error (and again each time)


class BatchWriter:
    """Batches state updates into `store.write_states` calls, in a process or on a thread."""

    def __init__(
        self,
        store: StateStore,
        *,
        interval: float = 0.05,
        max_batch: int = 5000,
        max_pending: int = 200_000,
        in_flight: int = 2,
        process: bool | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        """`process`: write in a child process (None: when the store is SQLite on disk)."""
        self.store = store
        self.interval = interval
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.in_flight = in_flight
        self.written = 0
        self.failed = 0
        self.dropped = 0
        self._pending: list[StateRow] = []
        self._jobs: set[asyncio.Future[Any]] = set()
        self._batches: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hyperhub-store")
        self._task: asyncio.Task[None] | None = None
        file = store.sqlite_file
        if process is None:
            process = file is not None and bool(sys.executable)
        if process and file is None:
            raise StoreError(f"a store writer process needs SQLite on disk, not {store.url}")
        self._process: WriterProcess | None = (
            WriterProcess(file, store.synchronous, self._process_ended, start_timeout)
            if process and file is not None
            else None
        )

    @property
    def mode(self) -> Literal["process", "thread"]:
        """Where state batches are written now."""
        return "thread" if self._process is None else "process"

    @property
    def pid(self) -> int | None:
        """The writer process's id while it runs."""
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="fabric-store-writer")
            if self._process is not None:
                self._process.start()

    def add(self, update: StateRow) -> None:
        """Queue one update (a `StateUpdate`, or a plain tuple of its fields: cheaper to
        send to the process); it is written within `interval` seconds."""
        pending = self._pending
        pending.append(update)
        count = len(pending)
        if count == 1:
            self._wake.set()  # cleared whenever the batches take every pending update
        if count >= self.max_batch:
            self._full.set()
        if count > self.max_pending:
            excess = count - self.max_pending
            del pending[:excess]
            self.dropped += excess
            log.warning("the store is behind: dropped %d oldest state updates", excess)

    def submit(self, what: str, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Run a store call after what is queued for the store; `flush` waits for it, and a
        failure is logged as "cannot <what>". The store's own write methods (`audit`,
        `set_meta`, …) go to the writer process when there is one; anything else runs on
        the thread."""
        name = getattr(fn, "__name__", "")
        process = self._process
        if process is not None and getattr(fn, "__self__", None) is self.store and name in CALLS:
            job = process.request("call", (name, args))
        else:
            job = asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        self._jobs.add(job)
        job.add_done_callback(lambda done: self._job_done(what, done))
        return job

    async def flush(self, timeout: float = 10.0) -> None:
        """Write everything pending now and wait for it and every submitted call (updates
        that arrive meanwhile are not waited for, so a steady stream cannot hold it up)."""
        async with asyncio.timeout(timeout):
            await self._write_pending(len(self._pending))
            if self._jobs:
                await asyncio.wait(set(self._jobs))

    async def close(self, timeout: float = 10.0) -> None:
        """Write what is pending, then stop the process (or the thread)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=timeout)
        try:
            await self.flush(timeout)
        except TimeoutError:
            log.warning("store writes still pending after %g s at close", timeout)
        process, self._process = self._process, None  # from now on: the thread
        if process is not None:
            await process.close(timeout)
        if self._jobs:  # what a process that died at the end left to the thread
            await asyncio.wait(set(self._jobs), timeout=timeout)
        self._executor.shutdown(wait=False)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self.interval)
            await self._write_pending()

    async def _write_pending(self, limit: int | None = None) -> None:
        """Write pending updates in batches: all of them, or the oldest `limit`; at most
        `in_flight` batches are unanswered at a time."""
        left = limit
        while self._pending and (left is None or left > 0):
            size = self.max_batch if left is None else min(left, self.max_batch)
            if left is not None:
                left -= size
            if size >= len(self._pending):  # all of it (the usual case): no copy
                batch, self._pending = self._pending, []
            else:
                batch = self._pending[:size]
                del self._pending[:size]
            if len(self._pending) < self.max_batch:
                self._full.clear()
            if not self._pending:
                self._wake.clear()
            what = f"mirror {len(batch)} state updates into the store"
            process = self._process
            if process is not None:
                job = process.request("states", batch)
                self._jobs.add(job)
                job.add_done_callback(functools.partial(self._job_done, what))
            else:
                job = self.submit(what, self.store.write_states, batch)
            job.add_done_callback(functools.partial(self._count, size=len(batch)))
            self._batches.append(job)
            while True:
                while self._batches and self._batches[0].done():
                    self._batches.popleft()
                if len(self._batches) < self.in_flight:
                    break
                oldest = self._batches[0]
                done, _ = await asyncio.wait({oldest}, timeout=STALL_S)  # never raises
                if not done:
                    log.error(
                        "the store has not finished writing a batch in %g s (%s); still "
                        "waiting, %d updates pending",
                        STALL_S,
                        self.mode,
                        len(self._pending),
                    )

    def _count(self, job: asyncio.Future[Any], size: int) -> None:
        if job.cancelled() or job.exception() is not None:
            self.failed += size
        else:
            self.written += job.result()

    def _job_done(self, what: str, job: asyncio.Future[Any]) -> None:
        self._jobs.discard(job)
        if not job.cancelled() and job.exception() is not None:
            log.error("cannot %s: %s", what, job.exception())

    def _process_ended(self, why: str, unanswered: list[Request]) -> None:
        """The writer process is gone: its unanswered requests, then everything, go to the
        thread."""
        self._process = None
        log.error(
            "the store writer process %s; writing on a thread from now on (%d unanswered "
            "requests moved there)",
            why,
            len(unanswered),
        )
        loop = asyncio.get_running_loop()
        for request in unanswered:
            job = loop.run_in_executor(self._executor, _replay, self.store, request)
            job.add_done_callback(functools.partial(_settle, request.future))


class Request(NamedTuple):
    """One request to the writer process, kept until it is answered: as the frame sent, so
    that a batch kept for a replay is bytes, not thousands of objects for the GC to scan."""

    seq: int
    op: Literal["states", "call"]
    frame: bytes
    future: asyncio.Future[Any]

    @property
    def payload(self) -> Any:
        """The payload, unpickled again."""
        return pickle.loads(self.frame[HEADER.size :])[2]


class WriterProcess:
    """The store writer child process: spawned, fed, read and stopped from the event loop.

    `request` returns a future for the answer; requests made before the process is up are
    sent once it is. If it cannot start, or exits while requests are unanswered (or before
    `close`), `on_end(why, unanswered)` is called once and the object is done.
    """

    def __init__(
        self,
        path: Path,
        synchronous: str,
        on_end: Callable[[str, list[Request]], None],
        start_timeout: float = 30.0,
    ) -> None:
        self.path = path
        self.synchronous = synchronous
        self.start_timeout = start_timeout
        self._on_end = on_end
        self._seq = READY
        self._unanswered: collections.deque[Request] = collections.deque()
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL)

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._serve(), name="fabric-store-process")

    def request(self, op: Literal["states", "call"], payload: Any) -> asyncio.Future[Any]:
        """Send one request; the future gets its result, or a `StoreError`."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._seq += 1
        try:
            data = frame((self._seq, op, payload))
        except Exception as exc:  # something in the payload that pickle can't take
            future.set_exception(StoreError(f"cannot send it to the store writer: {exc}"))
            return future
        proc = self._proc
        if proc is not None:
            assert proc.stdin is not None
            proc.stdin.write(data)
        self._unanswered.append(Request(self._seq, op, data, future))
        return future

    async def close(self, timeout: float) -> None:
        """Let the process write what it has and exit (end of its input); kill it after
        `timeout` seconds."""
        self._closing = True
        proc, task = self._proc, self._task
        if proc is not None and proc.stdin is not None:
            proc.stdin.close()
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=timeout)
            if not done:
                log.error("the store writer process did not finish in %g s: killed", timeout)
                self._kill()
                task.cancel()
                await asyncio.wait({task}, timeout=5)
        while self._unanswered:  # only if it was killed: what it had not written is lost
            future = self._unanswered.popleft().future
            if not future.done():
                future.set_exception(StoreError("the store writer process was killed at close"))

    async def _serve(self) -> None:
        """Spawn the process, send what is queued, and settle answers until it ends."""
        why = "ended"
        reader: asyncio.Task[None] | None = None
        try:
            proc = await self._spawn()
            assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
            reader = asyncio.create_task(self._log_stderr(proc.stderr), name="store-stderr")
            for asked in self._unanswered:  # what was asked before the process was up
                proc.stdin.write(asked.frame)
            async with asyncio.timeout(self.start_timeout):
                seq, ok, value = await _read_answer(proc.stdout)
            if seq != READY:
                raise StoreError(f"answered {seq} before it was ready")
            if not ok:
                raise StoreError(value)
            while True:
                seq, ok, value = await _read_answer(proc.stdout)
                request = self._unanswered.popleft() if self._unanswered else None
                if request is None or request.seq != seq:
                    raise StoreError(f"answered request {seq} out of order")
                if request.future.done():
                    continue
                if ok:
                    request.future.set_result(value)
                else:
                    request.future.set_exception(StoreError(value))
        except asyncio.IncompleteReadError:
            why = "exited"
        except TimeoutError:
            why = f"did not start within {self.start_timeout:g} s"
        except (OSError, StoreError, pickle.UnpicklingError, ValueError) as exc:
            why = f"failed: {exc}"
        except Exception as exc:  # a bug here must not leave requests waiting forever
            log.exception("the store writer process failed")
            why = f"failed: {exc!r}"
        finally:  # also when cancelled (killed at close): then nobody is told
            code = await self._reap()
            if reader is not None:
                await asyncio.wait({reader}, timeout=2)  # the rest of what it said
                reader.cancel()
        if self._unanswered or not self._closing:
            if code is not None:
                why += f" with code {code}"
            if self._tail:
                why += f" (stderr: {' | '.join(self._tail)})"
            unanswered = list(self._unanswered)
            self._unanswered.clear()
            self._on_end(why, unanswered)

    async def _spawn(self) -> asyncio.subprocess.Process:
        spec = {"path": str(self.path), "synchronous": self.synchronous}
        # this hyperhub if the child's Python has none of its own (a checkout on sys.path);
        # appended, so nothing of the standard library or site-packages is shadowed
        source = str(Path(hyperhub.__file__).resolve().parents[1])
        code = (
            f"import sys; sys.path.append({source!r}); "
            "from hyperhub.fabric.store_process import main; main()"
        )
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-P",  # not the current directory first either
            "-c",
            code,
            json.dumps(spec),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return self._proc

    async def _reap(self) -> int | None:
        """The exit code, once the process is gone (killed if it lingers)."""
        proc = self._proc
        if proc is None:
            return None
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            self._kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 5)
        return proc.returncode

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    async def _log_stderr(self, stream: asyncio.StreamReader) -> None:
        """Log what the process says (it only speaks of trouble); keep the last lines."""
        rest = b""
        with contextlib.suppress(OSError):
            while chunk := await stream.read(65536):
                *lines, rest = (rest + chunk).split(b"\n")
                for line in lines:
                    self._say(line)
        self._say(rest)

    def _say(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace").rstrip()[:1000]
        if text:
            self._tail.append(text)
            log.warning("%s", text)


async def _read_answer(stream: asyncio.StreamReader) -> tuple[int, bool, Any]:
    (size,) = HEADER.unpack(await stream.readexactly(HEADER.size))
    seq, ok, value = pickle.loads(await stream.readexactly(size))
    return seq, ok, value


def _replay(store: StateStore, request: Request) -> Any:
    """Carry out on this thread a request the writer process did not answer."""
    payload = request.payload
    if request.op == "states":
        return store.write_states(payload)
    name, args = payload
    return getattr(store, name)(*args)


def _settle(future: asyncio.Future[Any], job: asyncio.Future[Any]) -> None:
    """Give `future` the outcome of `job` (a request rewritten on the thread)."""
    if future.done():
        return
    if job.cancelled():
        future.cancel()
    elif (exc := job.exception()) is not None:
        future.set_exception(exc)
    else:
        future.set_result(job.result())

"""`BatchWriter`: mirrors fabric state into the store in batches, off the event loop.

Updates gather for up to `interval` seconds or `max_batch` updates, then go to
`StateStore.write_states` in one transaction on the single store thread. Audit rows and
other store calls (`submit`) run on the same thread, in order. If the store falls behind by
more than `max_pending` updates, the oldest pending ones are dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hyperhub.errors import StoreError
from hyperhub.store import StateStore, StateUpdate

log = logging.getLogger("hyperhub.fabric.store")


class BatchWriter:
    """Batches `StateUpdate`s into `store.write_states` calls on one worker thread."""

    def __init__(
        self,
        store: StateStore,
        *,
        interval: float = 0.05,
        max_batch: int = 5000,
        max_pending: int = 200_000,
    ) -> None:
        self.store = store
        self.interval = interval
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.written = 0
        self.failed = 0
        self.dropped = 0
        self._pending: list[StateUpdate] = []
        self._jobs: set[asyncio.Future[Any]] = set()
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hyperhub-store")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="fabric-store-writer")

    def add(self, update: StateUpdate) -> None:
        """Queue one update; it is written within `interval` seconds."""
        self._pending.append(update)
        if len(self._pending) > self.max_pending:
            excess = len(self._pending) - self.max_pending
            del self._pending[:excess]
            self.dropped += excess
            log.warning("the store is behind: dropped %d oldest state updates", excess)
        self._wake.set()
        if len(self._pending) >= self.max_batch:
            self._full.set()

    def submit(self, what: str, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Run a store call on the store thread, after what is queued there; `flush` waits
        for it, and a failure is logged as "cannot <what>"."""
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
        """Write what is pending, then stop the thread."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=timeout)
        try:
            await self.flush(timeout)
        except TimeoutError:
            log.warning("store writes still pending after %g s at close", timeout)
        self._executor.shutdown(wait=False)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self.interval)
            await self._write_pending()

    async def _write_pending(self, limit: int | None = None) -> None:
        """Write pending updates in batches: all of them, or the oldest `limit`."""
        left = limit
        while self._pending and (left is None or left > 0):
            size = self.max_batch if left is None else min(left, self.max_batch)
            if left is not None:
                left -= size
            batch = self._pending[:size]
            del self._pending[:size]
            if len(self._pending) < self.max_batch:
                self._full.clear()
            if not self._pending:
                self._wake.clear()
            what = f"mirror {len(batch)} state updates into the store"
            job = self.submit(what, self.store.write_states, batch)
            job.add_done_callback(functools.partial(self._count, size=len(batch)))
            with contextlib.suppress(StoreError):
                await asyncio.shield(job)

    def _count(self, job: asyncio.Future[Any], size: int) -> None:
        if job.cancelled() or job.exception() is not None:
            self.failed += size
        else:
            self.written += job.result()

    def _job_done(self, what: str, job: asyncio.Future[Any]) -> None:
        self._jobs.discard(job)
        if not job.cancelled() and job.exception() is not None:
            log.error("cannot %s: %s", what, job.exception())

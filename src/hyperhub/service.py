"""`Service`: something started and stopped in an `async with` (a fabric side, a node, the
API server): `__aenter__` awaits `start`, `__aexit__` awaits `stop`, whatever ended the
block. `Closing`: something closed at the end of a `with` (a store, a subscription)."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Service:
    """Subclasses give `start` and `stop`; `async with` runs them."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


class Closing:
    """Subclasses give `close`; `with` calls it at the end of the block."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

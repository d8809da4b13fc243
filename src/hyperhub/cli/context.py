"""What every CLI command needs: the space, the data dir and the store, resolved once."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hyperhub import config
from hyperhub.clock import SystemClock
from hyperhub.errors import HyperHubError, NotAllowed
from hyperhub.hub import running_hub
from hyperhub.local import LocalSpace
from hyperhub.space import Device, Space, load_space
from hyperhub.spec import parse_text
from hyperhub.store import StateStore

if TYPE_CHECKING:
    from hyperhub.automation.loader import Book
    from hyperhub.runtime import HubInfo

META_SPACE = "space_path"
DEMO = "demo"  # what META_SPACE holds for the demo space that ships in the package
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


class Context:
    """Resolves `--space`, `--data-dir` and `--db`, and opens the store; close it after use."""

    def __init__(
        self,
        space: Path | None,
        data_dir: Path | None,
        db: str | None,
        *,
        remember_space: bool = False,
    ) -> None:
        self.data_dir = config.data_dir(data_dir)
        self.clock = SystemClock()
        self.store = StateStore.open(config.db_url(db), data_dir=self.data_dir)
        try:
            self.space = self._space(space, remember_space)
        except BaseException:
            self.store.close()
            raise

    def _space(self, given: Path | None, remember: bool) -> Space:
        env = config.space_from_env()
        stored = self.store.get_meta(META_SPACE)
        demo = config.demo_space()
        if given is not None:
            path = given
        elif env:
            path = env
        elif stored and stored != DEMO and Path(stored).exists():
            path = Path(stored)
        else:
            path = demo
        space = load_space(path)
        if remember or stored is None:
            # the demo is remembered as the demo: a path into one install's package would pin
            # that install's demo for every HyperHub sharing this data dir
            same = path.resolve() == demo.resolve()
            self.store.set_meta(META_SPACE, DEMO if same else str(path.resolve()))
        return space

    def __enter__(self) -> Context:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.store.close()

    def states(self) -> dict[str, dict[str, Any]]:
        """Every device's state: the space's initial state overlaid with what is stored."""
        stored = self.space.restored_state(self.store.current_all())
        return {d.id: {**d.state, **stored.get(d.id, {})} for d in self.space.devices.values()}

    def local(self) -> LocalSpace:
        return LocalSpace(self.space, self.store, self.clock)

    def running_hub(self) -> HubInfo | None:
        """The hub running on this data dir, or None; an error while it is still starting."""
        if running_hub(self.data_dir) is None:
            return None
        from hyperhub.runtime import read_hub_info  # the fabric is imported only when a hub runs

        info = read_hub_info(self.data_dir)
        if info is None:
            raise NotAllowed(f"the hub on {self.data_dir} is starting; try again in a moment")
        return info

    def automations_path(self, given: Path | None = None) -> Path | None:
        """Where the space's rules and scenes are read from."""
        from hyperhub.automation.loader import automations_path

        return given if given is not None else automations_path(self.space)

    def automations(self, given: Path | None = None) -> Book:
        """The space's rules and scenes, validated (`AutomationError` lists every problem)."""
        from hyperhub.automation.loader import load_automations

        return load_automations(self.space, given)

    def parse_value(self, device: Device, prop: str, text: str) -> Any:
        spec = device.dtype.prop(prop, device.id)
        return parse_text(spec, text, f"{device.id}.{prop}")


def parse_call_args(device: Device, action: str, pairs: list[str]) -> dict[str, Any]:
    """`name=value` arguments of an action, parsed by each argument's kind."""
    spec = device.dtype.action(action, device.id)
    kinds = {a.name: a for a in spec.args}
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            if len(kinds) == 1 and not out:  # a lone argument may be given bare
                name, text = next(iter(kinds)), pair
            else:
                raise HyperHubError(f"argument {pair!r} must be name=value")
        if name not in kinds:
            takes = ", ".join(kinds) or "no arguments"
            raise HyperHubError(f"{device.id}.{action} has no argument {name!r}; it takes {takes}")
        out[name] = parse_text(kinds[name], text, f"{device.id}.{action}({name})")
    return out


def parse_device_list(space: Space, text: str) -> list[str]:
    """'car, phone' → ['car', 'phone']: ids of the space (UnknownDevice names a stray one)."""
    devices = list(dict.fromkeys(d.strip() for d in text.split(",") if d.strip()))
    if not devices:
        raise HyperHubError("no devices given; list device ids separated by commas")
    return list(dict.fromkeys(space.find_device(device).id for device in devices))


def parse_duration(text: str) -> float:
    """'90', '30s', '15m', '1.5h', '2d', '1w' → seconds."""
    match = _DURATION.match(text)
    if not match:
        raise HyperHubError(f"bad duration {text!r}; use a number with s, m, h, d or w (e.g. 15m)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_when(text: str, now: float | None = None) -> float:
    """A duration ago ('1h') or an ISO date/time → UNIX seconds."""
    now = time.time() if now is None else now
    if _DURATION.match(text):
        return now - parse_duration(text)
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise HyperHubError(
            f"bad time {text!r}; use a duration ago (30s, 15m, 1h, 2d) or an ISO time "
            "(2026-11-25T08:00)"
        ) from None

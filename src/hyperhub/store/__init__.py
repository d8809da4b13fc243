"""Persistence: current state, history, audit log, rule runs and meta; SQLite by default, any
SQLAlchemy URL.

with StateStore.open(data_dir=Path("/var/lib/hyperhub")) as store:
    store.write_state("living_room_light", {"on": True, "brightness": 80})
    store.history("living_room_light", "brightness", since=time.time() - 86400)
"""

from hyperhub.store.records import (
    AuditEntry,
    HistoryPoint,
    RunEntry,
    RunRow,
    StateRow,
    StateUpdate,
)
from hyperhub.store.state_store import RUN_RESULTS, StateStore

__all__ = [
    "RUN_RESULTS",
    "AuditEntry",
    "HistoryPoint",
    "RunEntry",
    "RunRow",
    "StateRow",
    "StateStore",
    "StateUpdate",
]

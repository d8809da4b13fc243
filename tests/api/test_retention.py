"""How long the hub keeps history and the audit log: `Retention` (`hyperhub run
--history-days N --audit-days N`; 90 and 365 by default), pruned at start and then hourly."""

from __future__ import annotations

import time
from pathlib import Path

from tests.helpers.api_hub import start_hub

from hyperhub.config import demo_space
from hyperhub.runtime import Retention
from hyperhub.space import load_space
from hyperhub.store import StateStore

DAY = 86400.0


def test_old_history_and_audit_rows_are_pruned_and_recent_ones_kept(tmp_path: Path) -> None:
    now = time.time()
    with StateStore.open(data_dir=tmp_path) as store:
        for age_days, value in ((400, 5), (40, 6), (2, 7)):
            ts = now - age_days * DAY
            store.write_states([("living_room_light", {"brightness": value}, None, ts)])
            store.audit(
                "cli",
                "living_room_light",
                "set",
                {"property": "brightness", "value": value},
                "ok",
                ts=ts,
            )
    hub = start_hub(
        tmp_path, load_space(demo_space()), retention=Retention(history_days=30, audit_days=365)
    )
    try:
        deadline = time.monotonic() + 20  # bounded: pruning runs at start
        while True:
            with StateStore.open(data_dir=tmp_path) as store:
                audit = [e.what["value"] for e in store.audit_log(device="living_room_light")]
                points = store.history("living_room_light", "brightness", since=0)
            kept = [p.value for p in points if p.ts < now - DAY]
            if (5 not in audit and kept == [7]) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert 5 not in audit and {6, 7} <= set(audit)  # 400 days old: gone; 40 and 2: kept
        assert kept == [7]  # history: only the point younger than 30 days
    finally:
        hub.auth.close()
        hub._stop()

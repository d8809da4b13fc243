"""Audit log: every command, who sent it, and how it ended."""

from __future__ import annotations

import pytest

from hyperhub.errors import StoreError
from hyperhub.store import AuditEntry, StateStore


def test_audit_entry_reads_back_as_written(store: StateStore) -> None:
    what = {"action": "unlock", "args": {}}
    entry_id = store.audit("api:token-7", "door", "call", what, "error", "needs risky", ts=50.0)

    assert store.audit_log() == [
        AuditEntry(entry_id, 50.0, "api:token-7", "door", "call", what, "error", "needs risky")
    ]


def test_audit_entry_keeps_the_code_and_the_changes_for_machines(store: StateStore) -> None:
    lamp = {"property": "on", "value": True}
    store.audit("cli", "lamp", "set", lamp, "ok", "on → true", changes={"on": True}, ts=1.0)
    store.audit(
        "cli",
        "door",
        "call",
        {"action": "unlock"},
        "error",
        "no",
        ts=2.0,
        code="needs_confirmation",
    )

    refused, done = store.audit_log()
    assert (refused.code, refused.changes) == ("needs_confirmation", None)
    assert (done.code, done.changes) == ("", {"on": True})


def test_audit_what_keeps_value_types(store: StateStore) -> None:
    what = {"property": "location", "value": {"lat": 39.9, "lon": 116.3}, "flag": False}
    store.audit("assistant", "car", "set", what, "ok")

    assert store.audit_log()[0].what == what


def test_audit_log_is_newest_first(store: StateStore) -> None:
    for ts in (2.0, 9.0, 5.0):
        store.audit("cli", "lamp", "set", {"property": "on", "value": True}, "ok", ts=ts)

    assert [e.ts for e in store.audit_log()] == [9.0, 5.0, 2.0]


def test_audit_entries_at_the_same_ts_are_newest_first_by_id(store: StateStore) -> None:
    first = store.audit("cli", "lamp", "set", {"property": "on", "value": True}, "ok", ts=1.0)
    second = store.audit("cli", "lamp", "set", {"property": "on", "value": False}, "ok", ts=1.0)

    assert [e.id for e in store.audit_log()] == [second, first]


def test_audit_log_filters_by_device(store: StateStore) -> None:
    store.audit("cli", "lamp", "set", {"property": "on", "value": True}, "ok", ts=1.0)
    store.audit("rule:night", "lock", "call", {"action": "lock", "args": {}}, "timeout", ts=2.0)

    assert [e.device_id for e in store.audit_log(device="lock")] == ["lock"]


def test_audit_log_filters_by_since(store: StateStore) -> None:
    for ts in (1.0, 2.0, 3.0):
        store.audit("cli", "lamp", "set", {"property": "on", "value": True}, "ok", ts=ts)

    assert [e.ts for e in store.audit_log(since=2.0)] == [3.0, 2.0]


def test_audit_log_limit_keeps_the_newest(store: StateStore) -> None:
    for ts in range(10):
        store.audit("cli", "lamp", "set", {"property": "on", "value": True}, "ok", ts=float(ts))

    assert [e.ts for e in store.audit_log(limit=3)] == [9.0, 8.0, 7.0]


def test_unknown_audit_kind_is_refused(store: StateStore) -> None:
    with pytest.raises(StoreError, match="kind"):
        store.audit("cli", "lamp", "toggle", {}, "ok")  # type: ignore[arg-type]


def test_unknown_audit_result_is_refused(store: StateStore) -> None:
    with pytest.raises(StoreError, match="result"):
        store.audit("cli", "lamp", "set", {}, "maybe")  # type: ignore[arg-type]


def test_many_audit_rows_in_one_call_read_back_in_order(store: StateStore) -> None:
    rows = [
        ("hub", "lamp", "set", {"property": "on", "value": True}, "ok", "on=True", 1.0),
        ("hub", "lock", "call", {"action": "lock", "args": {}}, "timeout", "", 2.0),
    ]
    assert store.audit_many(rows) == 2 and store.audit_many([]) == 0

    entries = store.audit_log()
    assert [(e.device_id, e.kind, e.what, e.result, e.ts) for e in entries] == [
        ("lock", "call", {"action": "lock", "args": {}}, "timeout", 2.0),
        ("lamp", "set", {"property": "on", "value": True}, "ok", 1.0),
    ]


def test_many_audit_rows_are_all_refused_for_one_bad_row(store: StateStore) -> None:
    good = ("hub", "lamp", "set", {}, "ok", "", 1.0)
    with pytest.raises(StoreError, match="result"):
        store.audit_many([good, ("hub", "lamp", "set", {}, "maybe", "", 2.0)])
    assert store.audit_log() == []


def test_a_value_json_cannot_hold_never_costs_a_row_or_the_batch(store: StateStore) -> None:
    """The attack of the hardening probe: a NaN in a rejected command's audit row used to
    make the whole pending batch unstorable, a confirmed unlock sent just before included."""
    unlock = (
        "api:owner",
        "front_door_lock",
        "call",
        {"action": "unlock", "args": {}},
        "ok",
        "",
        1.0,
    )
    nan = (
        "api:t1",
        "car",
        "set",
        {"property": "cabin_target_temp", "value": float("nan")},
        "error",
        "rejected",
        2.0,
    )
    odd = ("api:t1", "car", "call", {"action": "honk", "args": {"x": object()}}, "error", "", 3.0)
    assert store.audit_many([unlock, nan, odd]) == 3

    by_ts = {e.ts: e for e in store.audit_log()}
    assert by_ts[1.0].what == {"action": "unlock", "args": {}} and by_ts[1.0].result == "ok"
    assert by_ts[2.0].what == {"property": "cabin_target_temp", "value": "unstorable value: nan"}
    assert by_ts[3.0].what["action"] == "honk"
    assert by_ts[3.0].what["args"].startswith("unstorable value: {'x': <object object")
    store.audit("cli", "car", "set", {"property": "x", "value": float("inf")}, "error")
    assert store.audit_log(limit=1)[0].what["value"] == "unstorable value: inf"


def test_long_values_and_messages_are_cut_and_say_how_long_they_were(store: StateStore) -> None:
    huge = "A" * 60_000
    store.audit(
        "api:t1", "tv", "set", {"property": "source", "value": huge}, "error", "bad " + huge
    )
    entry = store.audit_log()[0]
    assert entry.what["property"] == "source"
    assert entry.what["value"].startswith('"AAAA') and entry.what["value"].endswith(
        "(60,002 characters)"
    )
    assert len(entry.what["value"]) < 1100
    assert len(entry.message) < 1100 and entry.message.endswith("(60,004 characters)")


def test_prune_audit_deletes_only_older_rows(store: StateStore) -> None:
    for ts in (10.0, 20.0, 30.0):
        store.audit("cli", "lamp", "set", {"property": "on", "value": True}, "ok", ts=ts)
    assert store.prune_audit(20.0) == 1
    assert [e.ts for e in store.audit_log()] == [30.0, 20.0]

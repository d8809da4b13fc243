"""Current state: what goes in comes back out, type for type."""

from __future__ import annotations

import pytest

from hyperhub.errors import StoreError
from hyperhub.store import StateStore, StateUpdate


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("on", True),
        ("on", False),
        ("brightness", 80),
        ("target_temp", 21.5),
        ("mode", "cool"),
        ("source", "客厅 — TV ✓"),
        ("location", {"lat": 39.99, "lon": 116.31}),
        ("gear", None),
    ],
)
def test_state_value_round_trips_with_its_type(store: StateStore, prop: str, value: object) -> None:
    store.write_state("dev", {prop: value})

    back = store.current("dev")

    assert back == {prop: value}
    assert type(back[prop]) is type(value)


def test_state_survives_reopening(store_url: str) -> None:
    with StateStore.open(store_url) as store:
        store.write_state("car", {"locked": True, "location": {"lat": 1.5, "lon": 2.5}})

    with StateStore.open(store_url) as store:
        assert store.current("car") == {"locked": True, "location": {"lat": 1.5, "lon": 2.5}}


def test_write_state_replaces_the_whole_state(store: StateStore) -> None:
    store.write_state("light", {"on": True, "brightness": 80})
    store.write_state("light", {"on": False})

    assert store.current("light") == {"on": False}


def test_unknown_device_has_no_state(store: StateStore) -> None:
    assert store.current("nope") is None
    assert store.last_updated("nope") is None


def test_last_updated_is_the_ts_of_the_last_write(store: StateStore) -> None:
    store.write_state("plug", {"on": True}, ts=1000.0)
    store.write_state("plug", {"on": False}, ts=1005.5)

    assert store.last_updated("plug") == 1005.5


def test_current_all_maps_every_device_to_its_state(store: StateStore) -> None:
    store.write_state("a", {"on": True})
    store.write_state("b", {"brightness": 3})

    assert store.current_all() == {"a": {"on": True}, "b": {"brightness": 3}}


def test_write_states_returns_how_many_updates_it_wrote(store: StateStore) -> None:
    updates = (StateUpdate(f"d{i}", {"on": True}, None, 10.0) for i in range(25))

    assert store.write_states(updates) == 25
    assert len(store.current_all()) == 25


def test_last_update_of_a_device_in_a_batch_wins(store: StateStore) -> None:
    store.write_states(
        [StateUpdate("fan", {"speed": 10}, None, 1.0), StateUpdate("fan", {"speed": 20}, None, 2.0)]
    )

    assert store.current("fan") == {"speed": 20}
    assert store.last_updated("fan") == 2.0


def test_batch_with_a_bad_value_writes_nothing(store: StateStore) -> None:
    good = StateUpdate("good", {"on": True}, None, 1.0)
    bad = StateUpdate("bad", {"thing": object()}, None, 1.0)

    with pytest.raises(StoreError, match="bad"):
        store.write_states([good, bad])

    assert store.current("good") is None
    assert store.history("good", "on", since=0) == []


def test_non_finite_number_is_refused_naming_device_and_property(store: StateStore) -> None:
    with pytest.raises(StoreError, match=r"sensor\.temperature"):
        store.write_state("sensor", {"temperature": float("nan")})

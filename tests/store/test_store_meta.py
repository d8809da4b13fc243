"""Meta: small settings kept with the data (the space file, its name)."""

from __future__ import annotations

from hyperhub.store import StateStore


def test_unset_meta_key_is_none(store: StateStore) -> None:
    assert store.get_meta("space_file") is None


def test_meta_value_is_replaced_by_a_later_set(store: StateStore) -> None:
    store.set_meta("space_file", "/home/lin/home.yaml")
    store.set_meta("space_file", "/home/lin/新家.yaml")

    assert store.get_meta("space_file") == "/home/lin/新家.yaml"


def test_meta_survives_reopening(store_url: str) -> None:
    with StateStore.open(store_url) as store:
        store.set_meta("space_name", "Lin family")

    with StateStore.open(store_url) as store:
        assert store.get_meta("space_name") == "Lin family"

"""Meta: small settings kept with the data (the space file, its name)."""

from __future__ import annotations

from pathlib import Path

from hyperhub.store import StateStore


def test_unset_meta_key_is_none(store: StateStore) -> None:
    assert store.get_meta("space_file") is None


def test_meta_value_is_replaced_by_a_later_set(store: StateStore) -> None:
    store.set_meta("space_file", "/home/lin/home.yaml")
    store.set_meta("space_file", "/home/lin/新家.yaml")

    assert store.get_meta("space_file") == "/home/lin/新家.yaml"


def test_meta_survives_reopening(tmp_path: Path) -> None:
    with StateStore.open(data_dir=tmp_path) as store:
        store.set_meta("space_name", "Lin family")

    with StateStore.open(data_dir=tmp_path) as store:
        assert store.get_meta("space_name") == "Lin family"

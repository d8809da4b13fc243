"""One writer thread and several readers at once, as the hub runs it behind an executor."""

from __future__ import annotations

import threading

from hyperhub.store import StateStore, StateUpdate

DEVICES = 50
BATCHES = 60
READERS = 3


def test_readers_see_whole_batches_while_a_writer_writes(store: StateStore) -> None:
    errors: list[BaseException] = []
    seen: list[set[int]] = []
    done = threading.Event()

    def write() -> None:
        try:
            for n in range(BATCHES):
                store.write_states(
                    StateUpdate(f"d{i}", {"seq": n}, None, float(n)) for i in range(DEVICES)
                )
        except BaseException as err:
            errors.append(err)
        finally:
            done.set()

    def read() -> None:
        try:
            while not done.is_set():
                states = store.current_all()
                seen.append({state["seq"] for state in states.values()})
                store.history("d0", "seq", since=0)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=write)]
    threads += [threading.Thread(target=read) for _ in range(READERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert all(len(seqs) <= 1 for seqs in seen)  # never half a batch
    assert store.current("d0") == {"seq": BATCHES - 1}

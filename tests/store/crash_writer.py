"""Writer for the crash test: batch after batch, printing each batch number once committed.

python crash_writer.py DATA_DIR DEVICES BATCHES
"""

from __future__ import annotations

import sys
from pathlib import Path

from hyperhub.store import StateStore, StateUpdate


def main() -> None:
    data_dir, devices, batches = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    with StateStore.open(data_dir=data_dir) as store:
        for n in range(batches):
            store.write_states(
                StateUpdate(f"dev{d}", {"seq": n, "pad": "x" * 200}, None, float(n))
                for d in range(devices)
            )
            print(n, flush=True)  # only after write_states returned, i.e. committed


if __name__ == "__main__":
    main()

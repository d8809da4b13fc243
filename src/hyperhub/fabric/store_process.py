"""The store writer process: `BatchWriter` runs this to write SQLite off the hub's GIL.

    python -m hyperhub.fabric.store_process '{"path": "/…/hyperhub.db", "synchronous": "NORMAL"}'

It opens the store, answers `READY`, then reads requests from stdin until EOF and answers
each one on stdout, in order. A frame is a 4-byte big-endian length and a pickle:

- request `(seq, "states", [(device_id, state, changed, ts), …])`: one `write_states`;
- request `(seq, "call", (method, args))`: one `StateStore` write method (`CALLS`);
- answer `(seq, True, result)` or `(seq, False, "why")` (a failed write is answered, the
  process goes on); seq 0 is the answer to opening the store.

Pickle is safe here: both ends are the hub and its own child, over private pipes. The child
ignores SIGINT (a Ctrl-C at the terminal reaches the whole process group; the hub stops it in
order) and exits once stdin closes, after writing what it got: a hub that dies leaves no
writer behind. Anything else it prints goes to stderr, which the hub logs.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import pickle
import signal
import struct
import sys
from typing import IO, Any

GC_THRESHOLD = 20_000  # as the hub's (`ingest.tune_gc`): each batch is thousands of objects
HEADER = struct.Struct(">I")
READY = 0  # seq of the answer to opening the store
# StateStore methods a request may call: the writes the hub makes besides state batches
CALLS = frozenset(
    {
        "audit",
        "audit_many",
        "set_meta",
        "write_state",
        "write_states",
        "prune_history",
        "prune_audit",
        "write_runs",
        "prune_runs",
    }
)


def frame(obj: object) -> bytes:
    """One frame: length and pickle."""
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


def _read_frame(stream: IO[bytes]) -> Any | None:
    """The next request, or None at EOF."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


def serve(spec: dict[str, Any], requests: IO[bytes], answers: IO[bytes]) -> int:
    """Open the store and answer requests until EOF; the exit code."""
    from hyperhub.errors import StoreError
    from hyperhub.store import StateStore

    def answer(seq: int, ok: bool, value: object) -> None:
        answers.write(frame((seq, ok, value)))
        answers.flush()

    try:
        store = StateStore.open(f"sqlite:///{spec['path']}", synchronous=spec["synchronous"])
    except StoreError as exc:
        answer(READY, False, str(exc))
        return 1
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    with store:
        answer(READY, True, os.getpid())
        while (request := _read_frame(requests)) is not None:
            seq, op, payload = request
            try:
                if op == "states":
                    result: Any = store.write_states(payload)
                elif op == "call" and payload[0] in CALLS:
                    result = getattr(store, payload[0])(*payload[1])
                else:
                    raise StoreError(f"the store writer got an unknown request {op!r}")
            except StoreError as exc:
                answer(seq, False, str(exc))
            except Exception as exc:  # a bug, not the data: say so, and go on
                logging.getLogger("hyperhub.fabric.store").exception("store writer request failed")
                answer(seq, False, f"{type(exc).__name__}: {exc}")
            else:
                answer(seq, True, result)
    return 0


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="store writer: %(levelname)s %(message)s")
    answers = os.fdopen(os.dup(1), "wb")  # the answers get stdout of their own…
    os.dup2(2, 1)  # …and anything printed goes to stderr
    sys.stdout = sys.stderr
    spec = json.loads(sys.argv[1])
    sys.exit(serve(spec, sys.stdin.buffer, answers))


if __name__ == "__main__":
    main()

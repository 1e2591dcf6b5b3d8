"""The entry point a launched run starts with: claim the queued run, then become ``datamake ARGS``.

``python -m datamake.automation.runtime.child DB RUN_KEY ARGS...`` moves the run from ``launching``
to ``running`` with its own pid, atomically, and only then replaces itself (same pid) with
``datamake ARGS``. If the run was already claimed (a daemon killed after starting a child, and its
successor starting it again), it exits without running: a run key runs once.
"""
from __future__ import annotations

import os
import sys
import time

from datamake.automation.runtime.state import State
from datamake.storage.liveness import HOST


def main(argv) -> int:
    db, run_key, args = argv[0], argv[1], argv[2:]
    state = State(db)
    try:
        claimed = state.mark(run_key, "running", expect="launching", pid=os.getpid(), host=HOST, launched=time.time())
    finally:
        state.close()
    if not claimed:
        return 0
    os.execv(sys.executable, [sys.executable, "-m", "datamake", *args])
    return 0  # pragma: no cover - execv does not return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

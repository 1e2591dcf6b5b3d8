"""The ``datamake`` program's entry point: a ``make`` whose up-to-date certificate holds is answered
here, importing almost nothing (:mod:`datamake.shortcut.check`); a ``make`` of plain options runs without
click (:mod:`datamake.cli.quick`); everything else goes to :mod:`datamake.cli.main`."""
from __future__ import annotations

import gc
import os
import sys


def run() -> None:
    """``datamake``: the no-op shortcut when it applies, else the full command line interface."""
    gc.disable()  # start-up builds only long-lived objects (modules, classes): nothing for the collector
    from datamake.shortcut import check

    try:
        done = check.answer(sys.argv[1:])
    except Exception:  # any doubt, even a bug of the shortcut's own: the full path decides
        done = False
    if done:
        sys.stdout.flush()
        return
    from datamake.project import heap  # lazy: what the shortcut avoids loading

    heap.pause_at_start()  # the collector stays off while the command line and its library load
    from datamake.cli import quick  # a make of plain options: run without loading click

    code = quick.run(sys.argv[1:])
    if code is not None:
        end_without_strays(code)
        sys.exit(code)
    from datamake.cli.main import run as full  # lazy: what the shortcut avoids loading

    try:
        full()
    except SystemExit as done:
        end_without_strays(done.code)
        raise


def end_without_strays(code) -> None:
    """End the process now, not waiting for the threads the project's code left running, if any; returns
    when there are none (the interpreter then exits as usual).

    The command's output is printed by then; datamake's own threads (``datamake…``: an automatic push
    finishing) are waited for, the others named in a warning. Only the ``datamake`` program does this: a
    process that calls datamake's API or ``main`` keeps its threads."""
    running = [t for t in _running_threads() if not _pool_thread(t)]
    strays = [t for t in running if not t.name.startswith("datamake")]
    if not strays:
        return
    for own in running:
        if own not in strays:
            own.join()
    names = ", ".join(_described(t) for t in strays)
    print(f"datamake: warning: not waiting for {len(strays)} thread(s) the project's code left running "
          f"({names}): make them daemon threads (threading.Thread(..., daemon=True)) or join them "
          "before the asset returns", file=sys.stderr)
    if "logging" in sys.modules:  # what the project's loggers hold is written, as at a normal exit
        sys.modules["logging"].shutdown()
    if code is not None and not isinstance(code, int):  # sys.exit("message"), as the interpreter prints it
        print(code, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


def _described(thread) -> str:
    """A thread's name, and the asset whose run started it when known."""
    readwatch = sys.modules.get("datamake.execution.readwatch")  # (not loaded: no asset ran here)
    by = readwatch.started_by(thread) if readwatch is not None else None
    return repr(thread.name) + (f" started by {by}" if by else "")


def _running_threads() -> list:
    """The live threads the interpreter would wait for at exit (not daemon, not this one)."""
    import threading

    return [t for t in threading.enumerate()
            if not t.daemon and t is not threading.main_thread() and t.is_alive()]


_POOL_MODULES = ("concurrent.futures", "joblib.externals.loky", "loky")


def _pool_thread(thread) -> bool:
    """A thread of a ``concurrent.futures`` pool or of joblib's loky executor: the interpreter's exit shuts
    its pool down (an idle one at once, its worker processes with it), which ending the process here would
    skip (the workers would outlive ``make``, holding its output open)."""
    target = getattr(thread, "_target", None)
    return any(getattr(x, "__module__", "").startswith(_POOL_MODULES) for x in (type(thread), target))

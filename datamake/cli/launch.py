"""The ``datamake`` program's entry point: a ``make`` whose up-to-date certificate holds is answered
here, importing almost nothing (:mod:`datamake.shortcut.check`); a ``make`` of plain options runs without
click (:mod:`datamake.cli.quick`); everything else goes to :mod:`datamake.cli.main`."""
from __future__ import annotations

import gc
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
        sys.exit(code)
    from datamake.cli.main import run as full  # lazy: what the shortcut avoids loading

    full()

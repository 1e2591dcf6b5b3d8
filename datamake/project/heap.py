"""The garbage collector while planning.

Loading and planning a large project builds a few hundred thousand objects
(definitions, code versions, manifests, facts) and frees almost none of them
before the command ends. CPython's cyclic collector would scan them again and
again as they age (about a third of a no-op ``make`` on 10,000 assets), so
planning runs with the collector paused. A one-shot process such as the
``datamake`` command also *freezes* what planning built: it stays out of the
collector's sight until the process exits. A long-lived process (an API user,
a daemon) must not freeze, or a reloaded project's old objects would never be
collected; it only pauses.

The ``datamake`` program pauses the collector from its start (:func:`pause_at_start`):
importing datamake and its libraries builds only long-lived objects (modules, classes,
functions), which the collector would scan a few times over for nothing (about 4 % of a
cold ``make`` of one asset). The first planning block to end lets it run again.
"""
from __future__ import annotations

import contextlib
import gc
from typing import Iterator

_PAUSED_AT_START = [False]  # the collector is off since start-up, for the first planning block to resume


def pause_at_start() -> None:
    """Pause the collector while a one-shot process imports (the ``datamake`` program, whose collector
    was on when it started); the first :func:`planning` block, or :func:`resume`, lets it run again."""
    gc.disable()
    _PAUSED_AT_START[0] = True


def resume() -> None:
    """End the start-up pause, if there is one (a command that plans nothing, or a long-lived one)."""
    if _PAUSED_AT_START[0]:
        _PAUSED_AT_START[0] = False
        gc.enable()


@contextlib.contextmanager
def planning(freeze: bool = False) -> Iterator[None]:
    """Pause the cyclic collector for the block; with ``freeze``, exempt what it built from later scans."""
    enabled = gc.isenabled() or _PAUSED_AT_START[0]
    _PAUSED_AT_START[0] = False
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if enabled:
            gc.enable()

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
"""
from __future__ import annotations

import contextlib
import gc
from typing import Iterator


@contextlib.contextmanager
def planning(freeze: bool = False) -> Iterator[None]:
    """Pause the cyclic collector for the block; with ``freeze``, exempt what it built from later scans."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if enabled:
            gc.enable()

"""Where datamake keeps machine-local caches and where a project's ``datamake.toml`` is: in a module
of its own, so that the no-op shortcut finds both without importing the layers that use them."""
from __future__ import annotations

import os


def cache_dir() -> str:
    """Where datamake keeps machine-local caches (``DATAMAKE_CACHE_DIR``, else the XDG cache)."""
    base = os.environ.get("DATAMAKE_CACHE_DIR")
    if base:
        return base
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "datamake")


CONFIG_NAME = "datamake.toml"


def nearest_config(start: str) -> "str | None":
    """``start`` itself if it is a file, else the nearest ``datamake.toml`` in it or its parents (None: none)."""
    here = os.path.abspath(start)
    if os.path.isfile(here):
        return here
    while True:
        candidate = os.path.join(here, CONFIG_NAME)
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent

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


def keep_newest(entries: "list[os.DirEntry]", keep: int) -> int:
    """Remove all but the ``keep`` most recently written of the cache files ``entries``; returns how many
    went. Caches are speed-ups only: what goes is computed again when next needed."""
    if len(entries) <= keep:
        return 0
    removed = 0
    for entry in sorted(entries, key=_written, reverse=True)[keep:]:
        try:
            os.remove(entry.path)
            removed += 1
        except OSError:  # gone already (another process), or not ours to remove: left alone
            pass
    return removed


def _written(entry: os.DirEntry) -> float:
    """When a cache file was last written; one another process removed meanwhile sorts as the oldest."""
    try:
        return entry.stat(follow_symlinks=False).st_mtime
    except OSError:
        return float("-inf")


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

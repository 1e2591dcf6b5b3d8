"""After ``make``: each ``@asset(path=...)`` of the scope gets its current value at its path.

A per-project cache (beside the code-version cache) remembers what a stat said of
each copy once it was known to hold an artifact, so a no-op ``make`` does not hash
large workspace copies again.
"""
from __future__ import annotations

import os
from typing import Dict, Iterable, List

from datamake.checkout.place import place_stored, signature
from datamake.core.hashing import hash_value
from datamake.storage.localfiles import cache_dir, read_json_cache, write_json_cache


def check_out(store, assets: Iterable, directory: str) -> List[str]:
    """Place the current value of each asset with a ``path`` in ``directory``.

    Returns the paths written (those already up to date are left alone). Assets
    never materialized are skipped: there is nothing to place.
    """
    wanted = [a for a in assets if a.path]
    manifests = store.read_manifests([a.key for a in wanted]) if wanted else {}
    cache_path = os.path.join(cache_dir(), f"workspace-{hash_value('project', directory)[:16]}.json")
    known: Dict[str, list] = read_json_cache(cache_path)
    before = dict(known)
    written = []
    for a in wanted:
        manifest = manifests.get(a.key)
        if manifest is None:
            continue
        target = os.path.join(directory, a.path)
        if known.get(a.path) == [manifest.artifact, signature(target)]:
            continue  # unchanged since it was known to hold this artifact
        if place_stored(lambda m=manifest: store.open_value(m), manifest.artifact,
                        manifest.io_manager == "folder", target):
            written.append(a.path)
        known[a.path] = [manifest.artifact, signature(target)]
    if known != before:
        write_json_cache(cache_path, known)
    return written

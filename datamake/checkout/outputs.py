"""After ``make``: each ``@asset(path=...)`` of the scope gets its current value at its path."""
from __future__ import annotations

import os
from typing import Iterable, List

from datamake.checkout.place import place_stored


def check_out(store, assets: Iterable, directory: str) -> List[str]:
    """Place the current value of each asset with a ``path`` (unpartitioned) in ``directory``.

    Returns the paths written (those already up to date are left alone). Assets
    never materialized are skipped: there is nothing to place.
    """
    wanted = [a for a in assets if a.path and a.partitions is None]
    manifests = store.read_manifests([a.key for a in wanted]) if wanted else {}
    written = []
    for a in wanted:
        manifest = manifests.get(a.key)
        if manifest is None:
            continue
        target = os.path.join(directory, a.path)
        if place_stored(lambda m=manifest: store.open_artifact(m.artifact), manifest.artifact,
                        manifest.io_manager == "folder", target):
            written.append(a.path)
    return written

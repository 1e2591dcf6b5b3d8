"""Garbage collection of packs: which entries are current, which are kept, and merging packs into one.

A pack entry is kept while it is a node's current version, while its
(key, code version) is pinned, or while its pack is younger than the
retention period; ``gc`` then writes the kept entries as one new pack and
deletes the packs it read, so that a fresh checkout reads one object. Nothing
is deleted while a writer holds a lease (see :mod:`datamake.storage.gc`).
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Set, Tuple

from datamake.core.keys import node_id
from datamake.core.manifest import Manifest
from datamake.storage import packs
from datamake.storage.store import Store


def winners(packed: List[packs.Pack], object_times: Mapping[str, float]) -> List[Manifest]:
    """The current versions that packs hold: a node's newest pack entry, unless a per-asset manifest
    object (``object_times``: node -> when it was written) is newer."""
    newest: Dict[str, Tuple[Manifest, float]] = {}
    for pack in packed:  # oldest first: later packs win
        for m in pack.manifests:
            newest[node_id(m.key, m.partition)] = (m, pack.modified)
    return [m for node, (m, when) in newest.items() if object_times.get(node, float("-inf")) <= when]


def sweep(packed: List[packs.Pack], keep_provenances: Set[str], keep_artifacts: Set[str],
          pins: Mapping[str, str], cutoff: float) -> Tuple[List[Manifest], List[str], int]:
    """``(kept, doomed, total)``: the entries kept, the doomed ones (``PACK#PROVENANCE``) and how many
    distinct entries the packs hold.

    Adds the artifacts of kept entries to ``keep_artifacts``.
    """
    entries: Dict[str, Tuple[Manifest, float, str]] = {}
    for pack in packed:
        for m in (*pack.actions, *pack.manifests):
            entries[m.provenance] = (m, pack.modified, pack.path)
    kept, doomed = [], []
    for provenance, (m, when, path) in entries.items():
        if provenance in keep_provenances or pins.get(m.key) == m.code_version or when >= cutoff:
            keep_artifacts.add(m.artifact)
            kept.append(m)
        else:
            doomed.append(f"{path}#{provenance}")
    return kept, doomed, len(entries)


def merge(store: Store, packed: List[packs.Pack], current: List[Manifest], kept: List[Manifest]) -> List[str]:
    """Write ``current`` and ``kept`` as one pack; returns the packs it replaces (to delete next)."""
    current_provenances = {m.provenance for m in current}
    path = packs.write(store, current, [m for m in kept if m.provenance not in current_provenances])
    return [p.path for p in packed if p.path != path]

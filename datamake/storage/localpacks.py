"""A run's manifests committed in batches: one pack file per batch of built assets in a local store.

Creating a file costs far more than anything else a trivial asset needs (a fraction of a
millisecond to milliseconds on a busy disk), so ``make`` on a local store commits the
manifests of the assets it builds in batches: each batch is one pack (the format of
:mod:`datamake.storage.packs`: ``packs/<xxh3-128 of the bytes>.json``, written under a
temporary name and renamed into place, so it is whole or absent), holding each manifest
as the current version of its node and as the action-cache entry of its provenance.

Per-asset files (``manifests/KEY.json``, ``actions/…``, written by earlier versions, by
``pull`` and for partitions) are read as before. Of a node's versions, the one in the more
recently written file wins (a pack's modification time against the manifest file's; on a
tie the pack's; two packs of the same tick by the time their writers recorded), as for a
remote. A pack that fails its hash check is reported and never trusted: its assets are
rebuilt. ``gc`` merges a store's packs into one (:mod:`datamake.storage.packgc`).
"""
from __future__ import annotations

import os
import threading
import time
from typing import Dict, Iterable, List, Optional, Tuple

from datamake.core.hashing import hash_bytes
from datamake.core.keys import node_id
from datamake.core.manifest import Manifest
from datamake.storage.packs import FOLDER, CorruptPack, decode, encode

Order = Tuple[int, float, str]  # (mtime_ns of the pack, the time its writer recorded, its path)


class LocalPacks:
    """The packs of one local store folder, read once and then only the new ones: entries by node and provenance."""

    def __init__(self, root: str):
        self.folder = f"{root}/{FOLDER}"
        self._lock = threading.Lock()
        self._seen: Dict[str, int] = {}  # pack path -> its mtime_ns
        self.newest: Dict[str, Tuple[Manifest, Order]] = {}  # node -> its newest version in a pack
        self.actions: Dict[str, Manifest] = {}  # provenance -> entry
        self.warnings: List[str] = []

    def refresh(self) -> "LocalPacks":
        """Take in the packs written since the last look (one listing); start over when one was removed
        (``gc`` merged it into a newer one)."""
        with self._lock:
            for _attempt in range(5):
                try:
                    names = os.listdir(self.folder)
                except OSError:  # no packs (yet)
                    names = []
                listed = {f"{self.folder}/{n}" for n in names if n.endswith(".json")}
                if not set(self._seen) <= listed:
                    self._reset()
                if all(self._take(path) for path in sorted(listed - set(self._seen))):
                    break
                self._reset()  # a listed pack vanished before it was read: merged since, list again
        return self

    def _reset(self) -> None:
        self._seen.clear()
        self.newest.clear()
        self.actions.clear()

    def _take(self, path: str) -> bool:
        """Read one pack; False when it is gone."""
        try:
            with open(path, "rb") as f:
                mtime_ns = os.fstat(f.fileno()).st_mtime_ns
                raw = f.read()
        except FileNotFoundError:
            return False
        try:
            pack = decode(path, raw, mtime_ns / 1e9)
        except CorruptPack as exc:
            self.warnings.append(f"ignoring corrupt pack {path} ({exc}); its assets will be rebuilt")
            self._seen[path] = mtime_ns
            return True
        self.add(path, mtime_ns, pack.written, pack.manifests, pack.actions)
        return True

    def add(self, path: str, mtime_ns: int, written: float, manifests: Iterable[Manifest],
            actions: Iterable[Manifest] = ()) -> None:
        """Take in the entries of a pack (read, or just written here)."""
        self._seen[path] = mtime_ns
        order = (mtime_ns, written, path)
        for m in actions:
            self.actions.setdefault(m.provenance, m)
        for m in manifests:
            self.actions[m.provenance] = m
            node = node_id(m.key, m.partition)
            known = self.newest.get(node)
            if known is None or known[1] < order:
                self.newest[node] = (m, order)

    def current(self, node: str, file_mtime_ns: Optional[int]) -> Optional[Manifest]:
        """The node's pack version if it is newer than its manifest file (``file_mtime_ns``; None: no file)."""
        known = self.newest.get(node)
        if known is None or (file_mtime_ns is not None and file_mtime_ns > known[1][0]):
            return None
        return known[0]


def write_batch(files, root: str, manifests: List[Manifest]) -> Tuple[str, int, float]:
    """Write ``manifests`` as one pack through ``files`` (:class:`LocalFiles`); returns (path, mtime_ns, written)."""
    written = time.time()
    raw = encode(manifests, written=written)
    path = f"{root}/{FOLDER}/{hash_bytes(raw)}.json"
    files.write(path, raw)
    return path, os.stat(path).st_mtime_ns, written


__all__ = ["LocalPacks", "write_batch"]

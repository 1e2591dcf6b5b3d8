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

import contextlib
import os
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple, Union

from datamake.core.keys import node_id
from datamake.core.manifest import Manifest
from datamake.storage.packs import FOLDER, CorruptPack, NewerPack, Texts, decode_body, encode, pack_path

Order = Tuple[int, float, str]  # (mtime_ns of the pack, the time its writer recorded, its path)
Entry = Union[Manifest, Dict[str, Any]]  # a manifest, or its JSON values until it is first asked for


def corrupt_pack_fix(path: str, exc: Optional[CorruptPack] = None) -> str:
    """How to be rid of a corrupt local pack: nothing reads it, so once its assets are rebuilt, deleting it
    loses nothing. One a newer datamake wrote (:class:`NewerPack`) is kept for that datamake."""
    if isinstance(exc, NewerPack):
        return "`datamake make` rebuilds its assets here; upgrade datamake to use it"
    return f"`datamake make` rebuilds its assets; then delete it (rm {path})"


class LocalPacks:
    """The packs of one local store folder, read once and then only the new ones: entries by node and provenance.

    An entry is parsed into a :class:`Manifest` when it is first asked for: versions that newer ones
    replaced cost a ``make`` or ``status`` only their share of decoding the pack's JSON."""

    def __init__(self, root: str):
        self.root = root
        self.folder = f"{root}/{FOLDER}"
        self._lock = threading.Lock()
        self._seen: Dict[str, int] = {}  # pack path -> its mtime_ns
        self.newest: Dict[str, Tuple[Entry, Order]] = {}  # node -> its newest version in a pack
        self.actions: Dict[str, Entry] = {}  # provenance -> entry
        self.warnings: List[str] = []
        self.corrupt: Set[str] = set()  # packs that failed their check: never merged, never deleted here
        self.latest_written = 0.0  # the newest writer's clock among the packs taken in
        self.texts: Texts = {}  # the JSON text of each entry this process encoded (a merge reuses it)

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
        self.corrupt.clear()
        self.latest_written = 0.0
        self.newest.clear()
        self.actions.clear()
        self.texts.clear()

    def _take(self, path: str) -> bool:
        """Read one pack; False when it is gone."""
        try:
            with open(path, "rb") as f:
                mtime_ns = os.fstat(f.fileno()).st_mtime_ns
                raw = f.read()
        except FileNotFoundError:
            return False
        try:
            body, written = decode_body(path, raw)
            self._add(path, mtime_ns, written, body["manifests"], body["actions"])
        except CorruptPack as exc:
            what = "pack" if isinstance(exc, NewerPack) else "corrupt pack"
            self.warnings.append(f"ignoring {what} {path} ({exc}); {corrupt_pack_fix(path, exc)}")
            self._seen[path] = mtime_ns
            self.corrupt.add(path)
        return True

    def add(self, path: str, mtime_ns: int, written: float, manifests: Iterable[Manifest]) -> None:
        """Take in a pack this process has just written."""
        with self._lock:
            self._add(path, mtime_ns, written, manifests)

    def _add(self, path: str, mtime_ns: int, written: float, manifests: Iterable[Entry],
             actions: Iterable[Entry] = ()) -> None:
        self._seen[path] = mtime_ns
        self.latest_written = max(self.latest_written, written)
        order = (mtime_ns, written, path)
        try:
            for m in actions:
                self.actions.setdefault(_field(m, "provenance"), m)
            for m in manifests:
                provenance, key, partition = _identity(m)
                self.actions[provenance] = m
                node = node_id(key, partition)
                known = self.newest.get(node)
                if known is None or known[1] < order:
                    self.newest[node] = (m, order)
        except (AttributeError, TypeError, ValueError) as exc:  # not manifests: a writer's bug
            raise CorruptPack(f"an entry is not a manifest ({exc})") from None

    def current(self, node: str, file_mtime_ns: Optional[int]) -> Optional[Manifest]:
        """The node's pack version if it is newer than its manifest file (``file_mtime_ns``; None: no file)."""
        known = self.newest.get(node)
        if known is None or (file_mtime_ns is not None and file_mtime_ns > known[1][0]):
            return None
        manifest = self._parsed(known[0])
        if manifest is not known[0]:
            self.newest[node] = (manifest, known[1]) if manifest is not None else known
        return manifest

    def action(self, provenance: str) -> Optional[Manifest]:
        """The action-cache entry of ``provenance`` in a pack, if any."""
        entry = self.actions.get(provenance)
        manifest = None if entry is None else self._parsed(entry)
        if manifest is not None:
            self.actions[provenance] = manifest
        return manifest

    def _parsed(self, entry: Entry) -> Optional[Manifest]:
        if isinstance(entry, Manifest):
            return entry
        try:
            return Manifest.from_data(entry)
        except (ValueError, TypeError, AttributeError) as exc:
            self.warnings.append(f"ignoring an unreadable manifest of {entry.get('key')!r} in a pack ({exc}); "
                                 "the asset will be rebuilt")
            return None


    def merge(self, files, file_mtime_ns: Callable[[str], Optional[int]]) -> List[str]:
        """Write the good packs taken in as one and delete them; returns the packs it replaced.

        The merged pack holds each node's current version (its newest pack entry, unless its manifest
        file is newer: ``file_mtime_ns(node)``, None without a file) and every other entry as an action
        entry. It is dated as the newest pack it replaces (its modification time and writer's clock),
        so a pack or manifest file written meanwhile by another process still reads as newer."""
        with self._lock:
            good = sorted(p for p in self._seen if p not in self.corrupt)
            if len(good) < 2:
                return []
            newest_ns = max(self._seen[p] for p in good)
            current = {node: entry for node, (entry, order) in self.newest.items()
                       if order[2] not in self.corrupt and not _file_newer(file_mtime_ns(node), order[0])}
            provenances = {_field(e, "provenance") for e in current.values()}
            actions = [e for prov, e in self.actions.items() if prov not in provenances]
            raw = encode(current.values(), actions, written=self.latest_written, texts=self.texts)
            path = pack_path(self.root, raw)
            files.write(path, raw, mtime_ns=newest_ns)
            replaced = [p for p in good if p != path]
            for old in replaced:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(old)
            self._reset()
        return replaced


def _file_newer(file_ns: Optional[int], pack_ns: int) -> bool:
    return file_ns is not None and file_ns > pack_ns


def _identity(entry: Entry) -> Tuple[str, str, Optional[str]]:
    """(provenance, key, partition) of an entry, read at once (:func:`_field` of each)."""
    if isinstance(entry, Manifest):
        return entry.provenance, entry.key, entry.partition
    return entry["provenance"], entry["key"], entry.get("partition")


def _field(entry: Entry, name: str) -> Any:
    return getattr(entry, name) if isinstance(entry, Manifest) else entry[name] if name != "partition" \
        else entry.get(name)


def write_batch(files, root: str, manifests: List[Manifest], texts: Optional[Texts] = None) -> Tuple[str, int, float]:
    """Write ``manifests`` as one pack through ``files`` (:class:`LocalFiles`); returns (path, mtime_ns, written).
    ``texts`` keeps their JSON text for a later merge (:meth:`LocalPacks.merge`)."""
    written = time.time()
    raw = encode(manifests, written=written, texts=texts)
    path = pack_path(root, raw)
    files.write(path, raw)
    return path, os.stat(path).st_mtime_ns, written


__all__ = ["LocalPacks", "corrupt_pack_fix", "write_batch"]

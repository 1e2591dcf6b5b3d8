"""The store: content-addressed artifacts, current manifests and the action cache, on fsspec.

Layout under the root URL::

    artifacts/ab/abcdef…     immutable bytes, named by their xxh3-128 content hash (values of at
                             most ``INLINE_LIMIT`` bytes are kept in their manifest instead)
    manifests/KEY.json       the current manifest of each asset (the commit point)
    actions/12/1234….json    action cache: provenance -> manifest
    packs/<hash>.json        manifests committed in one batch, each also an action entry
                             (a local ``make``: :mod:`datamake.storage.localpacks`)
    tmp/                     writes in progress; never read as state

An artifact is written under a temporary name and moved into place once its
hash is known; the manifest is replaced last, atomically. A reader therefore
sees either the old manifest with its old artifact or the new pair, and a
killed writer leaves only files under ``tmp/``.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, Tuple

from datamake.core.hashing import hash_bytes
from datamake.core.keys import node_id, split_node
from datamake.core.urlquote import quote
from datamake.core.manifest import Manifest, NewerManifest
from datamake.storage.artifacts import BATCH_LISTING_THRESHOLD, ArtifactStore, CorruptArtifactError
from datamake.storage.localpacks import LocalPacks, write_batch
from datamake.storage.localfiles import read_whole
from datamake.storage.packs import newer_manifest

if TYPE_CHECKING:  # a make that builds reads no index of manifest files: loaded where first used
    from datamake.storage.manifest_index import ManifestIndex

__all__ = ["BatchError", "CorruptArtifactError", "Store"]

_quoted = functools.lru_cache(maxsize=1 << 16)(lambda partition: quote(partition, safe=""))


class BatchError(OSError):
    """A batch of committed manifests could not be written: none of ``nodes`` is recorded."""

    def __init__(self, nodes: List[str], error: OSError):
        super().__init__(f"{type(error).__name__}: {error}")
        self.nodes = nodes
        self.error = error


MERGE_PACKS_AT = 16  # packs in a local store past which the run that wrote one merges them all
KEEP_REPLACED = 64  # replaced partition manifests of one asset kept in memory per run, at most (past it the
# asset's kept summary is merged in full, see datamake.bulkstatus.extend)

REBUILT = "the asset will be rebuilt"  # what make does with an asset whose current manifest cannot be read


class Store(ArtifactStore):
    """Artifacts (see :class:`ArtifactStore`), current manifests and the action cache under one fsspec URL."""

    def __init__(self, url: str, storage_options: Optional[Mapping[str, Any]] = None):
        super().__init__(url, storage_options)
        self.warnings: List[str] = []
        self._manifest_index: Optional[ManifestIndex] = None
        self._parsed: Optional[Dict[str, Tuple[Any, Manifest]]] = None  # path -> (text, manifest), when kept
        self._packs: Optional[LocalPacks] = None
        self._wrote_packs = False  # this process wrote a batch: at its end, merge if too many have piled up
        self._batch: Optional[Dict[str, Manifest]] = None  # node -> manifest committed, not yet written
        self._batch_actions: Dict[str, Manifest] = {}
        self.batch_started = 0.0  # time.monotonic() of the first manifest in the batch
        self._batch_lock = threading.Lock()
        self._action_files: Optional[bool] = None  # whether actions/ exists (local stores), once looked at
        self._files_read: set = set()  # nodes whose manifest file this process read (a batch supersedes it)
        self._newer_files: set = set()  # paths of the current manifests read that a newer datamake wrote
        self.unreadable: Dict[str, str] = {}  # node -> why its current manifest file could not be used
        # key -> ((mtime_ns, inode) of its folder of partition manifests before this process first wrote
        # into it, None without a folder; {partition: (inode of the manifest file written, (inode, bytes) of
        # the one it replaced, None without one, False past KEEP_REPLACED)}), local stores
        self.partition_writes: Dict[str, Tuple[Optional[Tuple[int, int]], Dict[str, Tuple[int, Any]]]] = {}

    def keep_parsed_manifests(self) -> None:
        """Remember each manifest parsed, keyed by its path and text, for a long-lived process (the daemon,
        the web UI) that reads the same manifests again and again: an unchanged text is not parsed twice."""
        if self._parsed is None:
            self._parsed = {}
        if self.is_local:
            self.manifest_index.keep_in_memory()

    @property
    def manifest_index(self) -> ManifestIndex:
        """The local index of manifest files (local stores only), kept beside the artifact record."""
        if self._manifest_index is None:
            from datamake.storage.manifest_index import ManifestIndex  # lazy: a cold build never reads it

            self._manifest_index = ManifestIndex(f"{self.root}/state.sqlite", f"{self.root}/manifests")
        return self._manifest_index

    # -- paths ---------------------------------------------------------------
    def manifest_path(self, node: str) -> str:
        """Where the current manifest of a node (``key`` or ``key[partition]``) lives."""
        key, partition = split_node(node)
        if partition is None:
            return f"{self.root}/manifests/{key}.json"
        return f"{self.root}/manifests/{key}/@partitions/{_quoted(partition)}.json"

    def partition_manifest_paths(self, key: str, partitions: Iterable[str]) -> List[str]:
        """:meth:`manifest_path` of each partition of ``key``: all in the folder ``{key}/@partitions`` of the manifests."""
        folder = f"{self.root}/manifests/{key}/@partitions"
        return [f"{folder}/{_quoted(pk)}.json" for pk in partitions]

    def action_path(self, provenance: str) -> str:
        return f"{self.root}/actions/{provenance[:2]}/{provenance}.json"

    # -- writing -------------------------------------------------------------
    def _atomic_write(self, path: str, data: bytes) -> None:
        if self.is_local:
            self._action_files = True  # (when it is an action entry: looked for from now on)
            self.files.write(path, data)
        else:  # a single PUT is atomic on object stores
            self.fs.pipe_file(path, data)

    def write_small(self, path: str, data: bytes) -> None:
        """Atomically replace a small file under the root (bookkeeping, not artifacts)."""
        self._atomic_write(path, data)

    def commit(self, manifest: Manifest) -> None:
        """Record ``manifest`` in the action cache, then make it current (the commit point).

        Between :meth:`begin_batch` and :meth:`flush`, a local store keeps a manifest without a
        partition for the next batch: it is current for this process at once, for others once flushed."""
        if self._batch is not None and manifest.partition is None:
            with self._batch_lock:
                if not self._batch:
                    self.batch_started = time.monotonic()
                self._batch[manifest.key] = manifest
                self._batch_actions[manifest.provenance] = manifest
            return
        data = manifest.to_json()
        action = self.action_path(manifest.provenance)
        current = self.manifest_path(node_id(manifest.key, manifest.partition))
        if self._newer_files:
            self.keep_newer(current)
        if self.is_local:  # one file, linked as the action entry first
            self._action_files = True
            if manifest.partition is None:
                self.files.write_linked(action, current, data)
                return
            writes = self.partition_writes.get(manifest.key)
            if writes is None:  # the folder as it was before this process's first write into it
                writes = self.partition_writes[manifest.key] = (_folder_stat(os.path.dirname(current)), {})
            old = _inode_and_bytes(current) if len(writes[1]) < KEEP_REPLACED else False
            writes[1][manifest.partition] = (self.files.write_linked(action, current, data), old)
            return
        self._atomic_write(action, data)
        self._atomic_write(current, data)

    def begin_batch(self) -> None:
        """Commit manifests in batches from now on (local stores; see :mod:`datamake.storage.localpacks`),
        unless ``DATAMAKE_BATCH_COMMITS=0`` asks for one manifest file per asset, as earlier versions wrote."""
        if self.is_local and self._batch is None and os.environ.get("DATAMAKE_BATCH_COMMITS", "") != "0":
            self._batch = {}

    @property
    def batched(self) -> Optional[int]:
        """How many committed manifests wait for :meth:`flush` (None: not batching)."""
        batch = self._batch
        return None if batch is None else len(batch)

    def flush(self, end: bool = False) -> List[str]:
        """Write the manifests committed since the last flush as one pack (any thread); ``end``: stop
        batching. Returns the nodes written. On an error (a full disk, a read-only store) none of them
        is recorded and :class:`BatchError` names them."""
        with self._batch_lock:  # held while writing: the batch stays readable until its pack is
            batch = self._batch
            if not batch:
                self._batch = None if end else batch
                if end and self._wrote_packs:
                    self._merge_packs_if_many()
                return []
            try:
                manifests = list(batch.values())
                path, mtime_ns, written = write_batch(self.files, self.root, manifests, self.local_packs.texts)
                self.local_packs.add(path, mtime_ns, written, manifests)
                self._wrote_packs = True
            except OSError as exc:
                raise BatchError(list(batch), exc) from exc
            finally:
                self._batch, self._batch_actions = (None if end else {}), {}
            if end:
                self._merge_packs_if_many()
        for node in self._files_read.intersection(batch):  # older than the pack: now only in the way
            path = self.manifest_path(node)
            if self._newer_files:
                self.keep_newer(path)
            with contextlib.suppress(OSError):
                os.unlink(path)
        return list(batch)

    def keep_newer(self, current: str) -> None:
        """Before the manifest file at ``current`` is replaced or removed: if a newer datamake wrote it, keep its
        bytes as the action-cache entry of the provenance it names (where that datamake looks a value up), so
        that replacing it with this datamake's own loses nothing of theirs; ``gc`` never deletes it here."""
        if current not in self._newer_files:
            return
        self._newer_files.discard(current)
        try:
            raw = self.fs.cat_file(current)
            if not newer_manifest(raw):  # (replaced since it was read: by this datamake's own)
                return
            kept = self._keep_as_entry(raw)
        except FileNotFoundError:
            return
        except OSError as exc:
            self.warnings.append(f"could not keep the manifest at {current} that a newer datamake wrote ({exc})")
            return
        self.warnings.append(f"the manifest at {current} that a newer datamake wrote is kept, as the "
                             f"action-cache entry {kept}: upgrade datamake to use it")

    def _keep_as_entry(self, raw: bytes) -> str:
        """Where the bytes ``raw`` of a newer datamake's manifest now are kept as an action-cache entry: that
        of the provenance they name, or, when another entry holds that name, one named by their hash."""
        for provenance in (_provenance_named(raw), hash_bytes(raw)):
            path = self.action_path(provenance)
            try:
                held = self.fs.cat_file(path)
            except FileNotFoundError:
                self._atomic_write(path, raw)
                return path
            if held == raw:
                return path
        return path  # (both taken: the second holds a manifest of the same hash, these very bytes)

    def _merge_packs_if_many(self) -> None:
        """After a run that wrote packs: merge the store's packs into one once more than
        :data:`MERGE_PACKS_AT` have piled up, so that every later command reads a few files, not one
        per past run. A merge that fails leaves the packs as they were (it only costs reading them)."""
        try:
            if len(os.listdir(f"{self.root}/packs")) <= MERGE_PACKS_AT:
                return
            packs = self.local_packs.refresh()
            has_files = os.path.isdir(f"{self.root}/manifests")
            packs.merge(self.files, lambda node: _mtime_ns(self.manifest_path(node)) if has_files else None)
        except OSError as exc:
            self.warnings.append(f"could not merge the packs of {self.root} ({exc}); they are read as they are")

    @property
    def local_packs(self) -> LocalPacks:
        """The packs of a local store (what batched commits wrote), read on first use."""
        if self._packs is None:
            self._packs = LocalPacks(self.root).refresh()
        return self._packs

    def remove_manifest(self, key: str) -> None:
        try:
            self.fs.rm_file(self.manifest_path(key))
        except FileNotFoundError:
            pass

    # -- reading -------------------------------------------------------------
    def read_manifests(self, keys: Iterable[str], instead: str = REBUILT) -> Dict[str, Optional[Manifest]]:
        """The current manifest of each key (None where there is none), read in one batch; the warning about
        one that cannot be read ends saying what the command does ``instead``."""
        keys = list(keys)
        paths = {self.manifest_path(k): k for k in keys}
        result: Dict[str, Optional[Manifest]] = dict.fromkeys(keys)
        if not self.is_local and len(keys) >= BATCH_LISTING_THRESHOLD:
            found = self.objects.cat_listed(list(paths), f"{self.root}/manifests")
        elif self.is_local:  # no folder (a store of batched commits only): no stat per asset
            found = self.manifest_index.read(list(paths)) if os.path.isdir(f"{self.root}/manifests") else {}
            self._read_packed(paths, found, result)
        else:
            found = self.objects.cat_many(list(paths))
        parsed = self._parsed
        for path, raw in found.items():
            known = parsed.get(path) if parsed is not None else None
            if known is not None and known[0] == raw:
                result[paths[path]] = known[1]
                continue
            manifest = result[paths[path]] = self._parse_manifest(path, raw, instead, paths[path])
            if parsed is not None and manifest is not None:
                parsed[path] = (raw, manifest)
        if self.unreadable:  # (a long-lived process: one replaced since by a good one)
            for node, manifest in result.items():
                if manifest is not None:
                    self.unreadable.pop(node, None)
        return result

    def _read_packed(self, paths: Dict[str, str], found: Dict[str, Any], result: Dict[str, Optional[Manifest]]) -> None:
        """Take each node's version from the packs (or this process's batch) where that is newer than its
        file, removing the file's text from ``found``."""
        packs = self.local_packs.refresh() if self._packs is not None or self._batch is not None or \
            os.path.isdir(f"{self.root}/packs") else None
        self._files_read.update(paths[p] for p in found)
        batch = self._batch or {}
        if packs is None and not batch:
            return
        for path, node in paths.items():
            pending = batch.get(node)
            if pending is not None:
                found.pop(path, None)
                result[node] = pending
            elif packs is not None and node in packs.newest:
                manifest = packs.current(node, _mtime_ns(path) if path in found else None)
                if manifest is not None:
                    found.pop(path, None)
                    result[node] = manifest
        if packs is not None and packs.warnings:
            self.warnings.extend(packs.warnings)
            packs.warnings.clear()

    def _parse_manifest(self, path: str, raw: bytes, instead: str = REBUILT,
                        node: Optional[str] = None) -> Optional[Manifest]:
        """The manifest in ``raw``, or None with a warning that ends saying what happens ``instead`` (and, for
        the current manifest of ``node``, why it is not used, in :attr:`unreadable`)."""
        try:
            return Manifest.from_json(raw)
        except ValueError as exc:
            if node is not None:
                self.unreadable[node] = str(exc) if isinstance(exc, NewerManifest) else f"its file is damaged ({exc})"
            if isinstance(exc, NewerManifest) and path.startswith(f"{self.root}/manifests/"):
                self._newer_files.add(path)  # kept when this datamake replaces it (keep_newer)
            self.warnings.append(f"ignoring unreadable manifest {path} ({exc}); {instead}")
            return None

    def lookup_action(self, provenance: str) -> Optional[Manifest]:
        """The manifest recorded for ``provenance`` if its artifact is still there."""
        if self.is_local:
            manifest = self._batch_actions.get(provenance) or self.local_packs.action(provenance)
            if manifest is not None:
                return manifest if self.value_intact(manifest) else None
            if self._action_files is None:  # a store made by batched commits only has none: no open per asset
                self._action_files = os.path.isdir(f"{self.root}/actions")
            if not self._action_files:
                return None
            path = self.action_path(provenance)
            raw = _read_file(path)  # no fsspec for one local file
        else:
            path = self.action_path(provenance)
            raw = self.objects.cat_many([path]).get(path)
        if raw is None:
            return None
        manifest = self._parse_manifest(path, raw)
        if manifest is None or not self.value_intact(manifest):
            return None
        return manifest


def _provenance_named(raw: bytes) -> str:
    """The provenance a manifest of a newer format names, when it is a plain name; else the hash of its bytes."""
    provenance = json.loads(raw).get("provenance")
    if type(provenance) is str and provenance.isalnum() and 8 <= len(provenance) <= 128:
        return provenance
    return hash_bytes(raw)


def _inode_and_bytes(path: str) -> Any:
    """``(inode, bytes)`` of a file, None where there is none, False where it cannot be read."""
    try:
        with open(path, "rb") as f:
            return os.fstat(f.fileno()).st_ino, f.read()
    except FileNotFoundError:
        return None
    except OSError:
        return False


def _folder_stat(path: str) -> Optional[Tuple[int, int]]:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_ino


def _mtime_ns(path: str) -> Optional[int]:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _read_file(path: str) -> Optional[bytes]:
    try:
        return read_whole(path)
    except FileNotFoundError:
        return None

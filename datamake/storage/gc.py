"""Garbage collection: delete artifacts and action-cache entries that nothing references any more.

Kept, whatever their age:

* every current manifest (``manifests/``, or in a pack: see :mod:`datamake.storage.packs`),
  its action-cache entry and its artifact;
* action-cache entries whose (key, code version) is pinned in this project's
  ``datamake.pins.toml``, and their artifacts;
* everything younger than the retention period (default 7 days), and the
  artifacts that kept action-cache entries point at.

What may still be written is never deleted: on a local store ``gc`` holds the
store lock that ``make`` holds (it waits for a running ``make``); on an object
store, writers (``push``, automatic pushes, ``make`` on a bucket store) hold a
*lease* (``leases/ID.json``) for as long as they write, and ``gc`` deletes
nothing while a live lease exists. A lease whose holder died on this host is
ignored; one from another host expires after :data:`LEASE_TTL` seconds.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

from datamake.core.keys import node_id
from datamake.core.manifest import FORMAT as MANIFEST_FORMAT, Manifest, NewerManifest
from datamake.storage.liveness import HOST, process_gone
from datamake.storage.localpacks import corrupt_pack_fix
from datamake.storage.objects import modified_time
from datamake.storage import packgc, packs
from datamake.storage.store import Store
from datamake.core.errors import DatamakeError, StoreError
from datamake.storage.lock import store_lock

DEFAULT_RETENTION = 7 * 86400.0
LEASE_TTL = 24 * 3600.0


# -- leases (object stores) -------------------------------------------------------
class Lease:
    """A marker that a writer is at work on an object store: ``gc`` defers while one is live."""

    def __init__(self, store: Store, command: str):
        self.store = store
        self.command = command
        self.path = f"{store.root}/leases/{uuid.uuid4().hex}.json"
        self.held = False

    def acquire(self) -> "Lease":
        if not self.store.is_local:
            body = {"command": self.command, "pid": os.getpid(), "host": HOST, "started": time.time()}
            self.store.fs.pipe_file(self.path, json.dumps(body).encode())
            self.held = True
        return self

    def release(self) -> None:
        if self.held:
            self.held = False
            try:
                self.store.fs.rm_file(self.path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> "Lease":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def live_leases(store: Store, now: Optional[float] = None) -> List[Dict[str, Any]]:
    """The leases of writers that may still be at work on ``store`` (object stores only)."""
    if store.is_local:
        return []
    now = time.time() if now is None else now
    live = []
    for path, raw in store.objects.cat_many(list(store.objects.files_under(f"{store.root}/leases"))).items():
        try:
            lease = json.loads(raw)
        except ValueError:
            lease = {}
        if not isinstance(lease, dict):  # valid JSON of another shape: as unreadable as garbage
            lease = {}
        if _lease_is_live(lease, now):
            live.append({**lease, "path": path})
    return live


def _lease_is_live(lease: Mapping[str, Any], now: float) -> bool:
    started = lease.get("started")
    if not isinstance(started, (int, float)) or now - started > LEASE_TTL:
        return False
    return not process_gone(lease.get("host"), lease.get("pid"))


@contextlib.contextmanager
def writing(store: Store, command: str) -> Iterator[None]:
    """Hold a lease on ``store`` while a block writes to it (nothing to do for a local store)."""
    lease = Lease(store, command).acquire()
    try:
        yield
    finally:
        lease.release()


# -- collection ------------------------------------------------------------------
@dataclass
class GcReport:
    """What ``gc`` deleted (or, with ``dry_run``, would delete)."""

    store: str
    dry_run: bool
    retention: float
    artifacts: List[str] = field(default_factory=list)
    actions: List[str] = field(default_factory=list)
    bytes: int = 0
    kept_artifacts: int = 0
    kept_actions: int = 0
    kept_newer: int = 0  # of the kept entries, those a newer datamake wrote (kept whatever their age)
    tmp_removed: int = 0
    deferred: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return {
            "store": self.store, "dry_run": self.dry_run, "retention_seconds": self.retention,
            "deleted": {"artifacts": len(self.artifacts), "actions": len(self.actions), "bytes": self.bytes},
            "kept": {"artifacts": self.kept_artifacts, "actions": self.kept_actions, "newer": self.kept_newer},
            "tmp_removed": self.tmp_removed, "deferred": self.deferred,
            "artifacts": self.artifacts, "actions": self.actions,
        }


def collect(store: Store, pins: Mapping[str, str], retention: float = DEFAULT_RETENTION,
            dry_run: bool = False, on_wait=None, now: Optional[float] = None) -> GcReport:
    """Delete what no current manifest or pin references and is older than ``retention`` seconds.

    ``pins`` maps asset keys to pinned code versions. On a local store the
    store lock is held throughout (``on_wait(holder)`` is called if a
    ``make`` holds it); on an object store nothing is deleted while a writer
    holds a live lease, and the report says so in ``deferred``.
    """
    report = GcReport(store.url, dry_run, retention)
    if store.is_local:
        with store_lock(store, "datamake gc", on_wait=on_wait):
            _sweep(store, pins, retention, report, time.time() if now is None else now)
        return report
    try:
        leases = live_leases(store)
    except Exception as exc:  # noqa: BLE001 - any transport failure

        if isinstance(exc, DatamakeError):
            raise
        raise StoreError(f"cannot reach the store {store.url}: {str(exc).splitlines()[0][:300]}",
                         hint="check the URL and storage_options in datamake.toml, and that the store is up") from None
    if leases:
        who = ", ".join(f"{lease.get('command', '?')} (pid {lease.get('pid')} on {lease.get('host')})"
                        for lease in leases[:3])
        report.deferred = f"{len(leases)} writer(s) at work on the store: {who}; run it again when they are done"
        return report
    _sweep(store, pins, retention, report, time.time() if now is None else now)
    return report


def _sweep(store: Store, pins: Mapping[str, str], retention: float, report: GcReport, now: float) -> None:
    cutoff = now - retention
    listed = store.objects.files_under(f"{store.root}/manifests")
    newer: List[str] = []
    manifests = _parse_all(store, list(listed), newer)
    if newer:  # what it references cannot be told: a newer datamake collects this store
        report.deferred = f"the manifest {newer[0]} was written by a newer datamake; " \
                          "upgrade datamake to collect this store"
        return
    corrupt: List[Tuple[str, packs.CorruptPack]] = []
    packed = packs.read_all(store, lambda path, why: corrupt.append((path, why)))
    if corrupt:  # its entries are unknown: what they reference cannot be told from garbage
        path, why = corrupt[0]
        report.deferred = f"the pack {path} ({why}) is unreadable; {_unreadable_pack_fix(store, path, why)}"
        return
    object_times = {node_id(m.key, m.partition): modified_time(listed[p]) for p, m in manifests.items() if m}
    in_packs = packgc.winners(packed, object_times)
    current = [m for m in manifests.values() if m is not None] + in_packs
    keep_provenances = {m.provenance for m in current}
    keep_artifacts = {m.artifact for m in current}
    actions = store.objects.files_under(f"{store.root}/actions")
    # Every entry that no current manifest references is read: one that is young or pinned keeps its artifact;
    # one a newer datamake wrote (a newer format, or named otherwise) is kept for it, with the artifact it names.
    unreferenced = {p: info for p, info in actions.items() if _stem(p) not in keep_provenances}
    raws = store.objects.cat_many([p for p in unreferenced if _own_name(p)])
    doomed_actions = []
    for path, info in unreferenced.items():
        raw = raws.get(path)
        if raw is None:  # named otherwise, or gone since the listing
            continue
        old = modified_time(info) < cutoff
        if old and not pins and not _of_newer_format(raw):  # only its format could save it: not parsed
            doomed_actions.append(path)
            continue
        entry = _parse(path, raw, newer)
        if newer and newer[-1] is path:  # (it has just been found a newer datamake's)
            keep_artifacts.update(_artifact_named(raw))
        elif entry is not None and (not old or pins.get(entry.key) == entry.code_version):
            keep_artifacts.add(entry.artifact)
        elif old:
            doomed_actions.append(path)
    kept_entries, doomed_entries, packed_entries = packgc.sweep(packed, keep_provenances, keep_artifacts,
                                                                pins, cutoff)
    report.kept_actions = len(actions) - len(doomed_actions) + packed_entries - len(doomed_entries)
    report.kept_newer = len(newer) + len(unreferenced) - len(raws)
    artifacts = store.objects.files_under(f"{store.root}/artifacts")
    doomed_artifacts = []
    for path, info in artifacts.items():
        if os.path.basename(path) in keep_artifacts or modified_time(info) >= cutoff:
            continue
        doomed_artifacts.append(path)
        report.bytes += int(info.get("size") or 0)
    report.kept_artifacts = len(artifacts) - len(doomed_artifacts)
    report.actions = sorted(doomed_actions + doomed_entries)
    report.artifacts = sorted(doomed_artifacts)
    if report.dry_run:
        return
    if len(packed) > 1 or doomed_entries:  # one pack of what is kept, then the old packs go
        _delete(store, packgc.merge(store, packed, in_packs, kept_entries))
    _delete(store, doomed_actions)  # entries first: an entry never points at a deleted artifact for long
    _delete(store, report.artifacts)
    if store.is_local:
        report.tmp_removed = store.clean_tmp(older_than=min(retention, 3600.0))


def _unreadable_pack_fix(store: Store, path: str, why: packs.CorruptPack) -> str:
    """How a user gets past a pack gc cannot read: a newer one by upgrading; a corrupt local one by hand,
    once ``make`` rebuilt its assets."""
    if isinstance(why, packs.NewerPack):
        return "upgrade datamake to collect this store"
    if store.is_local:
        return corrupt_pack_fix(path)
    return "`datamake pull` removes it and `datamake push` repairs the remote"


def _parse_all(store: Store, paths: List[str], newer: List[str]) -> Dict[str, Optional[Manifest]]:
    """Each manifest at ``paths`` (None: unreadable); the paths of those a newer datamake wrote go to ``newer``."""
    return {path: _parse(path, raw, newer) for path, raw in store.objects.cat_many(paths).items()}


def _parse(path: str, raw: bytes, newer: List[str]) -> Optional[Manifest]:
    """The manifest in ``raw`` (None: unreadable); ``path`` goes to ``newer`` when a newer datamake wrote it."""
    try:
        return Manifest.from_json(raw)
    except NewerManifest:
        newer.append(path)
    except ValueError:
        pass
    return None


_FORMAT_FIELD = re.compile(rb'"format"\s*:\s*(\d+)')


def _of_newer_format(raw: bytes) -> bool:
    """Whether the bytes of an action-cache entry are a manifest of a newer format than this datamake's: a
    scan for the field first (a few microseconds), decoded only where it finds a number past the format."""
    return any(int(n) > MANIFEST_FORMAT for n in _FORMAT_FIELD.findall(raw)) and packs.newer_manifest(raw)


def _artifact_named(raw: bytes) -> List[str]:
    """The artifact a newer datamake's manifest names, where it names one as this datamake does."""
    artifact = json.loads(raw).get("artifact")
    return [artifact] if type(artifact) is str else []


def _own_name(path: str) -> bool:
    """Whether an action-cache entry is named as this datamake names one: ``actions/ab/abcd….json``."""
    folder, name = os.path.split(path)
    stem = name[:-5] if name.endswith(".json") else ""
    return stem.isalnum() and os.path.basename(folder) == stem[:2]


def _stem(path: str) -> str:
    name = os.path.basename(path)
    return name[:-5] if name.endswith(".json") else name


def _delete(store: Store, paths: List[str]) -> None:
    if not paths:
        return
    if store.is_local:
        for path in paths:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        return
    for start in range(0, len(paths), 1000):  # S3 deletes up to 1000 keys per request
        store.fs.rm(paths[start:start + 1000])


__all__ = ["GcReport", "Lease", "collect", "live_leases", "writing", "DEFAULT_RETENTION"]

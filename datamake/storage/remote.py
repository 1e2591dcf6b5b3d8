"""The shared cache: a second store in object storage that teammates and CI read through and push to.

The remote has the same layout as the local store (``artifacts/``,
``manifests/``, ``actions/``), so a bucket can serve as one or the other.
Everything in it is content-addressed or a single-PUT JSON document, so two
people pushing the same thing at once write the same bytes and cannot tear
each other's writes. Every downloaded artifact is hashed before it is used:
a corrupted remote object counts as absent (and is deleted, so that the next
push repairs it).

During ``make`` the remote is a read-through action cache::

    remote = RemoteCache.from_config(project.config)
    remote.prepare(scope, project.store)      # one batch: remote manifests + artifacts likely needed
    manifest = remote.fetch_action(provenance, project.store)   # None on miss
    remote.close(project.store)               # waits for automatic pushes

A remote that cannot be reached is a warning, never a failed ``make``: the
first failure switches the remote off for the rest of the run and datamake
computes locally. ``push`` and ``pull``, which exist only to talk to the
remote, fail with a StoreError instead.
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import os
import threading
from typing import Any, Dict, List, Mapping, Optional, Sequence

from datamake.core.errors import StoreError
from datamake.core.manifest import Manifest
from datamake.core.keys import node_id
from datamake.core.planner import UPSTREAM_STALE, decide, known_inputs, provenance, upstream_status
from datamake.storage.fsio import bulk, plain_get
from datamake.storage import packs
from datamake.storage.gc import Lease
from datamake.storage.store import Store
from datamake.storage.transfer import RemoteUnavailable, SyncReport, Transfer

_S3_DEFAULTS = {
    # Fail fast when the remote is down, instead of botocore's retries with back-off.
    "config_kwargs": {"connect_timeout": 3, "read_timeout": 30, "retries": {"max_attempts": 1, "mode": "standard"}},
}
_LIST_ACTIONS_THRESHOLD = 32
# What pull does with an asset whose remote record it cannot use: it builds nothing
PULL_INSTEAD = "not pulled (`datamake make` builds it here instead)"
# What pull does with an asset whose local manifest it cannot read: the remote's version takes its place
PULLED_OVER = "the remote's version takes its place where the remote has one"
# What push does with an asset whose remote manifest it cannot read: its own is current beside it
PUSH_INSTEAD = "this datamake's version is pushed as the current one beside it"


def remote_options(url: str, options: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """The user's storage options, with fail-fast timeouts added for S3 where the user set none."""
    merged = dict(options or {})
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme in ("s3", "s3a"):
        config = dict(_S3_DEFAULTS["config_kwargs"])
        config.update(merged.get("config_kwargs") or {})
        merged["config_kwargs"] = config
    return merged


class RemoteCache:
    """A remote store used as a shared action cache; see the module docstring."""

    def __init__(self, url: str, storage_options: Optional[Mapping[str, Any]] = None, push: str = "manual"):
        self.url = url
        self.push_auto = push == "auto"
        self.storage_options = remote_options(url, storage_options)
        self._store: Optional[Store] = None
        self.available = True
        self._index: Dict[str, Manifest] = {}  # provenance -> manifest whose artifact is already local
        self._remote_actions: Optional[set] = None  # provenances the remote has, when listed
        self._uploader: Optional[cf.ThreadPoolExecutor] = None
        self._lease = None
        self._lock = threading.Lock()
        self._transfer: Optional[Transfer] = None
        self._view: Optional[packs.RemoteView] = None
        self._view_lock = threading.Lock()

    @property
    def store(self) -> Store:
        """The remote as a Store, opened on first use (a no-op ``make`` never imports s3fs)."""
        if self._store is None:
            self._store = Store(self.url, self.storage_options)
        return self._store

    @property
    def transfer(self) -> Transfer:
        """Artifact transfers to and from the remote (its corrupt objects are remembered for the run)."""
        if self._transfer is None:
            self._transfer = Transfer(self.store)
        return self._transfer

    def view(self, local_store: Store) -> packs.RemoteView:
        """What the remote holds (its packs and per-asset manifests), read once per command."""
        def corrupt(path: str, exc: packs.CorruptPack) -> None:
            if isinstance(exc, packs.NewerPack):  # a teammate's: theirs to keep
                local_store.warnings.append(f"the remote cache's pack at {path} is {exc}: ignored; "
                                            "upgrade datamake to use it")
            else:
                self.transfer.discard_corrupt(path, f"pack of manifests ({exc})", local_store)

        with self._view_lock:  # workers of a parallel make ask at once
            if self._view is None:
                self._view = packs.RemoteView.load(self.store, corrupt)
            return self._view

    @classmethod
    def from_config(cls, config) -> Optional["RemoteCache"]:
        """The project's remote cache, or None when ``[cache] remote`` is not set."""
        if not getattr(config, "cache_remote", None):
            return None
        return cls(config.cache_remote, config.cache_options, config.cache_push)

    # -- make: read-through ----------------------------------------------------
    def prepare(self, scope, local_store: Store) -> None:
        """Fetch, in a few concurrent batches, what this run is likely to find in the remote.

        For each stale asset, the remote's current manifest is a hit when its
        provenance equals the one computed from the local code version and
        the (current or predicted) data versions of its inputs. Those
        artifacts are downloaded together and verified; ``fetch_action``
        then answers from memory.
        """
        stale = [node for node, d in zip(scope.keys, scope.plan.decisions) if d.stale]
        if not stale or not self.available:
            return
        try:
            remote_manifests = self.view(local_store).current(stale)
        except Exception as exc:  # noqa: BLE001 - any transport failure degrades to local work
            return self._down(exc, local_store)
        self._forward_warnings(local_store)
        # Walk the scope as make will, with the planner's own decision: a stale asset
        # whose remote manifest matches the provenance computed now is predicted to be
        # restored with the remote's data version, which its dependents then see.
        status: Dict[str, object] = dict(scope.outside)
        predicted: List[Manifest] = []
        for key in scope.keys:
            facts = scope.facts[key]
            reasons = decide(facts, status, scope.sources)
            status[key] = upstream_status(facts, reasons)
            if status[key] is not UPSTREAM_STALE:
                continue
            remote = remote_manifests.get(key)
            inputs = known_inputs(facts, status)
            if remote is None or inputs is None:
                continue
            prov = provenance(facts.key, facts.code_version, inputs, facts.config_hash, facts.partition)
            if remote.provenance == prov:
                predicted.append(remote)
                status[key] = remote.data_version
        try:
            fetched = self.transfer.download(predicted, local_store)
            for m in predicted:
                if m.artifact in fetched:
                    self._index[m.provenance] = m
            if len(stale) - len(self._index) >= _LIST_ACTIONS_THRESHOLD:
                self._remote_actions = self._list_actions()
        except RemoteUnavailable as exc:
            self._down(exc, local_store)

    def fetch_action(self, provenance: str, local_store: Store) -> Optional[Manifest]:
        """The remote's manifest for ``provenance`` with its artifact now in ``local_store``, or None.

        None on a miss, on a corrupt remote object (with a warning) and when
        the remote is unreachable (with a warning, once per run).
        """
        hit = self._index.pop(provenance, None)
        if hit is not None:
            return hit
        if not self.available:
            return None
        try:
            packed = self.view(local_store).actions.get(provenance)
            if packed is not None:
                return packed if packed.artifact in self.transfer.download([packed], local_store) else None
        except Exception as exc:  # noqa: BLE001 - any transport failure degrades to local work
            return self._down(exc, local_store)
        if self._remote_actions is not None and provenance not in self._remote_actions:
            return None
        path = self.store.action_path(provenance)
        try:
            raw = self._cat(path)
            if raw is None:
                return None
            manifest = self._parse(path, raw, local_store)
            if manifest is None:
                return None
            return manifest if manifest.artifact in self.transfer.download([manifest], local_store) else None
        except RemoteUnavailable as exc:
            return self._down(exc, local_store)

    def push_one(self, manifest: Manifest, local_store: Store) -> None:
        """Upload one freshly built asset in the background (``[cache] push = "auto"``)."""
        if not self.available:
            return
        with self._lock:
            if self._uploader is None:
                self._uploader = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="datamake-push")
            self._uploader.submit(self._push_quietly, manifest, local_store)

    def _push_quietly(self, manifest: Manifest, local_store: Store) -> None:
        if not self.available:
            return
        try:
            if self._lease is None:
                self._lease = Lease(self.store, "datamake make (push)").acquire()
            self._push([manifest], local_store, SyncReport(self.url))
        except Exception as exc:  # noqa: BLE001 - a background upload must never fail the run
            self._down(exc, local_store)

    def close(self, local_store: Store) -> None:
        """Wait for background uploads to finish and release the remote lease."""
        with self._lock:
            uploader, self._uploader = self._uploader, None
        if uploader is not None:
            uploader.shutdown(wait=True)
        if self._lease is not None:
            try:
                self._lease.release()
            except Exception as exc:  # noqa: BLE001
                local_store.warnings.append(f"could not release the lease on {self.url}: {exc}")
            self._lease = None

    # -- push / pull commands --------------------------------------------------
    def push(self, manifests: Sequence[Manifest], local_store: Store) -> SyncReport:
        """Send what the remote lacks for ``manifests``: artifacts, action entries, current manifests."""
        report = SyncReport(self.url)
        try:
            lease = Lease(self.store, "datamake push").acquire()
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc) from None
        try:
            self._push(list(manifests), local_store, report, packed=True)
        except RemoteUnavailable as exc:
            raise self._error(exc) from None
        finally:
            try:
                lease.release()
            except Exception:  # noqa: BLE001 - an expired lease is ignored by gc anyway
                pass
        return report

    def pull(self, keys: Sequence[str], local_store: Store) -> SyncReport:
        """Make the remote's current version of each key the local one, downloading what is missing.
        A key whose remote manifest cannot be read here (a newer datamake's, or damaged) is ``skipped``."""
        report = SyncReport(self.url)
        self.transfer.instead = PULL_INSTEAD
        try:
            view = self.view(local_store)
            remote = view.current(keys, instead=PULL_INSTEAD)
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc) from None
        self._forward_warnings(local_store)
        local = local_store.read_manifests(keys, instead=PULLED_OVER)
        present = self.transfer.present(local_store, [m for m in remote.values() if m is not None])
        current = {k for k, m in remote.items() if m is not None and _same(m, local.get(k)) and m.artifact in present}
        wanted = [m for k, m in remote.items() if m is not None and k not in current]
        try:
            fetched = self.transfer.download(wanted, local_store, report)
        except RemoteUnavailable as exc:
            raise self._error(exc) from None
        for key in keys:
            m = remote.get(key)
            if m is None:
                outcome = "skipped" if key in view.unreadable else "missing"
            elif key in current:
                outcome = "up_to_date"
            elif m.artifact in fetched:
                local_store.commit(m)
                report.manifests += 1
                outcome = "pulled"
            else:
                outcome = "corrupt" if m.artifact in self.transfer.corrupt_hashes else "missing"
            report.assets.append({"key": key, "outcome": outcome,
                                  "data_version": m.data_version if m is not None else None})
        return report

    # -- internals ---------------------------------------------------------------
    def _push(self, manifests: List[Manifest], local_store: Store, report: SyncReport, packed: bool = False) -> None:
        """Upload what the remote lacks for ``manifests``: their artifacts, then their records, as one
        pack (``packed``) or as per-asset objects (an automatic push, one asset at a time)."""
        if not manifests:
            return
        try:
            have_actions, unchanged = (self._remote_records_packed if packed else self._remote_records)(
                manifests, local_store)
            remote_sizes = self.store.artifact_sizes(m.artifact for m in manifests if m.inline is None)
        except Exception as exc:  # noqa: BLE001
            raise RemoteUnavailable(exc) from None
        uploads: Dict[str, Manifest] = {}
        for m in manifests:
            if m.inline is None and remote_sizes.get(m.artifact) != m.size:  # an inline value travels in m
                uploads.setdefault(m.artifact, m)
        sent = self.transfer.upload(list(uploads.values()), local_store, report)
        new_actions: List[Manifest] = []
        new_currents: List[Manifest] = []
        outcomes = {}
        for m, has_action, same in zip(manifests, have_actions, unchanged):
            if m.artifact in uploads and m.artifact not in sent:
                outcomes[_node(m)] = "skipped"
                continue
            changed = m.artifact in sent
            if not has_action:
                new_actions.append(m)
                changed = True
            if not same:
                new_currents.append(m)
                changed = True
            outcomes[_node(m)] = "pushed" if changed else "up_to_date"
        report.actions += len(new_actions)
        report.manifests += len(new_currents)
        for m in new_currents:  # a manifest object a newer datamake wrote is filed as its entry first
            self.store.keep_newer(self.store.manifest_path(_node(m)))
        if packed:
            in_currents = {id(m) for m in new_currents}
            self._write_pack(new_currents, [m for m in new_actions if id(m) not in in_currents])
        else:
            self._write_objects(new_actions, new_currents)
        self._forward_warnings(local_store)
        for m in manifests:
            report.assets.append({"key": _node(m), "outcome": outcomes[_node(m)], "data_version": m.data_version})

    def _remote_records_packed(self, manifests: List[Manifest], local_store: Store):
        """Which manifests the remote already holds as current (then with their action entry)."""
        current = self.view(local_store).current((_node(m) for m in manifests), instead=PUSH_INSTEAD)
        same = [_same_record(current.get(_node(m)), m) for m in manifests]
        return same, same

    def _remote_records(self, manifests: List[Manifest], local_store: Store):
        """Which manifests have an action entry, and which are current, as per-asset remote objects."""
        action_paths = [self.store.action_path(m.provenance) for m in manifests]
        manifest_paths = [self.store.manifest_path(_node(m)) for m in manifests]
        if len(manifests) >= _LIST_ACTIONS_THRESHOLD:  # a few listing pages instead of a HEAD each
            listed = {**self.store.listing("actions"), **self.store.listing("manifests")}
            actions = [listed.get(p) for p in action_paths]
            currents = [listed.get(p) for p in manifest_paths]
        else:
            found = self.store.stats(action_paths + manifest_paths)
            actions, currents = found[:len(manifests)], found[len(manifests):]
        return [info is not None for info in actions], [_holds(info, m) for info, m in zip(currents, manifests)]

    def _write_pack(self, currents: List[Manifest], actions: List[Manifest]) -> None:
        """One pack for all the new records: the commit point of a push, after its artifacts."""
        if not currents and not actions:
            return
        try:
            packs.write(self.store, currents, actions)
        except Exception as exc:  # noqa: BLE001
            raise RemoteUnavailable(exc) from None
        self._view = None  # read again by the next look

    def _write_objects(self, actions: List[Manifest], currents: List[Manifest]) -> None:
        """Per-asset records: action entries first, as a manifest is the commit point."""
        for batch in ([(self.store.action_path(m.provenance), m.to_json()) for m in actions],
                      [(self.store.manifest_path(_node(m)), m.to_json()) for m in currents]):
            results = bulk(self.store.fs, "pipe_file", batch)
            failed = [r for r in results if isinstance(r, BaseException)]
            if failed:
                raise RemoteUnavailable(failed[0])

    def _cat(self, path: str) -> Optional[bytes]:
        try:
            return self.store.fs.cat_file(path, **plain_get(self.store.fs))
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001
            raise RemoteUnavailable(exc) from None

    def _list_actions(self) -> set:
        try:
            names = self.store.objects.files_under(f"{self.store.root}/actions")
        except Exception as exc:  # noqa: BLE001
            raise RemoteUnavailable(exc) from None
        return {os.path.basename(n)[: -len(".json")] for n in names if n.endswith(".json")}

    def _parse(self, path: str, raw: bytes, local_store: Store) -> Optional[Manifest]:
        try:
            return Manifest.from_json(raw)
        except ValueError as exc:
            if packs.newer_manifest(raw):  # a teammate's newer datamake wrote it: theirs to keep
                local_store.warnings.append(f"the remote cache's action-cache entry at {path} is ignored: {exc}")
            else:
                self.transfer.discard_corrupt(path, "action-cache entry", local_store)
            return None

    def _forward_warnings(self, local_store: Store) -> None:
        """The remote store's own warnings (an unreadable manifest) go where the CLI prints them."""
        if self._store is not None and self._store.warnings:
            local_store.warnings.extend(f"remote cache: {w}" for w in self._store.warnings)
            self._store.warnings.clear()

    def _down(self, exc: BaseException, local_store: Store) -> None:
        with self._lock:
            if not self.available:
                return None
            self.available = False
        local_store.warnings.append(
            f"remote cache {self.url} is unreachable ({_describe(exc)}); computing locally and not pushing "
            "for the rest of this run")
        return None

    def _error(self, exc: BaseException) -> StoreError:
        return StoreError(
            f"cannot reach the remote cache {self.url}: {_describe(exc)}",
            hint="check [cache] remote and [cache.storage_options] in datamake.toml, and that the store is up",
        )


def _node(m: Manifest) -> str:
    """The node a manifest is the current one of: its key, or ``key[partition]``."""
    return node_id(m.key, m.partition)


def _same(a: Optional[Manifest], b: Optional[Manifest]) -> bool:
    fields = ("key", "partition", "provenance", "artifact", "size")
    return a is not None and b is not None and all(getattr(a, f) == getattr(b, f) for f in fields)


def _same_record(remote: Optional[Manifest], manifest: Manifest) -> bool:
    """True when the remote's current record is exactly ``manifest``."""
    return remote is not None and remote.to_json() == manifest.to_json()


def _holds(info: Optional[Dict[str, Any]], manifest: Manifest) -> bool:
    """True when a remote manifest object (listed or HEADed) holds exactly ``manifest``'s JSON.

    A single-PUT S3 object's ETag is the MD5 of its bytes; where the backend
    says something else, the answer is False and the manifest is simply
    written again (an idempotent PUT).
    """
    if info is None or not info.get("validator"):
        return False
    data = manifest.to_json()
    etag = info["validator"].split(":", 1)[-1].strip('"').lower()
    return info["size"] == len(data) and etag == hashlib.md5(data, usedforsecurity=False).hexdigest()


def _describe(exc: BaseException) -> str:
    inner = exc.args[0] if isinstance(exc, RemoteUnavailable) and exc.args else exc
    text = str(inner) or type(inner).__name__
    return text.splitlines()[0][:300]

"""The store: content-addressed artifacts, current manifests and the action cache, on fsspec.

Layout under the root URL::

    artifacts/ab/abcdef…     immutable bytes, named by their xxh3-128 content hash
    manifests/KEY.json       the current manifest of each asset (the commit point)
    actions/12/1234….json    action cache: provenance -> manifest
    tmp/                     writes in progress; never read as state

An artifact is written under a temporary name and moved into place once its
hash is known; the manifest is replaced last, atomically. A reader therefore
sees either the old manifest with its old artifact or the new pair, and a
killed writer leaves only files under ``tmp/``.
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
import socket
import stat as stat_mod
import tempfile
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote
from typing import IO, Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from datamake.core.compat import accepts_keyword
from datamake.core.errors import StoreError
from datamake.core.hashing import HashingWriter, hash_bytes, hash_file, hash_value
from datamake.core.keys import node_id, split_node
from datamake.core.manifest import Manifest
from datamake.storage import iomanagers

_BATCH_LISTING_THRESHOLD = 32
_BULK_BATCH = 64  # requests in flight at once in bulk operations on object stores
_UPLOAD_CHUNK = 8 << 20  # multipart part size: bounds memory per upload, whatever the file size
_UPLOAD_CONCURRENCY = 4


def bulk(fs, method: str, calls: Sequence[Tuple[Any, ...]], batch: int = _BULK_BATCH, **kwargs: Any) -> List[Any]:
    """Run ``fs.<method>(*args, **kwargs)`` for each args tuple concurrently; results or exceptions, in order.

    On async filesystems (s3fs, gcsfs) the calls run as coroutines on the
    filesystem's own event loop, ``batch`` at a time; elsewhere in a small
    thread pool. Exceptions are returned in place, not raised.
    """
    if not calls:
        return []
    if getattr(fs, "async_impl", False) and hasattr(fs, "_" + method):
        from fsspec.asyn import _run_coros_in_chunks, sync  # lazy: fsspec loads with the first store

        per_call = kwargs.pop("_kwargs", None) or [{}] * len(calls)
        coros = [getattr(fs, "_" + method)(*args, **kwargs, **extra) for args, extra in zip(calls, per_call)]
        return sync(fs.loop, _run_coros_in_chunks, coros, batch_size=batch, return_exceptions=True)

    kwargs.pop("_kwargs", None)

    def one(args):
        try:
            return getattr(fs, method)(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - returned to the caller, like the async branch
            return exc

    with ThreadPoolExecutor(max_workers=min(8, len(calls))) as pool:
        return list(pool.map(one, calls))


def upload_options(fs) -> Dict[str, Any]:
    """Keyword arguments for ``put_file`` that keep an upload's memory bounded (s3fs multipart)."""
    protocol = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    if "s3" in protocol or "s3a" in protocol:
        return {"chunksize": _UPLOAD_CHUNK, "max_concurrency": _UPLOAD_CONCURRENCY}
    return {}


def plain_get(fs) -> Dict[str, Any]:
    """``cat_file`` keyword arguments for one bare GET (s3fs otherwise HEADs first, to split large reads)."""
    return {"max_concurrency": 1} if hasattr(fs, "_call_s3") and accepts_keyword(fs._cat_file, "max_concurrency") else {}


def _validator(info: Mapping[str, Any]) -> Optional[str]:
    """A listing entry's content validator (changes whenever the bytes change), if the backend has one."""
    for field_name in ("ETag", "etag", "md5Hash", "generation"):
        value = info.get(field_name)
        if value:
            return f"{field_name}:{value}"
    return None


def cache_dir() -> str:
    """Where datamake keeps machine-local caches (``DATAMAKE_CACHE_DIR``, else the XDG cache)."""
    base = os.environ.get("DATAMAKE_CACHE_DIR")
    if base:
        return base
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "datamake")


# Renames are atomic against a killed process without fsync (the page cache
# survives it); fsync only adds safety against power loss, at a large cost per
# file on most disks. DATAMAKE_FSYNC=1 turns it on.
_FSYNC = os.environ.get("DATAMAKE_FSYNC", "") not in ("", "0")


def _durable(f) -> None:
    if _FSYNC:
        os.fsync(f.fileno())


class CorruptArtifactError(StoreError):
    """An artifact's bytes do not match its content hash."""


# After writing an artifact, its mtime is set this far back (from the file system's own clock),
# so that any later write to it, however soon, gives it another mtime.
_MTIME_BACKDATE_NS = 2_000_000_000
# A file seen less than this long after its last change may still change within the same mtime
# tick: its stat proves nothing, so it is hashed again next time rather than recorded.
_RACY_NS = 2_000_000_000
Stat = Tuple[int, int, int]  # (size, mtime_ns, inode)


def _stat_of(st: os.stat_result) -> Stat:
    return (st.st_size, st.st_mtime_ns, st.st_ino)


class ArtifactState:
    """How each local artifact looked when its content was last verified: hash -> (size, mtime_ns, inode).

    Like git's index or DVC's state database, this is a machine-local record (a
    SQLite file in the store folder, never part of a manifest): when an
    artifact's stat still equals its record, its bytes are what they were when
    they were hashed; when the stat moved, the artifact is hashed again. So a
    no-op costs one stat per artifact, and a same-size corruption is still seen.
    A record that cannot be read or written only costs hashing, never trust.
    """

    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()
        self._known: Optional[Dict[str, Stat]] = None
        self._pending: Dict[str, Optional[Stat]] = {}
        self._pid = os.getpid()

    def _connect(self):
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")  # a cache: a lost or damaged record costs hashing, never trust
            db.execute("CREATE TABLE IF NOT EXISTS artifacts (hash TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER,"
                       " ino INTEGER) WITHOUT ROWID")
        except BaseException:  # a full disk, a read-only store: no file left open
            db.close()
            raise
        return db

    def _load(self) -> Dict[str, Stat]:
        if self._known is None or self._pid != os.getpid():
            known: Dict[str, Stat] = {}
            if os.path.exists(self.path):
                try:
                    db = self._connect()
                    try:
                        known = {h: (size, mtime, ino) for h, size, mtime, ino in
                                 db.execute("SELECT hash, size, mtime_ns, ino FROM artifacts")}
                    finally:
                        db.close()
                except Exception:  # noqa: BLE001 - an unreadable record means: hash again
                    known = {}
            self._known, self._pid = known, os.getpid()
        return self._known

    def matches(self, content_hash: str, stat: Stat) -> bool:
        with self._lock:
            known = self._pending.get(content_hash) if content_hash in self._pending else \
                self._load().get(content_hash)
        return known is not None and tuple(known) == stat

    def record(self, content_hash: str, stat: Optional[Stat]) -> None:
        """Remember ``stat`` as verified for ``content_hash`` (None forgets it); kept by :meth:`save`."""
        with self._lock:
            self._pending[content_hash] = stat

    def take(self, content_hash: str) -> Optional[Stat]:
        """The stat just recorded for ``content_hash``, handed over (and forgotten here)."""
        with self._lock:
            return self._pending.pop(content_hash, None)

    def save(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            if not pending:
                return
            known = self._load()
            for h, stat in pending.items():
                if stat is None:
                    known.pop(h, None)
                else:
                    known[h] = stat
            try:
                db = self._connect()
                try:
                    db.execute("BEGIN IMMEDIATE")
                    db.executemany("INSERT OR REPLACE INTO artifacts VALUES (?, ?, ?, ?)",
                                   [(h, *stat) for h, stat in pending.items() if stat is not None])
                    db.executemany("DELETE FROM artifacts WHERE hash = ?",
                                   [(h,) for h, stat in pending.items() if stat is None])
                    db.execute("COMMIT")
                finally:
                    db.close()
            except Exception:  # noqa: BLE001 - not kept: those artifacts are hashed again next time
                pass


def filesystem(url: str, storage_options: Optional[Mapping[str, Any]] = None):
    """``(fs, path)`` for a URL, with an install hint when its backend is missing."""
    import fsspec  # lazy: fsspec loads with the first store, not with datamake

    try:
        fs, path = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
    except ImportError as exc:
        scheme = url.split("://", 1)[0]
        extra = {"s3": "s3", "gs": "gcs", "gcs": "gcs"}.get(scheme, scheme)
        raise StoreError(
            f"no filesystem for '{scheme}://' URLs ({exc})",
            hint=f"install it: pip install 'datamake[{extra}]'",
        ) from None
    except ValueError as exc:
        raise StoreError(f"cannot open store URL '{url}': {exc}") from None
    _quiet_abandoned_requests(fs)
    return fs, path


def _quiet_abandoned_requests(fs) -> None:
    """On an async filesystem's event loop, drop the "Task exception was never retrieved" traceback
    of a request whose connection died (a remote that went away mid-run): the call that started it
    has already failed, and datamake reports that in one line."""
    loop = getattr(fs, "loop", None) if getattr(fs, "async_impl", False) else None
    if loop is None or getattr(loop, "_datamake_quiet", False):
        return

    def handler(loop, context) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) or type(exc).__module__.startswith("aiohttp"):
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    loop._datamake_quiet = True


class Store:
    """Artifacts, manifests and the action cache under one fsspec URL."""

    def __init__(self, url: str, storage_options: Optional[Mapping[str, Any]] = None):
        self.url = url
        self.storage_options = dict(storage_options or {})
        self.fs, self.root = filesystem(url, self.storage_options)
        self.root = self.root.rstrip("/")
        protocol = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self.is_local = "file" in protocol or "local" in protocol
        self.warnings: List[str] = []
        self._made: set = set()
        self._state: Optional[ArtifactState] = None

    @property
    def state(self) -> Optional[ArtifactState]:
        """The local record of verified artifacts (local stores only)."""
        if self._state is None and self.is_local:
            self._state = ArtifactState(f"{self.root}/state.sqlite")
        return self._state

    # -- paths ---------------------------------------------------------------
    def artifact_path(self, content_hash: str) -> str:
        return f"{self.root}/artifacts/{content_hash[:2]}/{content_hash}"

    def manifest_path(self, node: str) -> str:
        """Where the current manifest of a node (``key`` or ``key[partition]``) lives."""
        key, partition = split_node(node)
        if partition is None:
            return f"{self.root}/manifests/{key}.json"
        return f"{self.root}/manifests/{key}/@partitions/{quote(partition, safe='')}.json"

    def action_path(self, provenance: str) -> str:
        return f"{self.root}/actions/{provenance[:2]}/{provenance}.json"

    def _tmp_path(self) -> str:
        # HOST@PID names the writer, so that clean_tmp knows a dead writer's leftovers at once
        return f"{self.root}/tmp/{_HOST}@{os.getpid()}.{uuid.uuid4().hex}.part"

    # -- writing -------------------------------------------------------------
    def write_artifact(self, dump: Callable[[IO[bytes]], None]) -> Tuple[str, int]:
        """Write bytes through ``dump(file)``; returns ``(content_hash, size)``.

        The bytes are hashed as they are written; they appear under their
        content hash only once complete.
        """
        if self.is_local:
            tmp = self._tmp_path()
            self._makedirs(os.path.dirname(tmp))
            try:
                with self._create(tmp) as raw:
                    writer = HashingWriter(raw)
                    dump(writer)
                    raw.flush()
                    _durable(raw)
                    st = os.fstat(raw.fileno())
                digest, size = writer.hexdigest(), writer.size
                final = self.artifact_path(digest)
                if self.artifact_intact(digest, size):
                    os.unlink(tmp)
                    return digest, size
                # Nobody else knows ``tmp``: its bytes are the ones just hashed. Backdating its mtime
                # makes any later change to the artifact show in its stat, and a rename keeps both.
                mtime = st.st_mtime_ns - _MTIME_BACKDATE_NS
                os.utime(tmp, ns=(st.st_atime_ns, mtime))
                # (where the file system keeps coarser times than this, the record will not match: hashed once)
                recorded = (st.st_size, mtime, st.st_ino)
                self._replace(tmp, final)
                self.state.record(digest, recorded)
                return digest, size
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        # Object storage: stage in a local temporary file, then upload under the hash.
        with tempfile.NamedTemporaryFile(prefix="datamake-", suffix=".part") as staged:
            writer = HashingWriter(staged)
            dump(writer)
            staged.flush()
            digest, size = writer.hexdigest(), writer.size
            final = self.artifact_path(digest)
            if not self._intact_size(final, size):
                self.fs.put_file(staged.name, final, **upload_options(self.fs))
            return digest, size

    def put_artifact_file(self, local_path: str, content_hash: str) -> None:
        """Upload an already-hashed local file under its content hash."""
        final = self.artifact_path(content_hash)
        if self.is_local:
            tmp = self._tmp_path()
            self.fs.makedirs(os.path.dirname(tmp), exist_ok=True)
            self.fs.makedirs(os.path.dirname(final), exist_ok=True)
            self.fs.put_file(local_path, tmp)
            os.replace(tmp, final)
            self.state.record(content_hash, None)  # not verified here: hashed at its next check
        else:
            self.fs.put_file(local_path, final, **upload_options(self.fs))

    def _intact_size(self, path: str, size: int) -> bool:
        try:
            if not self.is_local:
                return self.sizes([path])[0] == size
            return self.fs.size(path) == size
        except StoreError:
            return False
        except (FileNotFoundError, OSError):
            return False

    def artifact_intact(self, content_hash: str, size: int) -> bool:
        """True when the artifact is there with ``size`` bytes, and (local stores) its bytes still hash
        to its name: checked by one stat when it matches the state record, else by hashing it."""
        if not self.is_local:
            return self._intact_size(self.artifact_path(content_hash), size)
        return self._verified_size(content_hash) == size

    def _verified_size(self, content_hash: str) -> Optional[int]:
        """The size of a local artifact whose bytes match its name; None when it is missing or corrupt."""
        path = self.artifact_path(content_hash)
        try:
            st = os.stat(path)
        except OSError:
            return None
        if not stat_mod.S_ISREG(st.st_mode):
            return None
        stat = _stat_of(st)
        state = self.state
        if state.matches(content_hash, stat):
            return st.st_size
        try:
            with open(path, "rb") as f:
                ok = hash_file(f) == content_hash
        except OSError:
            return None
        if not ok:
            state.record(content_hash, None)
            return None
        try:  # record it only if it has not changed meanwhile, and not within the last mtime tick
            after = os.stat(path)
        except OSError:
            return None
        if _stat_of(after) == stat and time.time_ns() - st.st_mtime_ns > _RACY_NS:
            state.record(content_hash, stat)
        return st.st_size

    def written_stat(self, content_hash: str) -> Optional[Stat]:
        """The stat recorded for an artifact this process has just written or verified (local stores),
        handed over to the coordinator, which keeps it (a worker may be another process: it keeps nothing)."""
        return self.state.take(content_hash) if self.is_local else None

    def note_verified(self, content_hash: str, stat: Sequence[int]) -> None:
        """Record a worker's stat of the artifact it wrote (a worker may be another process)."""
        if self.is_local and stat is not None and len(stat) == 3:
            self.state.record(content_hash, tuple(map(int, stat)))

    def save_state(self) -> None:
        if self._state is not None:
            self._state.save()

    def _atomic_write(self, path: str, data: bytes) -> None:
        if self.is_local:
            tmp = self._tmp_path()
            self._makedirs(os.path.dirname(tmp))
            try:
                with self._create(tmp) as f:
                    f.write(data)
                    f.flush()
                    _durable(f)
                self._replace(tmp, path)
            except BaseException:  # a full disk, say: leave no half-written file behind
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        else:  # a single PUT is atomic on object stores
            self.fs.pipe_file(path, data)

    def _create(self, path: str):
        """Open a new file for writing, recreating its folder if something removed it."""
        try:
            return open(path, "wb")
        except FileNotFoundError:
            self._made.discard(os.path.dirname(path))
            self._makedirs(os.path.dirname(path))
            return open(path, "wb")

    def _replace(self, src: str, dst: str) -> None:
        """``os.replace`` into a folder made once per process, made again if it was removed since
        (a long-lived worker, such as a Dask worker, outlives a wiped store)."""
        self._makedirs(os.path.dirname(dst))
        try:
            os.replace(src, dst)
        except FileNotFoundError:
            if not os.path.exists(src):
                raise
            self._made.discard(os.path.dirname(dst))
            self._makedirs(os.path.dirname(dst))
            os.replace(src, dst)

    def _makedirs(self, folder: str) -> None:
        """``os.makedirs`` once per folder per process (it costs a few syscalls each time)."""
        if folder not in self._made:
            os.makedirs(folder, exist_ok=True)
            self._made.add(folder)

    def write_small(self, path: str, data: bytes) -> None:
        """Atomically replace a small file under the root (bookkeeping, not artifacts)."""
        self._atomic_write(path, data)

    def commit(self, manifest: Manifest) -> None:
        """Record ``manifest`` in the action cache, then make it current (the commit point)."""
        data = manifest.to_json()
        action = self.action_path(manifest.provenance)
        current = self.manifest_path(node_id(manifest.key, manifest.partition))
        self._atomic_write(action, data)
        if self.is_local and self._link_into_place(action, current):
            return
        self._atomic_write(current, data)

    def _link_into_place(self, source: str, target: str) -> bool:
        """Make ``target`` a hard link to ``source``, atomically (link to a temporary name, then
        rename). Creating a file costs far more than linking one on most local file systems, and
        the two records hold the same bytes; neither is ever modified in place, only replaced.
        False where links are not supported (the caller then writes a copy)."""
        tmp = self._tmp_path()
        try:
            os.link(source, tmp)
        except OSError:
            return False
        self._replace(tmp, target)
        return True

    def remove_manifest(self, key: str) -> None:
        try:
            self.fs.rm_file(self.manifest_path(key))
        except FileNotFoundError:
            pass

    # -- reading -------------------------------------------------------------
    def read_manifests(self, keys: Iterable[str]) -> Dict[str, Optional[Manifest]]:
        """The current manifest of each key (None where there is none), read in one batch."""
        keys = list(keys)
        paths = {self.manifest_path(k): k for k in keys}
        result: Dict[str, Optional[Manifest]] = dict.fromkeys(keys)
        if not self.is_local and len(keys) >= _BATCH_LISTING_THRESHOLD:
            found = self._cat_listed(list(paths), f"{self.root}/manifests")
        else:
            found = self._cat_many(list(paths))
        for path, raw in found.items():
            result[paths[path]] = self._parse_manifest(path, raw)
        return result

    def _cat_listed(self, paths: List[str], prefix: str) -> Dict[str, bytes]:
        """Read many small objects under ``prefix``: one listing, then only what changed since last time.

        The listing says which objects exist and gives each a content
        validator (S3's ETag); bytes read before are kept in a machine-local
        cache keyed by path and validator, so an unchanged object costs no
        request. A no-op ``status`` on a bucket store is then a few listing pages.
        """
        try:
            listing = self.fs.find(prefix, detail=True)
        except FileNotFoundError:
            listing = {}
        except Exception as exc:  # noqa: BLE001 - any transport failure
            raise StoreError(f"cannot list {prefix} in the store at {self.url}: {exc}") from None
        finally:
            self._forget_listing(prefix)
        listed = {self._strip(p): info for p, info in listing.items()}
        cache_file = os.path.join(cache_dir(), "listed", hash_value("listed", self.url, prefix)[:32] + ".json")
        cached = _read_json(cache_file)
        out: Dict[str, bytes] = {}
        wanted = [p for p in paths if p in listed]
        missing = []
        for path in wanted:
            validator = _validator(listed[path])
            entry = cached.get(path)
            if validator and entry and entry[0] == validator:
                out[path] = entry[1].encode("utf-8", "surrogateescape")
            else:
                missing.append(path)
        if missing:
            fetched = self._cat_many(missing)
            out.update(fetched)
            changed = False
            for path, raw in fetched.items():
                validator = _validator(listed[path])
                if validator:
                    cached[path] = [validator, raw.decode("utf-8", "surrogateescape")]
                    changed = True
            for path in [p for p in cached if p not in listed and p.startswith(prefix)]:
                del cached[path]
                changed = True
            if changed:
                _write_json(cache_file, cached)
        return out

    def _strip(self, path: str) -> str:
        """A listed path in the form this store builds paths (``bucket/prefix/...``)."""
        return self.fs._strip_protocol(path).rstrip("/")

    def _forget_listing(self, prefix: str) -> None:
        """Drop fsspec's cached listings, so that a later existence check asks the store again."""
        try:
            self.fs.invalidate_cache(prefix)
        except Exception:  # noqa: BLE001 - a cache, never worth failing for
            pass

    def _cat_many(self, paths: List[str]) -> Dict[str, bytes]:
        if not paths:
            return {}
        if self.is_local:
            found = {}
            for p in paths:
                try:
                    with open(p, "rb") as f:
                        found[p] = f.read()
                except FileNotFoundError:
                    pass
            return found
        # One GET per path, concurrently (fs.cat on a list would first expand each path: 2 more requests).
        raw = dict(zip(paths, bulk(self.fs, "cat_file", [(p,) for p in paths], **plain_get(self.fs))))
        out = {}
        for p, v in raw.items():
            if isinstance(v, FileNotFoundError):
                continue
            if isinstance(v, BaseException):
                raise StoreError(f"cannot read {p} in the store at {self.url}: {str(v).splitlines()[0][:300]}")
            out[p] = v
        return out

    def _parse_manifest(self, path: str, raw: bytes) -> Optional[Manifest]:
        try:
            return Manifest.from_json(raw)
        except ValueError as exc:
            self.warnings.append(f"ignoring unreadable manifest {path} ({exc}); the asset will be rebuilt")
            return None

    def artifact_sizes(self, hashes: Iterable[str]) -> Dict[str, Optional[int]]:
        """The stored size of each artifact (None where it is missing), in as few calls as possible."""
        hashes = list(dict.fromkeys(hashes))
        if self.is_local:  # one stat per artifact; hashed only where the stat moved since it was verified
            sizes = {h: self._verified_size(h) for h in hashes}
            self.save_state()
            return sizes
        if len(hashes) >= _BATCH_LISTING_THRESHOLD:  # one paged listing beats a HEAD per artifact
            sizes = {os.path.basename(p): info["size"] for p, info in self.listing("artifacts").items()}
            return {h: sizes.get(h) for h in hashes}
        return dict(zip(hashes, self.sizes([self.artifact_path(h) for h in hashes])))  # a few HEADs, concurrently

    def sizes(self, paths: List[str]) -> List[Optional[int]]:
        """The size of each object (None where it does not exist): one request each, run concurrently."""
        return [None if info is None else info["size"] for info in self.stats(paths)]

    def stats(self, paths: List[str]) -> List[Optional[Dict[str, Any]]]:
        """``{"size", "validator"}`` of each object (None where it does not exist), concurrently.

        On S3 this is a bare HEAD; ``fs.info`` would add a listing per missing
        object to rule out a directory. ``validator`` is the ETag where the
        backend has one (see :func:`content_validator`).
        """
        if getattr(self.fs, "async_impl", False) and hasattr(self.fs, "_call_s3"):
            results = bulk(self.fs, "call_s3", [("head_object",) for _ in paths],
                           _kwargs=[dict(zip(("Bucket", "Key"), self.fs.split_path(p)[:2])) for p in paths])
        else:
            results = bulk(self.fs, "info", [(p,) for p in paths])
        out: List[Optional[Dict[str, Any]]] = []
        for path, r in zip(paths, results):
            if isinstance(r, FileNotFoundError):
                out.append(None)
            elif isinstance(r, BaseException):
                raise StoreError(f"cannot read {path} in the store at {self.url}: {str(r).splitlines()[0][:300]}")
            else:
                size = r.get("size", r.get("ContentLength"))
                out.append({"size": None if size is None else int(size), "validator": _validator(r)})
        return out

    def listing(self, prefix: str) -> Dict[str, Dict[str, Any]]:
        """Every object under ``prefix`` (a folder of the store) with ``size`` and ``validator``, listed in pages."""
        try:
            found = self.fs.find(f"{self.root}/{prefix}", detail=True)
        except FileNotFoundError:
            found = {}
        finally:
            if not self.is_local:
                self._forget_listing(f"{self.root}/{prefix}")
        return {self._strip(p): {"size": info.get("size"), "validator": _validator(info)}
                for p, info in found.items() if info.get("type", "file") == "file"}

    def lookup_action(self, provenance: str) -> Optional[Manifest]:
        """The manifest recorded for ``provenance`` if its artifact is still there."""
        path = self.action_path(provenance)
        raw = self._cat_many([path]).get(path)
        if raw is None:
            return None
        manifest = self._parse_manifest(path, raw)
        if manifest is None or not self.artifact_intact(manifest.artifact, manifest.size):
            return None
        return manifest

    def open_artifact(self, content_hash: str) -> IO[bytes]:
        try:
            return self.fs.open(self.artifact_path(content_hash), "rb")
        except FileNotFoundError:
            raise CorruptArtifactError(f"artifact {content_hash} is missing from {self.url}") from None

    def discard_artifact(self, content_hash: str) -> None:
        """Delete an artifact whose bytes failed their hash check, so every later look sees it missing
        (``artifact_missing``) and rebuilds it instead of trusting it again."""
        try:
            self.fs.rm_file(self.artifact_path(content_hash))
        except (FileNotFoundError, OSError):
            pass
        if self.is_local:
            self.state.record(content_hash, None)

    def _corrupt(self, manifest: Manifest, actual: str) -> CorruptArtifactError:
        self.discard_artifact(manifest.artifact)
        return CorruptArtifactError(
            f"artifact of '{manifest.key}' is corrupt (hash {actual[:12]}, expected {manifest.artifact[:12]})",
            hint="run `datamake make` to rebuild it",
        )

    def read_artifact(self, manifest: Manifest) -> bytes:
        """An artifact's bytes, checked against its hash (for small artifacts: they are held in memory)."""
        with self.open_artifact(manifest.artifact) as f:
            data = f.read()
        actual = hash_bytes(data)
        if actual != manifest.artifact:
            raise self._corrupt(manifest, actual)
        return data

    def copy_artifact(self, manifest: Manifest, folder: str) -> str:
        """Copy an artifact into ``folder`` (hashing it on the way) and return the copy's path.

        ``file`` inputs are handed out this way: a consumer that writes to its
        path changes its own copy, never the stored artifact nor what other
        consumers receive. The copy is read-only, as a hint.
        """
        target = os.path.join(folder, manifest.artifact)
        with self.open_artifact(manifest.artifact) as src, open(target, "wb") as out:
            writer = HashingWriter(out)
            for chunk in iter(lambda: src.read(1 << 20), b""):
                writer.write(chunk)
        if writer.hexdigest() != manifest.artifact:
            os.unlink(target)
            raise self._corrupt(manifest, writer.hexdigest())
        os.chmod(target, 0o444)
        return target

    def verify_artifact(self, content_hash: str) -> bool:
        """Re-hash a stored artifact; True when its bytes match its name."""
        try:
            with self.open_artifact(content_hash) as f:
                return hash_file(f) == content_hash
        except CorruptArtifactError:
            return False

    def load(self, manifest: Manifest, verify: bool = True) -> Any:
        """Load an artifact's value with its IO manager, checking its hash first."""
        if not self.is_local:
            return self._load_remote(manifest, verify)
        with self.open_artifact(manifest.artifact) as f:
            if verify:  # a stat proves nothing about bit rot: what a consumer reads is always hashed
                actual = hash_file(f)
                if actual != manifest.artifact:
                    raise self._corrupt(manifest, actual)
                f.seek(0)
            return iomanagers.get(manifest.io_manager).load(f)

    def _load_remote(self, manifest: Manifest, verify: bool) -> Any:
        """Download once into a local temporary file (hashing as it streams), then load from there."""
        with tempfile.TemporaryFile(prefix="datamake-") as local:
            writer = HashingWriter(local)
            with self.open_artifact(manifest.artifact) as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    writer.write(chunk)
            if verify and writer.hexdigest() != manifest.artifact:
                raise self._corrupt(manifest, writer.hexdigest())
            local.seek(0)
            return iomanagers.get(manifest.io_manager).load(local)

    def clean_tmp(self, older_than: float = 3600.0) -> int:
        """Remove leftovers of killed writers; returns how many were removed.

        A file goes when its writer (``HOST@PID`` in its name) is a process of
        this host that no longer exists, or when it is older than ``older_than``
        seconds. Files of live writers, such as a concurrent run, stay.
        """
        removed = 0
        try:
            entries = self.fs.ls(f"{self.root}/tmp", detail=True)
        except FileNotFoundError:
            return 0
        now = time.time()
        for entry in entries:
            mtime = entry.get("mtime") or entry.get("LastModified")
            stamp = mtime.timestamp() if hasattr(mtime, "timestamp") else mtime
            if stamp is None or now - float(stamp) > older_than or _writer_gone(entry["name"]):
                try:
                    self.fs.rm_file(entry["name"])
                    removed += 1
                except OSError:  # gone already, or a store this process cannot write: left as it is
                    pass
        return removed


_HOST = socket.gethostname()


def _writer_gone(path: str) -> bool:
    """True when a tmp file's writer (``HOST@PID.uuid.part``) is certainly dead: a vanished pid of this host."""
    writer = os.path.basename(path).rsplit(".", 2)[0]
    host, _, pid = writer.rpartition("@")
    if host != _HOST or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return _is_zombie(int(pid))  # a killed worker whose parent died first may linger unreaped


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


def _read_json(path: str) -> Dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_json(path: str, data: Mapping[str, Any]) -> None:
    """Replace a cache file atomically; a cache that cannot be written is simply not kept."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except OSError:
        pass

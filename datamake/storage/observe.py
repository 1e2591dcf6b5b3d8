"""Observing the versions of sources, cheaply.

Ladder, per file: a checksum the filesystem already has (S3 ETag, GCS md5 or
crc32c) is the version; otherwise (size, mtime) is looked up in a cache of
earlier observations and the content is hashed only when they moved. So a
``touch`` that does not change the bytes does not change the version.
"""
from __future__ import annotations

import json
import time
from typing import Any, Dict, List, Mapping, Optional

from datamake.core.errors import DatamakeError
from datamake.core.hashing import hash_file, hash_value
from datamake.define.sources import SourceDef
from datamake.storage.fsio import filesystem
from datamake.storage.reads import local_stamp, with_wal

_CHECKSUM_FIELDS = ("ETag", "etag", "md5Hash", "crc32c", "checksum")
_GLOB_CHARS = "*?["
_RACY_SECONDS = 2.0


class SourceError(DatamakeError):
    """A source is missing (``missing``) or cannot be observed."""

    exit_code = 1
    missing = False


class ObservationCache:
    """(url, size, mtime) -> content hash, kept as one JSON file in the store.

    A cache only: a file that cannot be read, or holds something else than such
    entries, is ignored with a warning (sources are hashed again), and one that
    cannot be written (a read-only store) is simply not kept.
    """

    def __init__(self, store):
        self.store = store
        self.path = f"{store.root}/observations.json"
        self.entries: Dict[str, List[Any]] = {}
        self.dirty = False
        try:
            with store.fs.open(self.path, "rb") as f:
                entries = json.load(f)
        except FileNotFoundError:
            return
        except (ValueError, OSError) as exc:
            return self._ignore(str(exc))
        if not isinstance(entries, dict) or not all(_is_entry(e) for e in entries.values()):
            return self._ignore(f"expected an object of [size, mtime, hash] entries, found {json.dumps(entries)[:40]}")
        self.entries = entries

    def _ignore(self, problem: str) -> None:
        self.store.warnings.append(f"ignoring unreadable {self.path} ({problem}); sources are hashed again")
        self.dirty = True  # rewritten whole at the next save

    def get(self, url: str, size: Any, mtime: Any) -> Optional[str]:
        entry = self.entries.get(url)
        return entry[2] if entry and entry[0] == size and entry[1] == mtime else None

    def put(self, url: str, size: Any, mtime: Any, digest: str) -> None:
        self.entries[url] = [size, mtime, digest]
        self.dirty = True

    def save(self) -> None:
        if self.dirty:
            try:
                self.store.write_small(self.path, json.dumps(self.entries, sort_keys=True).encode())
            except OSError:
                pass  # a store this process cannot write (read-only folder or bucket): hashed again next time
            self.dirty = False


def _is_entry(entry: Any) -> bool:
    return isinstance(entry, list) and len(entry) == 3 and isinstance(entry[2], str)


def observe(source: SourceDef, cache: ObservationCache) -> str:
    """The current version of ``source``; SourceError names a missing one."""
    if source.observe is not None:
        try:
            return hash_value("observed", str(source.observe()))
        except Exception as exc:  # noqa: BLE001 - user code
            raise SourceError(f"observing source '{source.key}' failed: {type(exc).__name__}: {exc}") from None

    fs, path = filesystem(source.url, source.storage_options)
    try:
        files = _list_files(fs, path)
    except FileNotFoundError:
        files = None
    if files == {} and not _is_glob(path):
        return hash_value("source-set", [])  # an existing, empty folder: a version like any other
    if not files:
        what = "matches no file" if files == {} else "not found"
        error = SourceError(
            f"source '{source.key}' {what}: {source.url}",
            hint="create it, or fix the path given to source()",
        )
        error.missing = True
        raise error
    versions = sorted((name, _file_version(fs, name, info, cache)) for name, info in files.items())
    if len(versions) == 1 and not _is_glob(path):
        local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
        return with_wal(versions[0][0], versions[0][1]) if local else versions[0][1]  # (a SQLite database's log)
    root = _glob_prefix(path)
    return hash_value("source-set", [[n[len(root):], v] for n, v in versions])


def _is_glob(path: str) -> bool:
    return any(c in path for c in _GLOB_CHARS)


def _glob_prefix(path: str) -> str:
    """The literal part of a pattern, before its first wildcard (``*``, ``?`` or ``[``); each file of
    the set is named relative to it, so that renaming a file changes the version."""
    cut = min((i for i in (path.find(c) for c in _GLOB_CHARS) if i >= 0), default=len(path))
    return path[:cut].rstrip("/")


def _list_files(fs, path: str) -> Dict[str, Mapping[str, Any]]:
    if _is_glob(path):
        found = fs.glob(path, detail=True)
    else:
        info = fs.info(path)
        found = fs.find(path, detail=True) if info.get("type") == "directory" else {info["name"]: info}
    return {name: info for name, info in found.items() if info.get("type") != "directory"}


def _file_version(fs, name: str, info: Mapping[str, Any], cache: ObservationCache) -> str:
    for field in _CHECKSUM_FIELDS:
        value = info.get(field)
        if value:
            return hash_value("checksum", field, str(value).strip('"'), info.get("size"))
    size = info.get("size")
    mtime = info.get("mtime") or info.get("LastModified") or info.get("created")
    mtime = mtime.timestamp() if hasattr(mtime, "timestamp") else mtime
    url = fs.unstrip_protocol(name)
    stamp = _stamp(info, mtime)
    known = cache.get(url, size, stamp)
    if known is not None:
        return known
    with fs.open(name, "rb") as f:
        digest = hash_file(f)
    changed = max(mtime, info.get("created") or 0) if isinstance(mtime, (int, float)) else None
    if changed is not None and time.time() - changed > _RACY_SECONDS:
        cache.put(url, size, stamp, digest)
    # else: changed within the last mtime tick or so, a same-size write could still keep (size,
    # mtime) as they are: such a file is hashed again at its next observation rather than trusted.
    return digest


def _stamp(info: Mapping[str, Any], mtime: Any) -> Any:
    """What must stay the same for a cached hash to hold: the modification time, and for a local file
    (fsspec gives its change time as ``created``) :func:`~datamake.storage.reads.local_stamp`."""
    created, ino = info.get("created"), info.get("ino")
    if isinstance(created, (int, float)) and isinstance(ino, int):
        return local_stamp(mtime, created, ino)
    return mtime


def observe_all(sources: Mapping[str, SourceDef], store, gaps: bool = False) -> Dict[str, Optional[str]]:
    """Versions of several sources, sharing one observation cache. With ``gaps``, a partition of a
    partitioned source whose file is missing has None (its dependents wait for it) instead of
    stopping everything; a missing source of another kind is always an error."""
    if not sources:
        return {}
    cache = ObservationCache(store)
    versions: Dict[str, Optional[str]] = {}
    for key, src in sources.items():
        try:
            versions[key] = observe(src, cache)
        except SourceError as exc:
            if not (gaps and exc.missing and key.endswith("]")):  # (a partition's node id: ``key[partition]``)
                raise
            versions[key] = None
    cache.save()
    return versions


def load_source(source: SourceDef) -> Any:
    """The value an asset parameter receives for ``source``."""
    load = source.load
    if callable(load):
        return load(source.url)
    if load == "path" or source.url is None:
        return source.url

    fs, path = filesystem(source.url, source.storage_options)
    if load == "csv":
        import pyarrow.csv as pacsv  # lazy: pyarrow loads only when a table is read or written

        with fs.open(path, "rb") as f:
            return pacsv.read_csv(f)
    if load == "parquet":
        import pyarrow.parquet as pq  # lazy: pyarrow loads only when a table is read or written

        return pq.read_table(path, filesystem=fs)
    with fs.open(path, "rb") as f:
        data = f.read()
    if load == "bytes":
        return data
    text = data.decode("utf-8")
    return json.loads(text) if load == "json" else text

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

import os
import tempfile
import uuid
from typing import IO, Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from .errors import StoreError
from .hashing import HashingWriter, hash_file
from .manifest import Manifest

_BATCH_LISTING_THRESHOLD = 32


class CorruptArtifactError(StoreError):
    """An artifact's bytes do not match its content hash."""


def filesystem(url: str, storage_options: Optional[Mapping[str, Any]] = None):
    """``(fs, path)`` for a URL, with an install hint when its backend is missing."""
    import fsspec

    try:
        return fsspec.core.url_to_fs(url, **dict(storage_options or {}))
    except ImportError as exc:
        scheme = url.split("://", 1)[0]
        extra = {"s3": "s3", "gs": "gcs", "gcs": "gcs"}.get(scheme, scheme)
        raise StoreError(
            f"no filesystem for '{scheme}://' URLs ({exc})",
            hint=f"install it: pip install 'datamake[{extra}]'",
        ) from None
    except ValueError as exc:
        raise StoreError(f"cannot open store URL '{url}': {exc}") from None


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

    # -- paths ---------------------------------------------------------------
    def artifact_path(self, content_hash: str) -> str:
        return f"{self.root}/artifacts/{content_hash[:2]}/{content_hash}"

    def manifest_path(self, key: str) -> str:
        return f"{self.root}/manifests/{key}.json"

    def action_path(self, provenance: str) -> str:
        return f"{self.root}/actions/{provenance[:2]}/{provenance}.json"

    def _tmp_path(self) -> str:
        return f"{self.root}/tmp/{uuid.uuid4().hex}.part"

    # -- writing -------------------------------------------------------------
    def write_artifact(self, dump: Callable[[IO[bytes]], None]) -> Tuple[str, int]:
        """Write bytes through ``dump(file)``; returns ``(content_hash, size)``.

        The bytes are hashed as they are written; they appear under their
        content hash only once complete.
        """
        if self.is_local:
            tmp = self._tmp_path()
            self.fs.makedirs(os.path.dirname(tmp), exist_ok=True)
            try:
                with open(tmp, "wb") as raw:
                    writer = HashingWriter(raw)
                    dump(writer)
                    raw.flush()
                    os.fsync(raw.fileno())
                digest, size = writer.hexdigest(), writer.size
                final = self.artifact_path(digest)
                if self._intact_size(final, size):
                    os.unlink(tmp)
                else:
                    os.makedirs(os.path.dirname(final), exist_ok=True)
                    os.replace(tmp, final)
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
                self.fs.put_file(staged.name, final)
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
        else:
            self.fs.put_file(local_path, final)

    def _intact_size(self, path: str, size: int) -> bool:
        try:
            return self.fs.size(path) == size
        except (FileNotFoundError, OSError):
            return False

    def _atomic_write(self, path: str, data: bytes) -> None:
        if self.is_local:
            tmp = self._tmp_path()
            os.makedirs(os.path.dirname(tmp), exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.replace(tmp, path)
        else:  # a single PUT is atomic on object stores
            self.fs.pipe_file(path, data)

    def write_small(self, path: str, data: bytes) -> None:
        """Atomically replace a small file under the root (bookkeeping, not artifacts)."""
        self._atomic_write(path, data)

    def commit(self, manifest: Manifest) -> None:
        """Record ``manifest`` in the action cache, then make it current (the commit point)."""
        data = manifest.to_json()
        self._atomic_write(self.action_path(manifest.provenance), data)
        self._atomic_write(self.manifest_path(manifest.key), data)

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
        for path, raw in self._cat_many(list(paths)).items():
            result[paths[path]] = self._parse_manifest(path, raw)
        return result

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
        try:
            raw = self.fs.cat(paths, on_error="return")
        except Exception as exc:  # noqa: BLE001 - any transport failure
            raise StoreError(f"cannot read the store at {self.url}: {exc}") from None
        if not isinstance(raw, dict):
            raw = {paths[0]: raw}
        out = {}
        for p, v in raw.items():
            if isinstance(v, FileNotFoundError):
                continue
            if isinstance(v, BaseException):
                raise StoreError(f"cannot read {p}: {v}")
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
        if len(hashes) >= _BATCH_LISTING_THRESHOLD:
            try:
                listing = self.fs.find(f"{self.root}/artifacts", detail=True)
            except FileNotFoundError:
                listing = {}
            sizes = {os.path.basename(p.rstrip("/")): info.get("size") for p, info in listing.items()}
            return {h: sizes.get(h) for h in hashes}
        out = {}
        for h in hashes:
            try:
                out[h] = self.fs.size(self.artifact_path(h))
            except (FileNotFoundError, OSError):
                out[h] = None
        return out

    def lookup_action(self, provenance: str) -> Optional[Manifest]:
        """The manifest recorded for ``provenance`` if its artifact is still there."""
        path = self.action_path(provenance)
        raw = self._cat_many([path]).get(path)
        if raw is None:
            return None
        manifest = self._parse_manifest(path, raw)
        if manifest is None or not self._intact_size(self.artifact_path(manifest.artifact), manifest.size):
            return None
        return manifest

    def open_artifact(self, content_hash: str) -> IO[bytes]:
        try:
            return self.fs.open(self.artifact_path(content_hash), "rb")
        except FileNotFoundError:
            raise CorruptArtifactError(f"artifact {content_hash} is missing from {self.url}") from None

    def verify_artifact(self, content_hash: str) -> bool:
        """Re-hash a stored artifact; True when its bytes match its name."""
        try:
            with self.open_artifact(content_hash) as f:
                return hash_file(f) == content_hash
        except CorruptArtifactError:
            return False

    def load(self, manifest: Manifest, verify: bool = True) -> Any:
        """Load an artifact's value with its IO manager, checking its hash first."""
        from . import iomanagers

        with self.open_artifact(manifest.artifact) as f:
            if verify:
                actual = hash_file(f)
                if actual != manifest.artifact:
                    raise CorruptArtifactError(
                        f"artifact of '{manifest.key}' is corrupt (hash {actual[:12]}, expected {manifest.artifact[:12]})",
                        hint="run `datamake make` to rebuild it",
                    )
                f.seek(0)
            return iomanagers.get(manifest.io_manager).load(f)

    def clean_tmp(self, older_than: float = 3600.0) -> int:
        """Remove leftovers of killed writers; returns how many were removed."""
        import time

        removed = 0
        try:
            entries = self.fs.ls(f"{self.root}/tmp", detail=True)
        except FileNotFoundError:
            return 0
        now = time.time()
        for entry in entries:
            mtime = entry.get("mtime") or entry.get("LastModified")
            stamp = mtime.timestamp() if hasattr(mtime, "timestamp") else mtime
            if stamp is None or now - float(stamp) > older_than:
                try:
                    self.fs.rm_file(entry["name"])
                    removed += 1
                except FileNotFoundError:
                    pass
        return removed

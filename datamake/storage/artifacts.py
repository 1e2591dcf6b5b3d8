"""Content-addressed artifacts on fsspec: written under their xxh3-128 hash once complete, checked
against it whenever they are read.

Layout under the root URL::

    artifacts/ab/abcdef…     immutable bytes, named by their content hash
    tmp/                     writes in progress; never read as state
"""
from __future__ import annotations

import io
import os
from typing import IO, TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from datamake.core.errors import ConfigError, StoreError
from datamake.core.hashing import HashingWriter, hash_bytes, hash_file
from datamake.core.manifest import Manifest
from datamake.storage import iomanagers
from datamake.storage.fsio import content_validator, filesystem, is_local, local_root, upload_options
from datamake.storage.localfiles import LocalFiles, clean_tmp, durable
from datamake.storage.state import MTIME_BACKDATE_NS, ArtifactState, Stat

if TYPE_CHECKING:  # a local make lists and reads no objects in batches: loaded where first used
    from datamake.storage.objects import Objects
    from datamake.storage.scratch import Scratch

BATCH_LISTING_THRESHOLD = 32  # from this many objects on, one paged listing beats a request each
# Values of at most this many bytes are kept in their manifest (and action entry), not in a file of their
# own: one file written per built asset instead of three (an artifact, an action entry, a manifest link).
# DATAMAKE_INLINE_LIMIT=N sets another limit; 0 stores every value as a file.
INLINE_LIMIT = 2048


def inline_limit() -> Optional[int]:
    """The largest value kept in its manifest (None: none is), from ``DATAMAKE_INLINE_LIMIT``; a run reads
    it once, in its coordinator, and hands it to every worker (``AssetTask.inline_limit``)."""
    raw = os.environ.get("DATAMAKE_INLINE_LIMIT", "")
    try:
        limit = int(raw) if raw else INLINE_LIMIT
    except ValueError:
        raise ConfigError(f"DATAMAKE_INLINE_LIMIT={raw!r} is not a number of bytes",
                         hint="set it to a whole number such as 2048, or 0 to store every value as a file") from None
    return limit if limit > 0 else None


class CorruptArtifactError(StoreError):
    """An artifact's bytes do not match its content hash."""


class ArtifactStore:
    """The artifacts under one fsspec URL; :class:`~datamake.storage.store.Store` adds manifests to it."""

    def __init__(self, url: str, storage_options: Optional[Mapping[str, Any]] = None):
        self.url = url
        self.storage_options = dict(storage_options or {})
        self._objects: Optional[Objects] = None
        root = local_root(url, self.storage_options)
        if root is not None:  # opened on first use: a no-op on a local store never imports fsspec
            self._fs, self.root, self.is_local = None, root, True
        else:
            self._fs, root = filesystem(url, self.storage_options)
            self.root, self.is_local = root.rstrip("/"), is_local(self._fs)
        self.files = LocalFiles(self.root)
        self._state: Optional[ArtifactState] = None

    @property
    def fs(self):
        """The fsspec filesystem of the store (for a local folder, fsspec's ``LocalFileSystem``)."""
        if self._fs is None:
            self._fs, _root = filesystem(self.url, self.storage_options)
        return self._fs

    @property
    def objects(self) -> Objects:
        """Batched reads and listings of the store's objects."""
        if self._objects is None:
            from datamake.storage.objects import Objects  # lazy: a build on a local folder lists nothing

            self._objects = Objects(self.fs, self.url, self.is_local)
        return self._objects

    @property
    def state(self) -> Optional[ArtifactState]:
        """The local record of verified artifacts (local stores only)."""
        if self._state is None and self.is_local:
            self._state = ArtifactState(f"{self.root}/state.sqlite")
        return self._state

    def artifact_path(self, content_hash: str) -> str:
        return f"{self.root}/artifacts/{content_hash[:2]}/{content_hash}"

    def write_artifact(self, dump: Callable[[IO[bytes]], None]) -> Tuple[str, int]:
        """Write bytes through ``dump(file)`` to a file; returns ``(content_hash, size)``.

        The bytes are hashed as they are written; they appear under their
        content hash only once complete.
        """
        digest, size, _ = self.write_value(dump, limit=None)
        return digest, size

    def write_value(self, dump: Callable[[IO[bytes]], None],
                    limit: Optional[int] = INLINE_LIMIT) -> Tuple[str, int, Optional[bytes]]:
        """Like :meth:`write_artifact`, but bytes that stay within ``limit`` (None: no limit) are
        returned (third item) instead of stored, for the manifest to keep: no file for a small value."""
        spool = _Spool(limit, self)
        writer = HashingWriter(spool)
        try:
            dump(writer)
            digest, size = writer.hexdigest(), writer.size
            if spool.part is None:
                if limit is not None:
                    return digest, size, spool.getvalue()
                spool.open().write(spool.getvalue())
            spool.part.commit(digest, size)
            return digest, size, None
        finally:
            if spool.part is not None:  # (a value kept inline has none)
                spool.part.discard()

    def put_artifact_file(self, local_path: str, content_hash: str) -> None:
        """Upload an already-hashed local file under its content hash."""
        final = self.artifact_path(content_hash)
        if self.is_local:
            tmp = self.files.tmp_path()
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
        return self.state.verified_size(content_hash, self.artifact_path(content_hash)) == size

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

    def artifact_sizes(self, hashes: Iterable[str], few: bool = False) -> Dict[str, Optional[int]]:
        """The stored size of each artifact (None where it is missing), in as few calls as possible.
        ``few``: a few of the store's many artifacts (a local store then reads only their records)."""
        hashes = list(dict.fromkeys(hashes))
        if self.is_local:  # one stat per artifact; hashed only where the stat moved since it was verified
            sizes = self.state.verified_sizes(((h, self.artifact_path(h)) for h in hashes), few)
            self.save_state()
            return sizes
        if len(hashes) >= BATCH_LISTING_THRESHOLD:  # one paged listing beats a HEAD per artifact
            sizes = {os.path.basename(p): info["size"] for p, info in self.listing("artifacts").items()}
            return {h: sizes.get(h) for h in hashes}
        return dict(zip(hashes, self.sizes([self.artifact_path(h) for h in hashes])))  # a few HEADs, concurrently

    def sizes(self, paths: List[str]) -> List[Optional[int]]:
        """The size of each object (None where it does not exist): one request each, run concurrently."""
        return self.objects.sizes(paths)

    def stats(self, paths: List[str]) -> List[Optional[Dict[str, Any]]]:
        """``{"size", "validator"}`` of each object (None where it does not exist), concurrently."""
        return self.objects.stats(paths)

    def listing(self, prefix: str) -> Dict[str, Dict[str, Any]]:
        """Every object under ``prefix`` (a folder of the store) with ``size`` and ``validator``, listed in pages."""
        return {p: {"size": info.get("size"), "validator": content_validator(info)}
                for p, info in self.objects.files_under(f"{self.root}/{prefix}").items()}

    def open_value(self, manifest: Manifest) -> IO[bytes]:
        """The stored bytes of ``manifest``'s value: its inline bytes, else its artifact file (unchecked)."""
        data = _inline(manifest)
        return io.BytesIO(data) if data is not None else self.open_artifact(manifest.artifact)

    def value_intact(self, manifest: Manifest) -> bool:
        """True when ``manifest``'s value can be read back intact (see :meth:`artifact_intact`)."""
        if manifest.inline is not None:
            return manifest.inline_intact
        return self.artifact_intact(manifest.artifact, manifest.size)

    def values_intact(self, manifests: Iterable[Manifest]) -> Dict[int, bool]:
        """:meth:`value_intact` for many manifests (keyed by ``id(manifest)``), the files looked at in one batch."""
        manifests = list(manifests)
        sizes = self.artifact_sizes(m.artifact for m in manifests if m.inline is None)
        return {id(m): self.value_intact(m) if m.inline is not None else sizes.get(m.artifact) == m.size
                for m in manifests}

    def open_artifact(self, content_hash: str) -> IO[bytes]:
        try:
            return self.fs.open(self.artifact_path(content_hash), "rb")
        except FileNotFoundError:
            raise CorruptArtifactError(f"artifact {content_hash} is missing from {self.url}",
                                       hint="run `datamake make` to rebuild it") from None

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
        if manifest.inline is None:  # bad inline bytes say nothing about a file of that name
            self.discard_artifact(manifest.artifact)
        return CorruptArtifactError(
            f"artifact of '{manifest.key}' is corrupt (hash {actual[:12]}, expected {manifest.artifact[:12]})",
            hint="run `datamake make` to rebuild it",
        )

    def read_artifact(self, manifest: Manifest) -> bytes:
        """An artifact's bytes, checked against its hash (for small artifacts: they are held in memory)."""
        with self.open_value(manifest) as f:
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
        with self.open_value(manifest) as src, open(target, "wb") as out:
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

    def load_private(self, manifest: Manifest, scratch: "Scratch") -> Any:
        """An input's value for one consumer. A ``file`` is copied into ``scratch`` and a ``folder``
        extracted there: what the consumer does to the path never reaches the store or other consumers,
        and the copy is removed with ``scratch``. Any other value is loaded."""
        if manifest.io_manager == "file":
            return self.copy_artifact(manifest, scratch.folder())
        if manifest.io_manager == "folder":
            return scratch.adopt(self.load(manifest))
        return self.load(manifest)

    def load(self, manifest: Manifest, verify: bool = True) -> Any:
        """Load an artifact's value with its IO manager, checking its hash first."""
        if manifest.inline is not None:
            return iomanagers.reader(manifest.io_manager).load(io.BytesIO(self.read_artifact(manifest)))
        if not self.is_local:
            return self._load_remote(manifest, verify)
        with self.open_artifact(manifest.artifact) as f:
            if verify:  # a stat proves nothing about bit rot: what a consumer reads is always hashed
                actual = hash_file(f)
                if actual != manifest.artifact:
                    raise self._corrupt(manifest, actual)
                f.seek(0)
            return iomanagers.reader(manifest.io_manager).load(f)

    def _load_remote(self, manifest: Manifest, verify: bool) -> Any:
        """Download once into a local temporary file (hashing as it streams), then load from there."""
        import tempfile  # lazy: a no-op reads no value

        with tempfile.TemporaryFile(prefix="datamake-") as local:
            writer = HashingWriter(local)
            with self.open_artifact(manifest.artifact) as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    writer.write(chunk)
            if verify and writer.hexdigest() != manifest.artifact:
                raise self._corrupt(manifest, writer.hexdigest())
            local.seek(0)
            return iomanagers.reader(manifest.io_manager).load(local)

    def clean_tmp(self, older_than: float = 3600.0) -> int:
        """Remove leftovers of killed writers; returns how many were removed (see :func:`clean_tmp`)."""
        folder = f"{self.root}/tmp"
        if self.is_local and not _listable(folder):
            return 0  # nothing left behind: no need to open the filesystem
        return clean_tmp(self.fs, folder, older_than)


def _inline(manifest: Manifest) -> Optional[bytes]:
    """``manifest``'s inline bytes (None when it has none); bad base64 reads as bytes that fail their
    hash check, so the value is rebuilt, never trusted."""
    try:
        return manifest.inline_bytes()
    except ValueError:
        return b"\x00corrupt"


class _Spool:
    """Where a value is dumped: its first ``limit`` bytes in memory, moved to a :class:`_Part` of ``store``
    (made then: a value kept inline has none) once past it."""

    def __init__(self, limit: Optional[int], store: "ArtifactStore"):
        self._buffer = bytearray()
        self._limit = -1 if limit is None else limit
        self._store = store
        self.part: Optional[_Part] = None
        self.file: Optional[IO[bytes]] = None

    def open(self) -> IO[bytes]:
        """The part's file, the part made at the first call."""
        if self.part is None:
            self.part = _Part(self._store)
        return self.part.open()

    def write(self, data) -> int:
        if self.file is None:
            if len(self._buffer) + len(data) <= self._limit:
                self._buffer += data
                return len(data)
            self.file = self.open()
            self.file.write(self._buffer)
            self._buffer = bytearray()
        return self.file.write(data)

    def flush(self) -> None:
        if self.file is not None:
            self.file.flush()

    def getvalue(self) -> bytes:
        return bytes(self._buffer)


class _Part:
    """An artifact being written: a temporary file (in the store's ``tmp/``, or a local one for object
    storage) that :meth:`commit` moves under its content hash; :meth:`discard` removes what is left."""

    def __init__(self, store: "ArtifactStore"):
        self.store = store
        self.file: Optional[IO[bytes]] = None
        self.path: Optional[str] = None

    def open(self) -> IO[bytes]:
        if self.file is None:
            if self.store.is_local:
                self.path = self.store.files.tmp_path()
                self.store.files.makedirs(os.path.dirname(self.path))
                self.file = self.store.files.create(self.path)
            else:  # object storage: stage in a local temporary file, then upload under the hash
                import tempfile  # lazy: a no-op writes no value

                self.file = tempfile.NamedTemporaryFile(prefix="datamake-", suffix=".part")
        return self.file

    def commit(self, digest: str, size: int) -> None:
        store, raw = self.store, self.open()
        raw.flush()
        final = store.artifact_path(digest)
        if not store.is_local:
            if not store._intact_size(final, size):
                store.fs.put_file(raw.name, final, **upload_options(store.fs))
            return
        durable(raw)
        st = os.fstat(raw.fileno())
        raw.close()
        if store.artifact_intact(digest, size):
            return
        # Nobody else knows the part: its bytes are the ones just hashed. Backdating its mtime
        # makes any later change to the artifact show in its stat, and a rename keeps both.
        mtime = st.st_mtime_ns - MTIME_BACKDATE_NS
        os.utime(self.path, ns=(st.st_atime_ns, mtime))
        # (where the file system keeps coarser times than this, the record will not match: hashed once)
        store.files.replace(self.path, final)
        store.state.record(digest, (st.st_size, mtime, st.st_ino))

    def discard(self) -> None:
        if self.file is not None:
            self.file.close()  # a NamedTemporaryFile removes itself
        if self.path is not None and os.path.exists(self.path):
            os.unlink(self.path)


def _listable(folder: str) -> bool:
    """True when the local ``folder`` exists and holds anything."""
    try:
        with os.scandir(folder) as entries:
            return any(True for _ in entries)
    except OSError:
        return False

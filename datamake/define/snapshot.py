"""Source snapshots: the exact text of each project module as it was imported.

Code versions must describe the code that runs, not the files on disk at the
moment they are hashed: a file edited after it was imported (while a second
``make`` waits for the store lock, or in a long-lived process) would otherwise
pair the new version with a value computed by the old code. So project modules
are imported through :class:`SnapshotLoader`, which

- reads the source once, compiles (or reuses bytecode) from exactly those
  bytes, and keeps them: ``linecache`` serves them to the code-version hashing
  and to tracebacks, and they are never re-read from disk;
- checks cached bytecode against the source's *hash*, never its mtime, so an
  edit within the same second at the same size cannot run a stale ``.pyc``.

:func:`changed_modules` tells which snapshots no longer match the disk, so a
long-lived process (or a Dask worker) can re-import the project before a run. A module
whose import read a data file (``RATE = json.load(open("rates.json"))``) counts as
changed when that file does: the value it holds came from the old file.
"""
from __future__ import annotations

import _imp
import importlib.machinery
import importlib.util
import io
import marshal
import os
import sys
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from datamake._paths import cache_dir, keep_newest
from datamake.core.hashing import hash_bytes
from datamake.core.records import record
from datamake.define import openwatch
from datamake.define.lazymodules import file_of

_CHECKED_HASH_FLAGS = 0b11  # a hash-based .pyc whose hash is checked against the source


@record(frozen=True)
class Snapshot:
    """What one project module's source was when it was imported."""

    module: str
    path: str
    digest: str  # xxh3-128 of the source bytes
    size: int
    mtime_ns: int


_snapshots: Dict[str, Snapshot] = {}  # path -> snapshot
_lines: Dict[str, List[str]] = {}  # path -> source lines, as imported
_roots: List[str] = []
_generation = 0  # counts the changes to the set of snapshots (what is remembered of them is valid for one)
_definitions: Dict[str, Tuple[str, str]] = {}  # definitions module file -> (its name, its project's real folder/)
# datamake itself (the package folder, two levels up from here) is never a project module
_OWN_PACKAGE = os.path.dirname(os.path.dirname(os.path.realpath(__file__))) + os.sep


class SnapshotLoader(importlib.machinery.SourceFileLoader):
    """A source loader that keeps the source it compiled and trusts only hash-checked bytecode,
    and notes the files the module's code opens while it is imported."""

    def exec_module(self, module) -> None:
        if not _noting_reads:
            return super().exec_module(module)
        path = os.path.abspath(self.path)
        _reads[path] = {}  # imported afresh: what it reads now is what counts
        openwatch.push(lambda event, args: event == openwatch.OPEN and _saw_open(path, *args[:3]))  # and what the modules it imports read
        try:
            super().exec_module(module)
        finally:
            openwatch.pop()

    def get_code(self, fullname: str):
        path = self.get_filename(fullname)
        stat = os.stat(path)
        source = self.get_data(path)
        _remember(fullname, path, source, stat)
        own = importlib.util.cache_from_source(path)
        code = _read_pyc(own, source)
        if code is not None:
            return code
        shared = _shared_pyc(fullname, source)
        code = _read_pyc(shared, source)
        if code is not None:  # compiled from the same bytes in another folder (a copy, a fresh clone)
            _imp._fix_co_filename(code, path)
            return code
        code = self.source_to_code(source, path)
        if not sys.dont_write_bytecode:
            _write_pyc(own, source, code)
            _write_pyc(shared, source, code)
            _prune_shared(fullname)
        return code


_SHARED_KEPT = 4  # versions of one module's bytecode the machine keeps (a branch switched back and forth)


def _shared_pyc(module: str, source: bytes) -> str:
    """The machine's bytecode of module ``module`` compiled from exactly ``source``: a fresh copy of a
    project, whose folder has no ``__pycache__`` yet, compiles nothing that another folder already did,
    even after a few other versions of the module were compiled meanwhile (a branch switched back)."""
    return os.path.join(cache_dir(), "bytecode",
                        f"{module}.{importlib.util.source_hash(source).hex()}.{sys.implementation.cache_tag}.pyc")


def _prune_shared(module: str) -> None:
    """Keep the :data:`_SHARED_KEPT` newest versions of ``module``'s shared bytecode (a speed-up only)."""
    folder = os.path.join(cache_dir(), "bytecode")
    suffix = f".{sys.implementation.cache_tag}.pyc"
    try:
        with os.scandir(folder) as it:
            versions = [e for e in it if e.name.endswith(suffix)
                        and e.name[:-len(suffix)].rpartition(".")[0] == module]
    except OSError:
        return
    keep_newest(versions, _SHARED_KEPT)


def _read_pyc(cached: str, source: bytes):
    """The code in a hash-checked .pyc written from exactly ``source`` (None: none, or not for these bytes)."""
    try:
        with open(cached, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if data[:4] != importlib.util.MAGIC_NUMBER or int.from_bytes(data[4:8], "little") != _CHECKED_HASH_FLAGS:
        return None
    if data[8:16] != importlib.util.source_hash(source):
        return None
    try:
        return marshal.loads(data[16:])
    except (EOFError, ValueError, TypeError):
        return None


def _write_pyc(cached: str, source: bytes, code) -> None:
    """Write a hash-checked .pyc atomically; a read-only folder just has no cache."""
    data = (importlib.util.MAGIC_NUMBER + _CHECKED_HASH_FLAGS.to_bytes(4, "little")
            + importlib.util.source_hash(source) + marshal.dumps(code))
    tmp = f"{cached}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, cached)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _remember(module: str, path: str, source: bytes, stat: os.stat_result) -> None:
    global _generation
    _generation += 1
    path = os.path.abspath(path)
    text = _source_text(source)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    _snapshots[path] = Snapshot(module, path, hash_bytes(source), stat.st_size, stat.st_mtime_ns)
    _lines[path] = lines
    _prime(path, lines)


def _source_text(source: bytes) -> str:
    """``importlib.util.decode_source(source)``: a UTF-8 source that declares no encoding (no BOM, no
    ``coding`` in its first two lines) is decoded without importing ``tokenize``, which looks for one."""
    if not source.startswith(b"\xef\xbb\xbf") and not any(b"coding" in line for line in source.split(b"\n", 2)[:2]):
        try:
            return io.IncrementalNewlineDecoder(None, True).decode(source.decode("utf-8"))
        except UnicodeDecodeError:
            pass  # decode_source raises what it raises
    return importlib.util.decode_source(source)


# -- files read while a project module is imported ----------------------------------------
FileStat = Optional[Tuple[int, int, int, int]]  # (size, mtime_ns, ctime_ns, inode); None: missing
_reads: Dict[str, Dict[str, FileStat]] = {}  # module path -> {file it opened at import: its stat then}
CODE_SUFFIXES = openwatch.CODE_SUFFIXES
_SETTLED_SECONDS = 2.0  # a file changed this recently may change again within its timestamp's tick
_INSTALLED = tuple({prefix + os.sep for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix)})
_noting_reads = True


def note_import_reads(on: bool) -> None:
    """Whether to note the files project modules read at import (on by default). A process that
    loads the project once and exits (a CLI command) turns it off: no later load asks what changed,
    and the audit hook it needs would cost every audited call of the process a Python call."""
    global _noting_reads
    _noting_reads = on


def _saw_open(module_path: str, file, mode, flags) -> None:
    if isinstance(file, int) or file is None:
        return  # a file descriptor: opened before, by path
    if mode is not None:
        if "r" not in mode and "+" not in mode:
            return  # written, not read
    elif flags is not None and flags & os.O_ACCMODE == os.O_WRONLY:
        return
    path = os.path.abspath(os.fsdecode(file))
    if path.endswith(CODE_SUFFIXES) or path.startswith(_INSTALLED):
        return  # code is snapshotted or imported; installed packages' own data is theirs
    _reads[module_path].setdefault(path, _file_stat(path))


def note_run_read(module_paths: Iterable[str], path: str) -> None:
    """Note that code of these project modules read ``path`` (a file or a folder) while an asset ran. A
    helper may keep what it read (``functools.lru_cache``), so a long-lived process imports the module
    afresh once the file changes, as for a file read at import."""
    if not _noting_reads:
        return
    for module_path in module_paths:
        if module_path in _snapshots:
            _reads.setdefault(module_path, {}).setdefault(path, _file_stat(path))


def _file_stat(path: str) -> FileStat:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def _read_file_changed(path: str, then: FileStat) -> bool:
    """Did ``path`` change since a module read it at import? One changed too recently to tell (its
    timestamps may not have moved yet for a write in the same tick) counts as changed."""
    now = _file_stat(path)
    if now != then:
        return True
    return then is not None and time.time_ns() - then[2] < _SETTLED_SECONDS * 1e9


def import_reads() -> Dict[str, List[str]]:
    """{project module path: the data files its import opened for reading}."""
    return {path: sorted(files) for path, files in _reads.items() if files}


def _prime(path: str, lines: List[str]) -> None:
    """Put a snapshot's lines in ``linecache``, once it is imported (it imports ``tokenize``: a build
    that formats no traceback and analyses no source needs neither); importing it later puts them all
    (:class:`_LinecacheLoader`)."""
    cache = _line_cache()
    if cache is not None:
        # An entry whose mtime is None is never re-read by linecache.checkcache().
        cache[path] = (sum(map(len, lines)), None, lines, path)


def refresh_linecache() -> None:
    """Put every snapshot back into ``linecache`` (after someone called ``linecache.clearcache``)."""
    cache = _line_cache()
    if cache is None:
        return  # (importing linecache puts them all: _LinecacheLoader)
    for path, lines in list(_lines.items()):
        entry = cache.get(path)
        if entry is None or entry[2] is not lines:
            _prime(path, lines)


def _line_cache() -> Optional[Dict[str, Any]]:
    """``linecache.cache``; None while linecache is not imported."""
    return getattr(sys.modules.get("linecache"), "cache", None)


class _LinecacheLoader(importlib.machinery.SourceFileLoader):
    """Imports ``linecache`` and puts every snapshot in it (see :func:`_prime`)."""

    def exec_module(self, module) -> None:
        super().exec_module(module)
        refresh_linecache()


class _SnapshotFinder:
    """Hands modules that live under a project root to :class:`SnapshotLoader` (a meta path finder:
    ``find_spec`` is all the import system asks of one; importlib.abc would cost ~10 ms at start-up)."""

    def find_spec(self, fullname, path=None, target=None):
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        if fullname == "linecache" and spec.origin:
            spec.loader = _LinecacheLoader(fullname, spec.origin)
            return spec
        if not is_under_roots(spec.origin):
            return spec
        spec.loader = SnapshotLoader(fullname, spec.origin)
        return spec


_finder = _SnapshotFinder()


def is_under_roots(path: Optional[str], real_folders: Optional[Dict[str, str]] = None) -> bool:
    """True for a file under a project root that is not part of an installed package. ``real_folders``:
    the real path of each folder resolved so far, for a caller that asks about many files at once."""
    if not path:
        return False
    return real_under_roots(os.path.realpath(path) if real_folders is None else real_path(path, real_folders))


_PACKAGE_FOLDERS = tuple(f"{os.sep}{name}{os.sep}" for name in ("site-packages", "dist-packages"))


def in_package_folder(real: str) -> bool:
    """Is the resolved path ``real`` in a folder installed packages go to (a folder named
    ``site-packages``, not one whose name merely holds it: ``site-packages-audit/`` is a project)?"""
    return _PACKAGE_FOLDERS[0] in real or _PACKAGE_FOLDERS[1] in real


def real_under_roots(real: str) -> bool:
    """:func:`is_under_roots` of a path already resolved (``os.path.realpath``)."""
    if in_package_folder(real) or real.startswith(_OWN_PACKAGE):
        return False
    return any(real.startswith(root) for root in _roots)


def real_path(path: str, real_folders: Dict[str, str], is_link: Optional[bool] = None, absolute: bool = False) -> str:
    """``os.path.realpath(path)``, resolving each folder once: a file that is no link is where its
    folder really is (``is_link``: whether ``path`` is a link, when the caller has its ``lstat``;
    ``absolute``: ``path`` is absolute and normalized already)."""
    folder, name = os.path.split(path if absolute else os.path.abspath(path))
    real = os.path.join(_real_folder(folder, real_folders), name)
    if is_link is None:
        is_link = os.path.islink(real)
    return os.path.realpath(real) if is_link else real


def _real_folder(folder: str, real_folders: Dict[str, str]) -> str:
    """``os.path.realpath`` of an absolute, normalized ``folder``, from its parent's (kept in
    ``real_folders``): the folders of many files share their parents, each resolved once."""
    real = real_folders.get(folder)
    if real is None:
        parent, name = os.path.split(folder)
        if not name:  # the root
            real = folder
        else:
            real = os.path.join(_real_folder(parent, real_folders), name)
            if os.path.islink(real):
                real = os.path.realpath(real)
        real_folders[folder] = real
    return real


def install(roots: Iterable[str]) -> None:
    """Import modules under ``roots`` through snapshots from now on (idempotent)."""
    for root in roots:
        real = os.path.realpath(root) + os.sep
        if real not in _roots:
            _roots.append(real)
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def spec_for_file(name: str, path: str):
    """A module spec that imports ``path`` through a snapshot."""
    return importlib.util.spec_from_file_location(name, path, loader=SnapshotLoader(name, path))


def snapshot_of(path: str) -> Optional[Snapshot]:
    return _snapshots.get(os.path.abspath(path))


def snapshots() -> List[Tuple[Snapshot, str]]:
    """Every project module's snapshot with its source text, as imported."""
    return [(snap, "".join(_lines.get(path, ()))) for path, snap in list(_snapshots.items())]


def note_definitions(project_dir: str, path: str, module: str) -> None:
    """Remember that module ``module`` (file ``path``) holds the definitions of the project in ``project_dir``."""
    global _generation
    _generation += 1
    _definitions[os.path.abspath(path)] = (module, os.path.realpath(project_dir) + os.sep)


def definitions_of(path: str) -> List[Tuple[str, str]]:
    """(file, module name) of the definitions module of each loaded project that the file ``path`` is in."""
    real = os.path.realpath(path)
    return [(file, module) for file, (module, folder) in _definitions.items() if real.startswith(folder)]


def generation() -> int:
    """A number that changes whenever a module is snapshotted or the snapshots are forgotten."""
    return _generation


def source_digest(path: str) -> Optional[str]:
    """The digest of the bytes a snapshotted module was compiled from (None for any other file)."""
    snap = _snapshots.get(path) or _snapshots.get(os.path.abspath(path))
    return None if snap is None else snap.digest


def changed_modules() -> List[Snapshot]:
    """Snapshots whose file changed on disk (or vanished) since it was imported.

    A stat that still matches is trusted; otherwise the content decides, so a
    ``touch`` is not a change.
    """
    changed = []
    for snap in list(_snapshots.values()):
        reads = _reads.get(snap.path)
        if reads and any(_read_file_changed(path, then) for path, then in list(reads.items())):
            changed.append(snap)
            continue
        try:
            stat = os.stat(snap.path)
        except OSError:
            changed.append(snap)
            continue
        if stat.st_size == snap.size and stat.st_mtime_ns == snap.mtime_ns:
            continue
        try:
            with open(snap.path, "rb") as f:
                digest = hash_bytes(f.read())
        except OSError:
            changed.append(snap)
            continue
        if digest != snap.digest:
            changed.append(snap)
    return changed


def forget_all(roots: Iterable[str] = ()) -> List[str]:
    """Drop every project module from ``sys.modules`` so the next import reads the disk again.

    Project modules are the snapshotted ones and any other module loaded from a file under
    ``roots`` (imported before snapshots were installed). Returns the module names dropped;
    objects already holding the old modules keep them.
    """
    global _generation
    _generation += 1
    under = tuple(os.path.realpath(r) + os.sep for r in roots)
    dropped = []
    for name, module in list(sys.modules.items()):
        path = os.path.abspath(file_of(module) or "")
        if not path.endswith(".py") or path.startswith(_OWN_PACKAGE):
            continue
        if path in _snapshots or (under and os.path.realpath(path).startswith(under)):
            del sys.modules[name]
            dropped.append(name)
    cache = _line_cache() or {}
    for path in list(_snapshots):
        cache.pop(path, None)
    _snapshots.clear()
    _lines.clear()
    _reads.clear()
    _definitions.clear()
    importlib.invalidate_caches()
    return dropped


def digests(relative_to: str) -> Tuple[Tuple[str, str], ...]:
    """(path relative to ``relative_to``, source digest) of every snapshot, sorted."""
    return tuple(sorted((os.path.relpath(s.path, relative_to), s.digest) for s in _snapshots.values()))


def mismatches(expected: Sequence[Tuple[str, str]], relative_to: str) -> List[str]:
    """Modules whose code here may differ from ``expected`` (another process's :func:`digests`).

    A module imported here from a different source is one; so is a module loaded here from the
    same file but not through a snapshot, whose source is unknown.
    """
    here = dict(digests(relative_to))
    loaded = None  # the files of every loaded module: only wanted for a module with no snapshot here
    differ = []
    for path, digest in expected:
        if path in here:
            if here[path] != digest:
                differ.append(path)
            continue
        if loaded is None:
            loaded = {os.path.abspath(file_of(m) or "") for m in list(sys.modules.values())}
        if os.path.abspath(os.path.join(relative_to, path)) in loaded:
            differ.append(path)
    return sorted(differ)

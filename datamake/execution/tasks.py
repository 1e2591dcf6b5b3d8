"""One unit of work for a worker: load the inputs, call the function, store the value.

``run_task`` is a plain module-level function over picklable values, so the
same code runs in-process, in a thread, in a child process or on a Dask worker.
Workers write only immutable, content-addressed artifacts; manifests and the
action cache are written by the coordinator.
"""
from __future__ import annotations

import io
import os
import re
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from datamake.core.records import filled, record
from datamake.storage import iomanagers, reads as read_files
from datamake.define import openwatch, outputs as results_meta, snapshot
from datamake.core.errors import DatamakeError
from datamake.core.hashing import data_version_of, hash_value
from datamake.define.loader import definition_roots, forget_project_code, format_user_traceback, load_definitions
from datamake.define.metricvalues import metric_values
from datamake.define.sources import Output, ResourceDef, source_at
from datamake.core.keys import node_id
from datamake.core.manifest import Manifest
from datamake.storage.observe import load_source
from datamake.execution.concat import concat_inputs
from datamake.storage.artifacts import INLINE_LIMIT
from datamake.storage.folderio import INPUT_COPY_PREFIX
from datamake.storage.store import CorruptArtifactError, Store
from datamake.execution import helperreads
from datamake.execution.context import AssetContext
from datamake.execution.results import TaskResult

_stores: Dict[Tuple[str, str], Store] = {}
_VALUE_CACHE_LIMIT = 4096
_VALUE_CACHE_MAX_BYTES = 1 << 20  # artifacts up to this size are shared in memory (in-process, threads)
_SHARED_BYTES_BUDGET = 64 << 20
_MISSING = object()


class _SharedValues:
    """What in-process consumers share: the stored bytes of small artifacts, and values decoded
    from them that nothing can change (numbers, strings, tuples of those, Arrow tables).

    A consumer never receives the producer's own object, nor one another consumer could
    mutate: it gets what the artifact gives when its IO manager reads it back, decoded from
    these bytes (the very bytes that were hashed and stored) without touching the disk.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blobs: "OrderedDict[Tuple[str, str], bytes]" = OrderedDict()
        self._blob_bytes = 0
        self._values: Dict[Tuple[str, str], Any] = {}

    def value(self, key: Tuple[str, str]) -> Any:
        return self._values.get(key, _MISSING)

    def blob(self, key: Tuple[str, str]) -> Optional[bytes]:
        return self._blobs.get(key)

    def put_blob(self, key: Tuple[str, str], blob: bytes) -> None:
        with self._lock:
            if key in self._blobs:
                return
            self._blobs[key] = blob
            self._blob_bytes += len(blob)
            while self._blob_bytes > _SHARED_BYTES_BUDGET and self._blobs:
                _, dropped = self._blobs.popitem(last=False)
                self._blob_bytes -= len(dropped)

    def keep_value(self, key: Tuple[str, str], value: Any) -> None:
        if not _frozen(value):
            return
        with self._lock:
            if len(self._values) >= _VALUE_CACHE_LIMIT:
                self._values.clear()
            self._values[key] = value

    def clear(self) -> None:
        with self._lock:
            self._blobs.clear()
            self._blob_bytes = 0
            self._values.clear()


_shared = _SharedValues()
_SCALARS = (int, float, complex, str, bytes, bool, type(None))


def _frozen(value: Any, budget: int = 1000) -> bool:
    """True when nothing can change ``value`` in place (so consumers may share one object)."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is tuple or kind is frozenset:
        return len(value) <= budget and all(type(v) in _SCALARS or _frozen(v, budget // 4) for v in value)
    # An Arrow table has no API that changes it; this one was decoded from the stored bytes.
    return kind.__module__.startswith("pyarrow") and kind.__name__ == "Table"


# Exact types that the built-in manager of that name reads back as an equal value of the same type.
_ROUND_TRIPS = {
    "json": (int, float, bool, type(None), str),
    "pickle": (int, float, complex, bool, type(None), str, bytes),
    "text": (str,),
    "bytes": (bytes,),
}


def _round_trips(value: Any, manager: str) -> bool:
    """True when ``manager`` reads ``value``'s bytes back as an equal, immutable value of the same type,
    so consumers may share the value itself rather than decode the bytes (numbers, strings, None)."""
    kinds = _ROUND_TRIPS.get(manager)
    return kinds is not None and type(value) in kinds and _decodes_from_memory(manager) and value == value


def _decodes_from_memory(name: str) -> bool:
    """Built-in managers read a BytesIO as they read the stored file; a user's own may need a path."""
    try:
        manager = iomanagers.get(name)
    except Exception:  # noqa: BLE001
        return False
    return name != "file" and type(manager).__module__ == iomanagers.__name__


class _Capture:
    """Wraps the writer an IO manager dumps into, keeping a copy of the bytes up to ``limit``."""

    def __init__(self, raw: Any, limit: int):
        self._raw = raw
        self._chunks: List[bytes] = []
        self._left = limit

    def write(self, data) -> int:
        n = self._raw.write(data)
        if self._chunks is not None:
            chunk = bytes(data)
            self._left -= len(chunk)
            if self._left < 0:
                self._chunks = None
            else:
                self._chunks.append(chunk)
        return n

    def getvalue(self) -> Optional[bytes]:
        return None if self._chunks is None else b"".join(self._chunks)

    def __getattr__(self, name: str) -> Any:  # flush, tell, writable, closed, ...: the wrapped writer's
        return getattr(self._raw, name)


class _Scratch:
    """A task's private temporary folder: copies of ``file`` inputs, removed when the task ends."""

    def __init__(self) -> None:
        self.path: Optional[str] = None
        self._n = 0

    def folder(self) -> str:
        if self.path is None:
            import tempfile  # lazy: slow to import, and only an asset with file inputs copies one

            self.path = tempfile.mkdtemp(prefix="datamake-inputs-")
        self._n += 1
        folder = os.path.join(self.path, str(self._n))
        os.mkdir(folder)
        return folder

    def cleanup(self) -> None:
        if self.path is not None:
            import shutil  # lazy: see folder()

            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None


@record(frozen=True)
class AssetTask:
    """Everything a worker needs to materialize one asset, as plain data."""

    key: str
    run_id: str
    project_dir: str
    definitions: str
    store_url: str
    store_options: Mapping[str, Any]
    inputs: Tuple[Tuple[str, Manifest], ...] = ()
    io_manager: Optional[str] = None
    retries: int = 0
    retry_delay: float = 1.0
    partition: Optional[str] = None
    share_values: bool = False  # keep small immutable values in memory (in-process and threads)
    config: Mapping[str, Any] = field(default_factory=dict)  # the asset's validated config values
    resource_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # [resources.NAME] tables
    # objects replacing declared resources (``api.make(resources=...)``), and the coordinator's
    # own Store: both only for executors that share the coordinator's memory
    resources: Mapping[str, Any] = field(default_factory=dict)
    store: Optional[Store] = None
    # (path, source digest) of the project modules the run was planned with: a worker in
    # another process checks that it runs the same code (see datamake.define.snapshot)
    code_digests: Tuple[Tuple[str, str], ...] = ()
    history_file: Optional[str] = None  # the run's event log, where a graph asset records its op invocations
    # parameter -> the partition(s) of a source partitioned by file pattern it reads: a node id
    # (``landing[2024-01-05]``), or (partition key, node id) pairs for a collection
    source_partitions: Tuple[Tuple[str, Any], ...] = ()
    inline_limit: Optional[int] = INLINE_LIMIT  # a value of at most this many bytes goes into its manifest


def store_for(task: AssetTask) -> Store:
    """The coordinator's Store (same memory), else one Store per (url, options) per worker process."""
    if task.store is not None:
        return task.store
    cache_key = (task.store_url, repr(sorted(task.store_options.items())))
    store = _stores.get(cache_key)
    if store is None:
        store = _stores[cache_key] = Store(task.store_url, task.store_options)
    return store


def _load_input(store: Store, manifest: Manifest, share: bool, scratch: _Scratch) -> Any:
    if manifest.io_manager == "file":  # a private copy: what the consumer does to it never reaches the store
        return store.copy_artifact(manifest, scratch.folder())
    if not share or manifest.size > _VALUE_CACHE_MAX_BYTES or not _decodes_from_memory(manifest.io_manager):
        return store.load(manifest)
    cache_key = (manifest.artifact, manifest.io_manager)  # equal bytes read by another manager differ
    value = _shared.value(cache_key)
    if value is not _MISSING:
        return value
    blob = _shared.blob(cache_key)
    if blob is None:
        blob = store.read_artifact(manifest)
        _shared.put_blob(cache_key, blob)
    value = iomanagers.get(manifest.io_manager).load(io.BytesIO(blob))
    _shared.keep_value(cache_key, value)
    return value


def _load_inputs(store: Store, task: AssetTask, scratch: _Scratch) -> Tuple[Dict[str, Any], List[Tuple[str, str]]]:
    """The input values by parameter, and ``(key, message)`` for each input whose artifact is bad."""
    kwargs: Dict[str, Any] = {}
    corrupt: List[Tuple[str, str]] = []
    for param, spec in task.inputs:
        if isinstance(spec, Manifest):
            value = _load_checked(store, spec, task.share_values, corrupt, scratch)
        else:  # a collection of partitions: {partition key: value}
            value = {pk: _load_checked(store, m, task.share_values, corrupt, scratch) for pk, m in spec}
        kwargs[param] = value
    return kwargs, corrupt


def _load_checked(store: Store, manifest: Manifest, share: bool, corrupt: List[Tuple[str, str]],
                  scratch: _Scratch) -> Any:
    try:
        return _load_input(store, manifest, share, scratch)
    except CorruptArtifactError as exc:
        corrupt.append((node_id(manifest.key, manifest.partition), exc.message))
        return None


def _corrupt_inputs(key: str, corrupt: List[Tuple[str, str]], started: float) -> TaskResult:
    """A failure the coordinator recognizes: it rebuilds the named inputs, then runs ``key`` again."""
    return TaskResult(
        key=key,
        ok=False,
        seconds=time.perf_counter() - started,
        error="; ".join(message for _, message in corrupt),
        corrupt_inputs=tuple(k for k, _ in corrupt),
        attempts=0,
    )


def run_task(task: AssetTask) -> TaskResult:
    """Materialize one asset; never raises for the user's own errors."""
    scratch = _Scratch()
    try:
        return _run_task(task, scratch)
    finally:
        scratch.cleanup()


def _definitions_planned_with(task: AssetTask):
    """The definitions, imported from the same source the run was planned with.

    A worker in another process (a long-lived Dask worker, say) may hold older project
    modules, or import files edited since the run was planned: it re-imports once, and
    refuses to run other code than the code whose version will be recorded.
    """
    defs = load_definitions(task.project_dir, task.definitions)
    if not task.code_digests or not snapshot.mismatches(task.code_digests, task.project_dir):
        return defs
    forget_project_code(definition_roots(task.project_dir, task.definitions))
    defs = load_definitions(task.project_dir, task.definitions)
    differ = snapshot.mismatches(task.code_digests, task.project_dir)
    if differ:
        raise DatamakeError(
            f"the project's code changed on disk while the run was being planned or running "
            f"({', '.join(differ[:3])}); this worker would run other code than the version recorded",
            hint="run make again",
        )
    return defs


def _run_task(task: AssetTask, scratch: _Scratch) -> TaskResult:
    started = time.perf_counter()
    try:
        defs = _definitions_planned_with(task)
        asset = defs.assets[task.key]
        store = store_for(task)
        kwargs, corrupt = _load_inputs(store, task, scratch)
        if corrupt:
            return _corrupt_inputs(task.key, corrupt, started)
        concat_inputs(defs, task.key, task.inputs, kwargs)
        if defs.sources:
            kwargs.update(_source_inputs(defs, task))
        if defs.resource_params[task.key]:
            kwargs.update(_resource_inputs(defs, task))
        if asset.config is not None:
            kwargs["config"] = asset.config(**task.config)
    except Exception as exc:  # noqa: BLE001 - reported as the asset's failure
        return _failure(task.key, exc, started, attempts=0, ours=True)
    attempts = 0
    while True:
        attempts += 1
        context = AssetContext(task.key, task.run_id, task.partition,
                               asset.partitions.time_window(task.partition) if asset.partitions else None)
        if asset.wants_context:
            kwargs["context"] = context
            context._task, context._store = task, store  # a graph asset runs its ops with these
        watch = _read_watch(defs, task, store, scratch, context)
        if watch is not None:
            openwatch.push(watch.saw)
        try:
            with results_meta.capture_logs(context, asset.wants_context) as logs:
                value = asset.fn(**kwargs)
        except Exception as exc:  # noqa: BLE001 - the user's code may raise anything
            if attempts > task.retries:
                return _failure(task.key, exc, started, attempts)
            time.sleep(task.retry_delay * (2 ** (attempts - 1)))
            continue
        finally:
            if watch is not None:  # the watch ends with the attempt
                openwatch.pop()
        break
    value, user_version, user_metadata = _unwrap(value)
    context.metadata.update(user_metadata)
    undeclared: Tuple[Tuple[str, str], ...] = ()
    if watch is not None:
        for path in _paths_named_by(asset.fn, _roots_of(task.project_dir)):
            if os.path.isfile(path):
                if os.path.abspath(path) not in watch.written:
                    watch.saw(openwatch.OPEN, (path, "r", 0))
            elif os.path.isdir(path):
                watch.named_folder(path)
        undeclared = watch.versions()
    value = results_meta.open_result(value, context)  # MaterializeResult(value, metadata=...)
    if asset.metric:
        try:
            context.metadata.update(metric_values(value, task.key))  # the event log keeps each run's numbers
        except Exception as exc:  # noqa: BLE001 - not a dict of numbers: the asset fails, saying why
            context.cleanup()
            return _failure(task.key, exc, started, attempts, what="reading its metrics")
    capture: Optional[_Capture] = None
    try:
        written = context.written_file() if value is None else None
        if written is not None:  # the asset wrote its own file (or folder) at context.output_path
            value, manager = written, iomanagers.get("folder" if os.path.isdir(written) else "file")
        else:
            manager = iomanagers.choose(value, task.io_manager, node_id(task.key, task.partition))

        shared_as_is = task.share_values and _round_trips(value, manager.name)

        def dump(f):
            nonlocal capture
            if task.share_values and not shared_as_is and _decodes_from_memory(manager.name):
                f = capture = _Capture(f, _VALUE_CACHE_MAX_BYTES)
            manager.dump(value, f)

        artifact, size, inline = store.write_value(dump, task.inline_limit)
    except Exception as exc:  # noqa: BLE001
        return _failure(task.key, exc, started, attempts, what="storing its value")
    finally:
        context.cleanup()
    if shared_as_is:  # reading its bytes back gives this very value (a number, a string)
        _shared.keep_value((artifact, manager.name), value)
    elif capture is not None:
        blob = capture.getvalue()
        if blob is not None and len(blob) == size:  # the stored bytes: consumers decode their own copy
            _shared.put_blob((artifact, manager.name), blob)
    return filled(  # TaskResult(...) without its frozen __init__: one per built asset
        TaskResult,
        key=task.key,
        ok=True,
        artifact=artifact,
        data_version=user_version or data_version_of(manager.name, artifact),
        size=size,
        io_manager=manager.name,
        seconds=time.perf_counter() - started,
        metadata=results_meta.finish(context.metadata, value),  # + table facts
        attempts=attempts,
        checks=_run_checks(defs.checks.get(task.key, ()), value),  # on the value in hand, once stored
        logs=tuple(logs),
        undeclared_reads=undeclared,
        artifact_stat=None if inline is not None else store.written_stat(artifact),
        inline=inline,
    )


# -- files an asset reads without declaring them ---------------------------
class _ReadWatch:
    """Collects the project files an asset function opens for reading that it did not declare.

    Declared: a source the asset depends on. Never reported: files under the
    store, code (``.py``, ``.pyc``...), and the asset's own output and input copies.
    Set up at the first file the asset opens: most assets open none.
    """

    def __init__(self, defs: Any, task: "AssetTask", store: Store, context: AssetContext, scratch: _Scratch,
                 fn: Any = None):
        self._setup_args = (defs, task, store)
        self.fn = fn
        self.via: Dict[str, set] = {}  # a path read or listed -> the project functions on the stack then
        self.context = context
        self.scratch = scratch
        self.reads: Dict[str, Tuple[str, "read_files.Opened"]] = {}  # path in the project -> (full path, stat at open)
        self.maybe_written: set = set()  # those of ``reads`` a database connection or a command may change
        self.listed: Dict[str, Tuple[str, Optional[Tuple[str, ...]]]] = {}  # "folder/" -> (full path, names seen)
        self.trees: Dict[str, str] = {}  # "folder/**" -> full path: a folder its code names, every file in it
        self.written: set = set()
        self.roots: Tuple[str, ...] = ()
        self.allowed: List[str] = []
        self.skip_dirs: List[str] = []

    def _setup(self) -> None:
        defs, task, store = self._setup_args
        self._setup_args = None
        for dep in defs.deps.get(task.key, ()):
            src = defs.sources.get(dep)
            url = getattr(src, "url", None)
            if url and getattr(src, "partitions", None) is not None:  # a file pattern: any of its partitions
                url = re.sub(r"{[^{}]*}", "*", url)
            if url and ("://" not in url or url.startswith("file://")):
                url = url[len("file://"):] if url.startswith("file://") else url
                self.allowed.append(os.path.abspath(url))  # absolute paths, folders or glob patterns
        for kept in _kept_paths(defs, task.key):  # declared workspace copies: its own and its neighbours'
            self.allowed.append(os.path.abspath(os.path.join(task.project_dir, kept)))
        self.allowed.extend(getattr(self.fn, openwatch.VERSIONED_FILES, ()))  # a command asset's scripts: its code
        self.roots = _roots_of(task.project_dir)
        self.skip_dirs = [store.root] if store.is_local else []

    def saw(self, event: str, args: tuple) -> None:
        if self._setup_args is not None:
            self._setup()
        if event == openwatch.OPEN:
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
        elif event == openwatch.SQLITE:  # the database file is read (rollback journal; a WAL's are not seen)
            path, mode, flags = _sqlite_file(args[0] if args else None), "r", None
        elif event in _COMMANDS:  # the files a command names: scripts it runs, files it reads (or writes)
            for path in _command_files(event, args):
                self.saw(openwatch.SQLITE, (path,))
            return
        else:  # a listing: os.listdir, os.scandir (glob, os.walk and pathlib list through them)
            path, mode, flags = (args[0] if args else None), None, None
            path = "." if path is None else path
        if isinstance(path, int) or path is None:
            return
        path = os.fsdecode(os.fspath(path))
        if isinstance(mode, str):  # "w+" and "x+" start from nothing: what they read back, the asset wrote
            reads = "r" in mode or ("a" in mode and "+" in mode)
        else:
            reads = not (isinstance(flags, int) and (flags & os.O_ACCMODE == os.O_WRONLY
                                                     or flags & os.O_TRUNC or flags & os.O_CREAT and flags & os.O_EXCL))
        if not reads:  # an output of its own; a path constant naming it is no undeclared input
            self.written.add(os.path.abspath(path))
            return
        if path.endswith(snapshot.CODE_SUFFIXES) and event == openwatch.OPEN:  # imports open modules
            return
        full = os.path.abspath(path)
        root = full if full in self.roots else next((r for r in self.roots if full.startswith(r + os.sep)), None)
        if root is None and not _outside_data(full):
            return
        skip = [*self.skip_dirs, self.scratch.path, self.context._output_dir]  # the asset's own files
        if any(d and (full == d or full.startswith(os.path.abspath(d) + os.sep)) for d in skip):
            return
        if root is None and INPUT_COPY_PREFIX in full:  # a copy of a stored input value, in the temporary folder
            return
        if self._declared(full):
            return
        name = full if root is None else os.path.relpath(full, root).replace(os.sep, "/")
        if event in (openwatch.LIST, openwatch.SCAN):
            name += read_files.FOLDER  # the project folder itself is "./"
            if name not in self.listed:  # the names as the asset is about to list them
                self.listed[name] = (full, read_files.listing(full))
        elif os.path.isdir(full):
            return
        elif name not in self.reads:  # the file as it is about to be read (the event comes before the open)
            self.reads[name] = (full, read_files.opened_stat(full))
            if event == openwatch.SQLITE:
                self.maybe_written.add(name)
        codes = helperreads.callers(self.roots)
        self.via.setdefault(name, set()).update(codes)
        snapshot.note_run_read({filename for filename, _code in codes}, full)

    def named_folder(self, path: str) -> None:
        """A folder the asset's code names (``DATA = Path(...) / "data"``): a reader written in C may have
        read any file in it. Unless the asset read, listed or wrote something there itself (then that is
        what counts), every file in it is recorded (``data/**``); not the project folder, nor one holding it."""
        full = os.path.abspath(path)
        if self._setup_args is not None:
            self._setup()
        inside = next((r for r in self.roots if full.startswith(r + os.sep)), None)
        if inside is None and (any(r.startswith(os.path.join(full, "")) or r == full for r in self.roots)
                               or not _outside_data(full)):
            return
        skip = [*self.skip_dirs, self.scratch.path, self.context._output_dir]
        if any(d and (full == d or full.startswith(os.path.abspath(d) + os.sep)
                      or d.startswith(os.path.join(full, ""))) for d in skip) or self._declared(full):
            return
        within = os.path.join(full, "")
        if any(f.startswith(within) or f == full for f in [*(f for f, _ in self.reads.values()),
                                                          *(f for f, _ in self.listed.values()), *self.written]):
            return
        name = (full if inside is None else os.path.relpath(full, inside).replace(os.sep, "/")) + read_files.TREE
        self.trees[name] = full

    def versions(self) -> Tuple[Tuple[str, str], ...]:
        """Each undeclared file read, with the version of the bytes the asset read from it, and each folder
        listed, with the version of its listing; not a file the asset also wrote (a file of its own, such
        as a counter it keeps, or a SQLite database or a command's file it changed: not an input)."""
        files = [(name, read_files.version_read(full, opened)) for name, (full, opened) in self.reads.items()
                 if os.path.abspath(full) not in self.written
                 and not (name in self.maybe_written and read_files.opened_stat(full) != opened)]
        folders = [(name, read_files.version_listed(full, seen, self.written))
                   for name, (full, seen) in self.listed.items()]
        trees = [(name, read_files.ReadVersions().version(full + read_files.TREE)) for name, full in self.trees.items()]
        own = dict(files + folders + trees)
        for name, version in own.items():
            helperreads.remember(self.via.get(name, ()), name, version)
        if self._setup_args is not None and helperreads.anything_remembered():
            self._setup()
        # what the helpers it reaches read when they ran for an earlier asset (a memoized value it got)
        noted = helperreads.reached(self.fn, self.roots) if self.roots else {}
        own.update((name, version) for name, version in noted.items() if name not in own
                   and os.path.join(self.roots[0], name.rstrip("/")) not in self.written)
        return tuple(sorted(own.items()))

    def _declared(self, full: str) -> bool:
        for allowed in self.allowed:
            if full == allowed or full.startswith(allowed.rstrip(os.sep) + os.sep):
                return True
            if any(c in allowed for c in "*?["):
                import fnmatch  # lazy: only a declared pattern

                if fnmatch.fnmatchcase(full, allowed) or full == os.path.dirname(allowed):  # or its folder
                    return True
        real = os.path.realpath(full)
        return real != full and self._declared(real)


_COMMANDS = (openwatch.POPEN, openwatch.SYSTEM, openwatch.SPAWN)
_NOT_DATA: Optional[Tuple[str, ...]] = None  # where files outside the project are software, not data


def _outside_data(full: str) -> bool:
    """A file or folder outside the project that may be data (``/mnt/data/orders.csv``), not the system's,
    an installed package's or a tool's own (``/usr``, ``/etc``, the interpreter's prefixes, ``~/.cache``...)."""
    global _NOT_DATA
    if _NOT_DATA is None:
        import site
        import sys

        home = os.path.expanduser("~")
        installed = [sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages(), site.getusersitepackages()]
        _NOT_DATA = tuple({os.path.join(os.path.abspath(p), "") for p in [
            *installed, os.path.join(home, "."), *("/" + d for d in ("usr", "lib", "lib64", "bin", "sbin", "etc",
                                                                     "proc", "sys", "dev", "run", "var", "snap"))]})
        _NOT_DATA += (os.path.join(home, ""), os.sep)  # (a listing of the home folder or the root itself)
    if full + os.sep in _NOT_DATA[-2:]:
        return False
    return not full.startswith(_NOT_DATA[:-2])


def _command_files(event: str, args: tuple) -> List[str]:
    """The existing files a started command names (a word, what follows ``=`` in ``--in=x.csv``, a word of
    the command line a shell is given)."""
    if event == openwatch.POPEN:
        executable, argv, cwd = (tuple(args) + (None, None, None))[:3]
        words = [executable, *_words(argv)]
    elif event == openwatch.SYSTEM:
        words, cwd = _words(args[0] if args else None), None
    else:
        words, cwd = [args[0] if args else None, *_words(args[1] if len(args) > 1 else None)], None
    base = os.fsdecode(os.fspath(cwd)) if isinstance(cwd, (str, bytes, os.PathLike)) else os.getcwd()
    found = []
    for word in words:
        if not isinstance(word, (str, bytes, os.PathLike)):
            continue
        word = os.fsdecode(os.fspath(word))
        for part in [word, *(_words(word) if " " in word else ())]:  # sh -c "python count.py data/a.txt"
            for candidate in (part, part.partition("=")[2]):
                if candidate and len(candidate) < 4096 and "\0" not in candidate:
                    full = os.path.join(base, candidate)
                    if os.path.isfile(full):
                        found.append(full)
    return found


def _words(argv: Any) -> List[Any]:
    """A command's words: a list as given, a string (run by the shell) split as the shell would."""
    if isinstance(argv, (str, bytes)):
        import shlex  # lazy: only an asset that starts a command through the shell

        try:
            return shlex.split(os.fsdecode(argv))
        except ValueError:
            return os.fsdecode(argv).split()
    if isinstance(argv, os.PathLike):
        return [argv]
    try:
        return list(argv or ())
    except TypeError:
        return []


def _sqlite_file(database: Any) -> Optional[str]:
    """The file a ``sqlite3.connect(database)`` opens; ``None`` for an in-memory database."""
    if isinstance(database, bytes):
        database = os.fsdecode(database)
    if not isinstance(database, (str, os.PathLike)):
        return None
    database = os.fspath(database)
    if database.startswith("file:"):  # a URI: file:path?mode=ro
        database = database[len("file:"):].split("?", 1)[0]
    return None if database in ("", ":memory:") else database


def _run_checks(checks: Sequence[Any], value: Any) -> tuple:
    """The asset's checks run on ``value``; the checks module is loaded only for an asset that has some."""
    if not checks:
        return ()
    from datamake.define.checks import run_checks  # lazy: see above

    return tuple(run_checks(checks, value))


def _kept_paths(defs: Any, key: str) -> List[str]:
    """The workspace paths (``@asset(path=...)``) of the asset, of its upstream assets and of its
    direct dependents (a multi-asset's outputs): files a command asset reads by declaration."""
    near = defs.__dict__.get("_kept_paths")
    if near is None:  # built once per definitions, at the first asset that opens a file
        near = {}
        for k, a in defs.assets.items():
            if getattr(a, "path", None):
                for other in (k, *defs.deps.get(k, ())):  # the asset itself and what it reads from
                    near.setdefault(other, []).append(a.path)
        defs.__dict__["_kept_paths"] = near
    upstream = [getattr(defs.assets.get(dep), "path", None) for dep in defs.deps.get(key, ())]
    return [*near.get(key, ()), *(p for p in upstream if p)]


_named_paths: Dict[Any, Tuple[str, ...]] = {}


def _paths_named_by(fn: Any, roots: Tuple[str, ...]) -> Tuple[str, ...]:
    """Strings and paths the function's code, and the project helpers it reaches, name without receiving
    them: the globals they use, their closures, defaults and string constants that look like paths.
    Readers written in C (pyarrow's) open files without any audit event; a module-level ``DATA =
    Path(...)`` constant or a literal ``"data/t.parquet"`` is how they are usually given a file or folder."""
    fn = getattr(fn, "__wrapped__", fn)
    cached = _named_paths.get(fn)
    if cached is not None:
        return cached
    code = getattr(fn, "__code__", None)
    if code is not None and not (code.co_names or fn.__closure__ or fn.__defaults__
                                 or any(isinstance(c, (str, type(code))) for c in code.co_consts)):
        _named_paths[fn] = ()  # names nothing at all (a generated pipeline's trivial assets)
        return ()
    values: List[Any] = []
    for current in helperreads.reachable_functions(fn, roots) or [fn]:
        code = getattr(current, "__code__", None)
        namespace = getattr(current, "__globals__", {}) or {}
        if code is not None:
            values += [namespace[n] for n in helperreads.code_names(code)
                       if n in namespace and _names_a_path(n, namespace[n])]
            values += [c for c in helperreads.code_strings(code) if "/" in c or "." in c.strip(".")]
        values += [cell.cell_contents for cell in (getattr(current, "__closure__", None) or ()) if _has_contents(cell)]
        values += list(getattr(current, "__defaults__", None) or ())
    found = []
    for value in values:
        if isinstance(value, os.PathLike) or (isinstance(value, str) and 0 < len(value) < 4096 and "\n" not in value):
            try:
                found.append(os.fsdecode(os.fspath(value)))
            except (TypeError, ValueError):
                pass
    if len(_named_paths) > 100_000:
        _named_paths.clear()
    _named_paths[fn] = result = tuple(dict.fromkeys(found))
    return result


def _names_a_path(name: str, value: Any) -> bool:
    """A global holding a string or a path (not a module's own ``__file__``, ``__name__``...)."""
    return isinstance(value, (str, os.PathLike)) and not (name.startswith("__") and name.endswith("__"))


def _has_contents(cell: Any) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def _read_watch(defs: Any, task: AssetTask, store: Store, scratch: _Scratch,
                context: AssetContext) -> Optional[_ReadWatch]:
    if not task.project_dir:
        return None
    return _ReadWatch(defs, task, store, context, scratch, getattr(defs.assets.get(task.key), "fn", None))


_project_roots: Dict[str, Tuple[str, ...]] = {}


def _roots_of(project_dir: str) -> Tuple[str, ...]:
    """The project folder, as given and with symbolic links resolved (once per project folder: resolving
    links costs a few system calls)."""
    roots = _project_roots.get(project_dir)
    if roots is None:
        full = os.path.abspath(project_dir)
        roots = _project_roots[project_dir] = tuple(dict.fromkeys([full, os.path.realpath(full)]))
    return roots


def _unwrap(value: Any) -> Tuple[Any, Optional[str], Mapping[str, Any]]:
    """(value, user data version, metadata) from a plain value or an ``Output``."""
    if isinstance(value, Output):
        version = None if value.data_version is None else hash_value("user-data-version", str(value.data_version))
        return value.value, version, dict(value.metadata)
    return value, None, {}


def _source_inputs(defs, task: AssetTask) -> Dict[str, Any]:
    out = {param: load_source(defs.sources[dep]) for param, dep in defs.inputs[task.key].items()
           if dep in defs.sources and defs.sources[dep].partitions is None}
    for param, spec in task.source_partitions:  # the partitions the planner chose, of partitioned sources
        if isinstance(spec, str):
            out[param] = load_source(source_at(defs.sources, spec))
        else:
            out[param] = {pk: load_source(source_at(defs.sources, node)) for pk, node in spec}
    return out


# declared resource -> {settings: the object its factory built}, in this process; a resource declared
# again (definitions imported afresh, another project) is another key, so it gets objects of its own
_resources: "weakref.WeakKeyDictionary[ResourceDef, Dict[str, Any]]" = weakref.WeakKeyDictionary()
_resources_lock = threading.Lock()


def _resource_inputs(defs, task: AssetTask) -> Dict[str, Any]:
    out = {}
    for param, name in defs.resource_params[task.key].items():
        if name in task.resources:
            out[param] = task.resources[name]
        else:
            out[param] = _resource(defs.resources[name], task.resource_settings.get(name, {}))
    return out


def _resource(resource: ResourceDef, settings: Mapping[str, Any]) -> Any:
    """The object ``resource``'s factory built with ``settings``: once per process."""
    with _resources_lock:
        built = _resources.setdefault(resource, {})
    cache_key = repr(sorted(settings.items()))
    if cache_key not in built:
        built[cache_key] = resource.factory(**dict(settings))
    return built[cache_key]


def _failure(key: str, exc: BaseException, started: float, attempts: int, what: str = "", ours: bool = False) -> TaskResult:
    if isinstance(exc, DatamakeError):  # datamake's own message says what is wrong: no traceback
        message, trace = f"{exc.message}; {exc.hint}" if exc.hint else exc.message, None
    else:
        import traceback  # lazy: only a failure formats one

        message = f"{type(exc).__name__}: {exc}"
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) if ours else format_user_traceback(exc)
    if what:
        message = f"{what} failed: {message}"
    return TaskResult(
        key=key,
        ok=False,
        seconds=time.perf_counter() - started,
        error=message,
        traceback=trace,
        attempts=attempts,
    )

"""One unit of work for a worker: load the inputs, call the function, store the value.

``run_task`` is a plain module-level function over picklable values, so the
same code runs in-process, in a thread, in a child process or on a Dask worker.
Workers write only immutable, content-addressed artifacts; manifests and the
action cache are written by the coordinator.
"""
from __future__ import annotations

import io
import os
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypeVar

from datamake.core.records import field, filled, record
from datamake.storage import iomanagers
from datamake.define import openwatch, outputs as results_meta, snapshot
from datamake.core.errors import DatamakeError
from datamake.core.hashing import data_version_of, hash_value
from datamake.define.loader import definition_roots, forget_project_code, format_user_traceback, load_definitions
from datamake.define.sources import Output, ResourceDef, source_at
from datamake.core.keys import node_id
from datamake.core.manifest import Manifest
from datamake.storage.observe import load_source
from datamake.execution.concat import concat_inputs
from datamake.storage.artifacts import INLINE_LIMIT
from datamake.storage.scratch import Scratch
from datamake.storage.store import CorruptArtifactError, Store
from datamake.execution import readwatch
from datamake.execution.context import AssetContext
from datamake.execution.results import TaskResult

T = TypeVar("T")

_stores: Dict[Tuple[str, str], Store] = {}
_VALUE_CACHE_LIMIT = 4096
_PRIVATE_COPIES = frozenset({"file", "folder"})  # values handed out as a path: each consumer gets its own copy
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
        # value(key, _MISSING): the value kept for key, else _MISSING (the dict's own get: no call of ours)
        self.value: Callable[[Tuple[str, str], Any], Any] = self._values.get

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


_decodes_from_memory = iomanagers.decodes_from_memory  # built-in managers read a BytesIO as the stored file


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


def _load_checked(store: Store, manifest: Manifest, share: bool, corrupt: List[Tuple[str, str]],
                  scratch: Scratch) -> Any:
    """The value of one input; None, with ``(node, message)`` added to ``corrupt``, when its artifact is bad."""
    try:
        if manifest.io_manager in _PRIVATE_COPIES:  # what the consumer does to its path never reaches the store
            return store.load_private(manifest, scratch)
        if not share or manifest.size > _VALUE_CACHE_MAX_BYTES or not _decodes_from_memory(manifest.io_manager):
            return store.load(manifest)
        cache_key = (manifest.artifact, manifest.io_manager)  # equal bytes read by another manager differ
        value = _shared.value(cache_key, _MISSING)
        if value is not _MISSING:
            return value
        blob = _shared.blob(cache_key)
        if blob is None:
            blob = store.read_artifact(manifest)
            _shared.put_blob(cache_key, blob)
        value = iomanagers.get(manifest.io_manager).load(io.BytesIO(blob))
        _shared.keep_value(cache_key, value)
        return value
    except CorruptArtifactError as exc:
        corrupt.append((node_id(manifest.key, manifest.partition), exc.message))
        return None


def _load_inputs(store: Store, task: AssetTask, scratch: Scratch) -> Tuple[Dict[str, Any], List[Tuple[str, str]]]:
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
    scratch = Scratch()
    try:
        return _run_task(task, scratch)
    finally:
        if scratch.used:  # (most tasks copy no input: nothing to remove)
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


def _run_task(task: AssetTask, scratch: Scratch) -> TaskResult:
    started = time.perf_counter()
    try:
        defs = _definitions_planned_with(task)
        asset = defs.assets[task.key]
        store = task.store if task.store is not None else store_for(task)  # (the coordinator's: no call)
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
    folder = os.getcwd()  # the project's: an asset that leaves it is put back, for the next asset's reads
    while True:
        attempts += 1
        context = AssetContext(task.key, task.run_id, task.partition,
                               asset.partitions.time_window(task.partition) if asset.partitions else None)
        watch = readwatch.start(defs, task, store, scratch, context, asset.fn)
        if asset.wants_context:
            kwargs["context"] = context
            context._task, context._store = task, store  # a graph asset runs its ops with these
            context._watch = watch  # and tells it what the op results it restores read
        if watch is not None:
            openwatch.push(watch.saw)
        try:
            if asset.wants_context:
                with results_meta.capture_logs(context) as logs:
                    value = asset.fn(**kwargs)
            else:  # no context, no logger to collect from: no context manager either (one per built asset)
                logs, value = (), asset.fn(**kwargs)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - the user's code may raise anything, exit too
            if watch is not None:
                watch.discard()
            if attempts > task.retries:
                return _failure(task.key, exc, started, attempts)
            time.sleep(task.retry_delay * (2 ** (attempts - 1)))
            continue
        finally:
            if watch is not None:  # the watch ends with the attempt
                openwatch.pop()
            if os.getcwd() != folder:
                os.chdir(folder)
        break
    user_version = None
    if isinstance(value, Output):  # (a plain value, most: no call of _unwrap)
        value, user_version, user_metadata = _unwrap(value)
        context.metadata.update(user_metadata)
    undeclared: Tuple[Tuple[str, str], ...] = ()
    wrote: Tuple[str, ...] = ()
    warnings: Tuple[Tuple[str, str], ...] = ()
    value = results_meta.open_result(value, context)  # MaterializeResult(value, metadata=...)
    if asset.metric:
        from datamake.define.metricvalues import metric_values  # lazy: only a metric asset

        try:
            context.metadata.update(metric_values(value, task.key))  # the event log keeps each run's numbers
        except Exception as exc:  # noqa: BLE001 - not a dict of numbers: the asset fails, saying why
            context.cleanup()
            if watch is not None:
                watch.discard()
            return _failure(task.key, exc, started, attempts, what="reading its metrics")
    capture: Optional[_Capture] = None
    checks = defs.checks.get(task.key)
    try:
        written = context.written_for(value) if value is None or context._output_dir is not None else None
        if written is not None:  # the asset wrote its own file (or folder) at context.output_path
            value, manager = written, iomanagers.get("folder" if os.path.isdir(written) else "file")
        else:
            manager = iomanagers.choose(value, task.io_manager, node_id(task.key, task.partition))

        shared_as_is = task.share_values and _round_trips(value, manager.name)
        named: Any = None  # the classes and functions the stored bytes name (a pickle's)

        def dump(f):
            nonlocal capture, named
            if task.share_values and not shared_as_is and _decodes_from_memory(manager.name):
                f = capture = _Capture(f, _VALUE_CACHE_MAX_BYTES)
            named = manager.dump(value, f)

        artifact, size, inline = store.write_value(dump, task.inline_limit)
        if manager.name == "file" and isinstance(value, (str, os.PathLike)):  # a pickle file (joblib.dump(model,
            named = _pickled_file_names(task, value)  # context.output_path)) names code as a pickled value does
        # the checks run on the value in hand, once stored, while a file or folder it is still exists
        ran = _run_checks(checks, value, watch) if checks else ()
        if watch is not None:  # (what the checks read is the asset's too)
            undeclared, warnings, wrote = watch.finish(), watch.warnings(), watch.project_writes()
    except Exception as exc:  # noqa: BLE001
        if watch is not None:
            watch.discard()
        return _failure(task.key, exc, started, attempts, what="storing its value")
    finally:
        context.cleanup()
    if shared_as_is:  # reading its bytes back gives this very value (a number, a string)
        _shared.keep_value((artifact, manager.name), value)
    elif capture is not None:
        blob = capture.getvalue()
        if blob is not None and len(blob) == size:  # the stored bytes: consumers decode their own copy
            _shared.put_blob((artifact, manager.name), blob)
    return filled(  # TaskResult(...) without its frozen __init__: one per built asset (every field given: no
        TaskResult,  # merge with the defaults)
        key=task.key,
        ok=True,
        error=None,
        traceback=None,
        corrupt_inputs=(),
        artifact=artifact,
        data_version=user_version or stored_data_version(task, manager, artifact, named),
        size=size,
        io_manager=manager.name,
        seconds=time.perf_counter() - started,
        metadata=results_meta.finish(context.metadata, value),  # + table facts
        attempts=attempts,
        checks=ran,
        logs=tuple(logs),
        undeclared_reads=undeclared,
        wrote=wrote,
        warnings=warnings,
        artifact_stat=None if inline is not None else store.written_stat(artifact),
        inline=inline,
    )


def _pickled_file_names(task: Any, path: str) -> Any:
    from datamake.define.valuecode import pickled_file_names  # lazy: only an asset that wrote its own file

    return pickled_file_names(path, definition_roots(task.project_dir, task.definitions))


def stored_data_version(task: Any, manager: Any, artifact: str, named: Any) -> str:
    """The data version of bytes ``manager`` stored for ``task`` (its ``project_dir`` and ``definitions``),
    with the code versions of the project classes and functions they name (a pickle keeps those by name:
    editing ``Thing.total`` leaves the bytes of a ``Thing`` as they were) and of the project's own IO
    manager that wrote them (its ``load`` gives the consumers their value)."""
    if not iomanagers.is_built_in(manager):
        named = {*(named or ()), type(manager)}
    if named:
        from datamake.define.valuecode import referenced_code  # lazy: only a value that names classes

        code = referenced_code(named, definition_roots(task.project_dir, task.definitions))
        if code is not None:
            return hash_value("data", manager.name, artifact, code)
    return data_version_of(manager.name, artifact)


def _run_checks(checks: Sequence[Any], value: Any, watch: Optional[Any]) -> tuple:
    """The asset's checks run on ``value``, under the asset's read watch: a file a check reads (a limit, a
    schema) is one the asset's state depends on. The checks module is loaded only for an asset that has some."""
    from datamake.define.checks import run_checks  # lazy: see above

    return tuple(_under_watch(watch, run_checks, checks, value))


def _under_watch(watch: Optional[Any], call: Callable[..., T], *args: Any) -> T:
    """``call(*args)``, what it reads seen by ``watch`` (None: not watched)."""
    if watch is None:
        return call(*args)
    openwatch.push(watch.saw)
    try:
        return call(*args)
    finally:
        openwatch.pop()


def recheck_watched(defs: Any, project_dir: str, store: Store, manifest: Manifest, checks: Sequence[Any],
                    versions: Mapping[str, str], scratch: Scratch) -> Tuple[Manifest, list]:
    """The asset's checks run again on its kept value (added or edited since it was built), under a read
    watch as when they run with the build: what they read is added to the value's recorded reads (which
    win: the value was built from those bytes). Returns :func:`datamake.define.checks.recheck`'s answer."""
    from datamake.define.checks import recheck  # lazy: only an asset whose checks changed

    watch = readwatch.start(defs, readwatch.Watched(manifest.key, project_dir), store, scratch,
                            AssetContext(manifest.key, manifest.run_id or "", manifest.partition), None)
    checked, results = _under_watch(watch, recheck, store, manifest, checks, versions, scratch)
    if watch is None:
        return checked, results
    reads = dict(watch.finish())
    if not reads:
        return checked, results
    reads.update(manifest.reads)
    return checked.replace(reads=tuple(sorted(reads.items()))), results


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
_resources: Any = None  # a weakref.WeakKeyDictionary, made at the first resource (weakref: only then imported)
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
    global _resources
    with _resources_lock:
        if _resources is None:
            import weakref

            _resources = weakref.WeakKeyDictionary()
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
        if isinstance(exc, SystemExit):
            message += " (the function called sys.exit(); raise an exception to fail an asset)"
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

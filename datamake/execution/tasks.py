"""One unit of work for a worker: load the inputs, call the function, store the value.

``run_task`` is a plain module-level function over picklable values, so the
same code runs in-process, in a thread, in a child process or on a Dask worker.
Workers write only immutable, content-addressed artifacts; manifests and the
action cache are written by the coordinator.
"""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .. import iomanagers, results_meta
from ..hashing import data_version_of, hash_value
from ..loader import format_user_traceback, load_definitions
from ..keys import node_id
from ..manifest import Manifest
from ..store import CorruptArtifactError, Store
from .context import AssetContext
from .results import TaskResult

_stores: Dict[Tuple[str, str], Store] = {}
_IMMUTABLE = (int, float, str, bytes, bool, type(None), tuple, frozenset)
_VALUE_CACHE_LIMIT = 4096
_VALUE_CACHE_MAX_BYTES = 1 << 20
_values: Dict[Tuple[str, str], Any] = {}
CORRUPT_INPUTS_KEY = "datamake/corrupt_inputs"  # in a failed TaskResult's metadata: inputs that failed their hash check


@dataclass(frozen=True)
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
    extra: Mapping[str, Any] = field(default_factory=dict)


def store_for(url: str, options: Mapping[str, Any]) -> Store:
    """One Store per (url, options) per process."""
    cache_key = (url, repr(sorted(options.items())))
    store = _stores.get(cache_key)
    if store is None:
        store = _stores[cache_key] = Store(url, options)
    return store


def remember_store(store: Store) -> None:
    _stores[(store.url, repr(sorted(store.storage_options.items())))] = store


def _load_input(store: Store, manifest: Manifest, share: bool) -> Any:
    cache_key = (manifest.artifact, manifest.io_manager)  # equal bytes read by another manager differ
    if share and cache_key in _values:
        return _values[cache_key]
    value = store.load(manifest)
    if share and manifest.size <= _VALUE_CACHE_MAX_BYTES and _is_immutable(value) and manifest.io_manager != "file":
        if len(_values) >= _VALUE_CACHE_LIMIT:
            _values.clear()
        _values[cache_key] = value
    return value


def _load_inputs(store: Store, task: AssetTask) -> Tuple[Dict[str, Any], List[Tuple[str, str]]]:
    """The input values by parameter, and ``(key, message)`` for each input whose artifact is bad."""
    kwargs: Dict[str, Any] = {}
    corrupt: List[Tuple[str, str]] = []
    for param, spec in task.inputs:
        if isinstance(spec, Manifest):
            value = _load_checked(store, spec, task.share_values, corrupt)
        else:  # a collection of partitions: {partition key: value}
            value = {pk: _load_checked(store, m, task.share_values, corrupt) for pk, m in spec}
        kwargs[param] = value
    return kwargs, corrupt


def _load_checked(store: Store, manifest: Manifest, share: bool, corrupt: List[Tuple[str, str]]) -> Any:
    try:
        return _load_input(store, manifest, share)
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
        metadata={CORRUPT_INPUTS_KEY: tuple(k for k, _ in corrupt)},
        attempts=0,
    )


def _is_immutable(value: Any) -> bool:
    if isinstance(value, _IMMUTABLE):
        return True
    return type(value).__module__.startswith("pyarrow") and type(value).__name__ == "Table"


def run_task(task: AssetTask) -> TaskResult:
    """Materialize one asset; never raises for the user's own errors."""
    started = time.perf_counter()
    try:
        defs = load_definitions(task.project_dir, task.definitions)
        asset = defs.assets[task.key]
        store = store_for(task.store_url, task.store_options)
        kwargs, corrupt = _load_inputs(store, task)
        if corrupt:
            return _corrupt_inputs(task.key, corrupt, started)
        kwargs.update(_source_inputs(defs, task.key))
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
        try:
            with results_meta.capture_logs(context, asset.wants_context) as logs:
                value = asset.fn(**kwargs)
            break
        except Exception as exc:  # noqa: BLE001 - the user's code may raise anything
            if attempts > task.retries:
                return _failure(task.key, exc, started, attempts)
            time.sleep(task.retry_delay * (2 ** (attempts - 1)))
    value, user_version, user_metadata = _unwrap(value)
    context.metadata.update(user_metadata)
    value = results_meta.open_result(value, context)  # MaterializeResult(value, metadata=...)
    written = context.written_file()
    try:
        if value is None and written is not None:  # the asset wrote its own file at context.output_path
            value, manager = written, iomanagers.get("file")
        else:
            manager = iomanagers.choose(value, task.io_manager)
        artifact, size = store.write_artifact(lambda f: manager.dump(value, f))
    except Exception as exc:  # noqa: BLE001
        return _failure(task.key, exc, started, attempts, what="storing its value")
    finally:
        context.cleanup()
    if task.share_values and size <= _VALUE_CACHE_MAX_BYTES and _is_immutable(value) and manager.name != "file":
        _values[(artifact, manager.name)] = value
    return TaskResult(
        key=task.key,
        ok=True,
        artifact=artifact,
        data_version=user_version or data_version_of(manager.name, artifact),
        size=size,
        io_manager=manager.name,
        seconds=time.perf_counter() - started,
        metadata=results_meta.finish(context.metadata, value, logs, defs, task.key),  # + table facts, checks
        attempts=attempts,
    )


def _unwrap(value: Any) -> Tuple[Any, Optional[str], Mapping[str, Any]]:
    """(value, user data version, metadata) from a plain value or an ``Output``."""
    from ..sources import Output

    if isinstance(value, Output):
        version = None if value.data_version is None else hash_value("user-data-version", str(value.data_version))
        return value.value, version, dict(value.metadata)
    return value, None, {}


def _source_inputs(defs, key: str) -> Dict[str, Any]:
    from ..observe import load_source

    return {param: load_source(defs.sources[dep]) for param, dep in defs.inputs[key].items() if dep in defs.sources}


_resources: Dict[Tuple[str, str], Any] = {}
_resource_overrides: Dict[str, Any] = {}


def override_resources(values: Mapping[str, Any]) -> None:
    """Replace resources by name for this process (tests; in-process and thread executors)."""
    _resource_overrides.clear()
    _resource_overrides.update(values)


def _resource_inputs(defs, task: AssetTask) -> Dict[str, Any]:
    out = {}
    settings_by_name = task.extra.get("resources", {})
    for param, name in defs.resource_params[task.key].items():
        if name in _resource_overrides:
            out[param] = _resource_overrides[name]
            continue
        settings = dict(settings_by_name.get(name, {}))
        cache_key = (name, repr(sorted(settings.items())))
        if cache_key not in _resources:
            _resources[cache_key] = defs.resources[name].factory(**settings)
        out[param] = _resources[cache_key]
    return out


def _failure(key: str, exc: BaseException, started: float, attempts: int, what: str = "", ours: bool = False) -> TaskResult:
    message = f"{type(exc).__name__}: {exc}"
    if what:
        message = f"{what} failed: {message}"
    return TaskResult(
        key=key,
        ok=False,
        seconds=time.perf_counter() - started,
        error=message,
        traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) if ours else format_user_traceback(exc),
        attempts=attempts,
    )

"""What a worker runs for one op invocation: load its inputs, call the op, store its outputs.

An :class:`OpTask` is plain data, so it travels to a process pool or a Dask
worker; there the op is found again by its module and name (in threads it is
passed as it is). The result says what each output was stored as, never raises
for the user's own errors, and carries the message of a failure.
"""
from __future__ import annotations

import importlib
import logging
import sys
import time
import types
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from datamake.core.errors import DatamakeError
from datamake.core.hashing import data_version_of
from datamake.core.manifest import Manifest
from datamake.define import openwatch
from datamake.define.loader import format_user_traceback, load_definitions
from datamake.execution import readwatch
from datamake.execution.context import AssetContext
from datamake.execution.tasks import _resource, stored_data_version
from datamake.ops.definition import DynamicOutput, OpDef
from datamake.storage import iomanagers
from datamake.storage.scratch import Scratch
from datamake.storage.store import Store

_stores: Dict[Tuple[str, str], Store] = {}
Reads = Tuple[Tuple[str, str], ...]


class OpContext:
    """What an op knows about its invocation: ``op_name``, ``invocation``, ``run_id``, ``mapping_key``, ``log``."""

    def __init__(self, op_name: str, invocation: str, run_id: str, mapping_key: Optional[str] = None):
        self.op_name = op_name
        self.invocation = invocation
        self.run_id = run_id
        self.mapping_key = mapping_key
        self.log = logging.getLogger(f"datamake.op.{invocation}")

    def __repr__(self) -> str:
        return f"<OpContext {self.invocation} run={self.run_id}>"


@dataclass(frozen=True)
class OpTask:
    """Everything a worker needs for one op invocation, as plain data."""

    key: str  # the invocation id: ``op``, ``op_2``, ``op[chunk]``
    op_name: str
    op_ref: Tuple[str, str]  # (module, attribute) where a worker in another process finds the op
    run_id: str
    provenance: str
    code_version: str
    project_dir: str
    definitions: str
    store_url: str
    store_options: Mapping[str, Any]
    inputs: Tuple[Tuple[str, Any], ...] = ()  # param -> Manifest, a list of Manifests, or ("const", value)
    config: Mapping[str, Any] = field(default_factory=dict)
    resource_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    mapping_key: Optional[str] = None
    op: Optional[OpDef] = None  # executors that share memory: the op itself
    resources: Mapping[str, Any] = field(default_factory=dict)  # objects replacing resources (shared memory only)
    store: Optional[Store] = None


@dataclass(frozen=True)
class OpResult:
    """What one invocation produced: a manifest per output (``chunks`` for a dynamic output)."""

    key: str
    ok: bool
    outputs: Tuple[Tuple[str, Manifest], ...] = ()
    chunks: Optional[Tuple[Tuple[str, Manifest], ...]] = None  # (mapping key, manifest), in order
    seconds: float = 0.0
    error: Optional[str] = None
    traceback: Optional[str] = None
    attempts: int = 1
    reads: Reads = ()  # (name, version) of each file it read undeclared (see datamake.storage.reads)


def output_key(op_name: str, out: str) -> str:
    """The key an op output's manifest carries (``op:NAME/OUT``): never an asset key."""
    return f"op:{op_name}/{out}"


def run_op_task(task: OpTask) -> OpResult:
    """Run one op invocation and store its outputs; failures are returned, not raised."""
    started = time.perf_counter()
    try:
        op = task.op or find_op(task)
        store = task.store or _store(task)
    except Exception as exc:  # noqa: BLE001 - reported as the invocation's failure
        return _failure(task, exc, started, 0)
    with Scratch() as scratch:  # the op's copies of file and folder inputs, removed when it ends
        return _run_op(task, op, store, scratch, started)


def _run_op(task: OpTask, op: OpDef, store: Store, scratch: Scratch, started: float) -> OpResult:
    try:
        kwargs = _inputs(task, op, store, scratch)
    except Exception as exc:  # noqa: BLE001 - reported as the invocation's failure
        return _failure(task, exc, started, 0)
    attempts = 0
    while True:
        attempts += 1
        if op.wants_context:
            kwargs["context"] = OpContext(op.name, task.key, task.run_id, task.mapping_key)
        watch = _read_watch(task, op, store, scratch)
        try:
            value = op.fn(**kwargs)
            if op.dynamic:
                value = list(value)  # a generator runs to its end here, inside the retry loop
        except Exception as exc:  # noqa: BLE001 - the user's code may raise anything
            if watch is not None:
                watch.discard()
            if attempts > op.retries:
                return _failure(task, exc, started, attempts)
            time.sleep(op.retry_delay * (2 ** (attempts - 1)))
            continue
        finally:
            if watch is not None:  # the watch ends with the attempt
                openwatch.pop()
        break
    try:
        reads = watch.finish() if watch is not None else ()
        return _stored(task, op, store, value, started, attempts, reads)
    except Exception as exc:  # noqa: BLE001
        return _failure(task, exc, started, attempts, what="storing its outputs")


def _read_watch(task: OpTask, op: OpDef, store: Store, scratch: Scratch) -> Optional[Any]:
    """A read watch for one attempt of the op, pushed (None outside a project): the files it reads are
    recorded with its outputs, so that a cached result built from other bytes of them is not restored."""
    if not task.project_dir:
        return None
    key = output_key(task.op_name, "")  # never an asset's key: no asset's declared sources
    watch = readwatch.start(load_definitions(task.project_dir, task.definitions),
                            readwatch.Watched(key, task.project_dir), store, scratch, AssetContext(key, task.run_id),
                            op.fn)
    if watch is not None:
        openwatch.push(watch.saw)
    return watch


def find_op(task: OpTask) -> OpDef:
    """The op in this process: by module and attribute, once the project's definitions are imported."""
    module_name, attr = task.op_ref
    load_definitions(task.project_dir, task.definitions)  # this project's module under that name, not another's
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    found = getattr(module, attr, None)
    if not isinstance(found, OpDef):
        raise DatamakeError(f"op '{task.op_name}' is not a module-level name of {module_name}, so a worker in "
                            f"another process cannot find it", hint="define ops at module level, or use the "
                                                                     "inprocess or thread executor")
    return found


def _store(task: OpTask) -> Store:
    cache_key = (task.store_url, repr(sorted(task.store_options.items())))
    store = _stores.get(cache_key)
    if store is None:
        store = _stores[cache_key] = Store(task.store_url, task.store_options)
    return store


def _inputs(task: OpTask, op: OpDef, store: Store, scratch: Scratch) -> Dict[str, Any]:
    kwargs: Dict[str, Any] = {}
    for param, spec in task.inputs:
        if isinstance(spec, Manifest):
            kwargs[param] = store.load_private(spec, scratch)
        elif isinstance(spec, tuple) and spec and spec[0] == "const":
            kwargs[param] = spec[1]
        else:
            kwargs[param] = [store.load_private(m, scratch) for m in spec]
    for name in op.resources:
        kwargs[name] = task.resources[name] if name in task.resources else _project_resource(task, name)
    if op.config is not None:
        kwargs["config"] = op.config(**task.config)
    return kwargs


def _project_resource(task: OpTask, name: str) -> Any:
    defs = load_definitions(task.project_dir, task.definitions)
    if name not in defs.resources:
        raise DatamakeError(f"op '{task.op_name}' needs the resource '{name}', which the project does not define",
                            hint=f"add resource('{name}', factory) to the definitions")
    return _resource(defs.resources[name], task.resource_settings.get(name, {}))


def store_value(store: Store, key: str, value: Any, io_manager: Optional[str] = None, task: Any = None,
                **fields: Any) -> Manifest:
    """Write ``value`` to the store's artifacts; the manifest that describes it (not committed anywhere).
    With the ``task`` that made it, its data version holds the project code its bytes name (see
    :func:`~datamake.execution.tasks.stored_data_version`)."""
    manager = iomanagers.choose(value, io_manager, key)
    named = None

    def dump(f: Any) -> None:
        nonlocal named
        named = manager.dump(value, f)

    artifact, size = store.write_artifact(dump)
    fields.setdefault("code_version", "")
    fields.setdefault("provenance", "")
    version = data_version_of(manager.name, artifact) if task is None else \
        stored_data_version(task, manager, artifact, named)
    return Manifest(key=key, data_version=version, artifact=artifact, size=size, io_manager=manager.name, **fields)


def _manifest(task: OpTask, store: Store, out: str, value: Any, io_manager: Optional[str],
              reads: Reads) -> Manifest:
    return store_value(store, output_key(task.op_name, out), value, io_manager, task, code_version=task.code_version,
                       provenance=task.provenance, run_id=task.run_id, created=time.time(), reads=reads)


def _stored(task: OpTask, op: OpDef, store: Store, value: Any, started: float, attempts: int,
            reads: Reads) -> OpResult:
    if op.dynamic:
        out, spec = op.outs[0]
        chunks: List[Tuple[str, Manifest]] = []
        for i, item in enumerate(value):
            chunk, key = (item.value, item.mapping_key) if isinstance(item, DynamicOutput) else (item, None)
            chunks.append((str(i) if key is None else str(key),
                           _manifest(task, store, out, chunk, spec.io_manager, reads)))
        keys = [k for k, _ in chunks]
        if len(set(keys)) != len(keys):
            raise DatamakeError(f"op '{op.name}' yielded the same mapping_key twice",
                                hint="give each chunk its own key")
        return OpResult(task.key, True, chunks=tuple(chunks), seconds=time.perf_counter() - started,
                        attempts=attempts, reads=reads)
    if len(op.outs) == 1:
        values = (value,)
    elif not isinstance(value, (tuple, list)) or len(value) != len(op.outs):
        raise DatamakeError(f"op '{op.name}' declares {len(op.outs)} outputs ({', '.join(op.out_names)}) but "
                            f"returned {type(value).__name__}", hint="return a tuple with one value per output")
    else:
        values = tuple(value)
    outputs = tuple((name, _manifest(task, store, name, v, spec.io_manager, reads))
                    for (name, spec), v in zip(op.outs, values))
    return OpResult(task.key, True, outputs=outputs, seconds=time.perf_counter() - started, attempts=attempts,
                    reads=reads)


def _failure(task: OpTask, exc: BaseException, started: float, attempts: int, what: str = "") -> OpResult:
    if isinstance(exc, DatamakeError):
        message, trace = (f"{exc.message}; {exc.hint}" if exc.hint else exc.message), None
    else:
        message, trace = f"{type(exc).__name__}: {exc}", format_user_traceback(exc)
    if what:
        message = f"{what} failed: {message}"
    return OpResult(task.key, False, seconds=time.perf_counter() - started, error=message, traceback=trace,
                    attempts=attempts)


def op_reference(op: OpDef) -> Tuple[str, str]:
    """(module, attribute) under which ``op`` is found in its module, for workers in other processes."""
    module_name = getattr(op.fn, "__module__", "") or ""
    module = sys.modules.get(module_name)
    if isinstance(module, types.ModuleType):
        for attr, value in vars(module).items():
            if value is op:
                return module_name, attr
    return module_name, op.fn.__name__

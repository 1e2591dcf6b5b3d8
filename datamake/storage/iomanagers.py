"""IO managers: turn a value into bytes and back.

Each manager writes to and reads from a binary file object; the store wraps
the writer to hash the bytes as they pass. Serialization is deterministic, so
an equal value gives equal bytes and an equal data version (early cutoff).
pyarrow and pandas are imported only when a manager that needs them runs.
"""
from __future__ import annotations

import json
import os
import sys
from typing import IO, Any, Dict, List, Optional, Protocol, Set, Tuple

from datamake.core.errors import DefinitionError, ValueTypeError, did_you_mean
from datamake.define import loader, snapshot
from datamake.storage.folderio import INPUT_COPY_PREFIX, FolderIO


class IOManager(Protocol):
    """The plugin interface: a name, a type test, and dump/load on binary files.

    A manager may also say what it stores (``stores``, e.g. ``"str"``) and test a
    value named for it explicitly (``accepts(value)``): a value it does not accept
    fails its asset with a message naming both types instead of a library traceback.
    """

    name: str

    def handles(self, value: Any) -> bool: ...

    def dump(self, value: Any, f: IO[bytes]) -> Optional[Set[Any]]:
        """Writes ``value``; may return the classes and functions the bytes name rather than hold (a
        pickle's), whose code then counts in the value's data version."""

    def load(self, f: IO[bytes]) -> Any: ...


def _local_path(f: Any) -> Optional[str]:
    """The local file behind an open file object, if there is one."""
    for attr in ("name", "path"):
        path = getattr(f, attr, None)
        if isinstance(path, str) and os.path.isfile(path):
            return path
    return None


def _module_of(value: Any) -> str:
    return type(value).__module__ or ""


class ArrowIO:
    """``pyarrow.Table`` ↔ Parquet."""

    name = "arrow"
    stores = "pyarrow.Table"

    def handles(self, value: Any) -> bool:
        return _module_of(value).startswith("pyarrow") and type(value).__name__ == "Table"

    accepts = handles

    def dump(self, value: Any, f: IO[bytes]) -> None:
        import pyarrow.parquet as pq  # lazy: pyarrow loads only when a table is read or written

        pq.write_table(value, f, compression="zstd")

    def load(self, f: IO[bytes]) -> Any:
        import pyarrow as pa  # lazy: pyarrow loads only when a table is read or written
        import pyarrow.parquet as pq  # lazy: pyarrow loads only when a table is read or written

        path = _local_path(f)
        if path is not None:  # pyarrow's own file reader: faster, and no Python callbacks
            return pq.read_table(path)
        # Reading a Python file object on pyarrow's IO threads can abort the interpreter
        # at exit ("terminate called without an active exception"): read it on this thread.
        return pq.read_table(pa.PythonFile(f, mode="r"), use_threads=False, pre_buffer=False)


class PandasIO:
    """``pandas.DataFrame`` ↔ Parquet (through Arrow)."""

    name = "pandas"
    stores = "pandas.DataFrame"

    def handles(self, value: Any) -> bool:
        return _module_of(value).startswith("pandas") and type(value).__name__ == "DataFrame"

    accepts = handles

    def dump(self, value: Any, f: IO[bytes]) -> None:
        import pyarrow as pa  # lazy: pyarrow loads only when a table is read or written

        ArrowIO().dump(pa.Table.from_pandas(value), f)

    def load(self, f: IO[bytes]) -> Any:
        return ArrowIO().load(f).to_pandas()


class BytesIO_:
    """Raw ``bytes`` as they are."""

    name = "bytes"
    stores = "bytes"

    def handles(self, value: Any) -> bool:
        return isinstance(value, (bytes, bytearray, memoryview))

    accepts = handles

    def dump(self, value: Any, f: IO[bytes]) -> None:
        f.write(bytes(value))

    def load(self, f: IO[bytes]) -> Any:
        return f.read()


class TextIO_:
    """``str`` as UTF-8."""

    name = "text"
    stores = "str"

    def handles(self, value: Any) -> bool:
        return isinstance(value, str)

    accepts = handles

    def dump(self, value: Any, f: IO[bytes]) -> None:
        f.write(value.encode("utf-8"))

    def load(self, f: IO[bytes]) -> Any:
        return f.read().decode("utf-8")


class JsonIO:
    """JSON: chosen automatically for numbers, booleans and None; by ``io_manager="json"`` otherwise."""

    name = "json"
    stores = "JSON values (dict, list, str, int, float, bool, None)"

    def handles(self, value: Any) -> bool:
        return value is None or isinstance(value, (bool, int, float))

    def accepts(self, value: Any) -> bool:
        return value is None or isinstance(value, (dict, list, tuple, str, bool, int, float))

    def dump(self, value: Any, f: IO[bytes]) -> None:
        # sort_keys: equal dicts built in a different order must give equal bytes (early cutoff)
        try:
            text = _scalar_text(value) or _JSON_VALUE.encode(value)
        except (TypeError, ValueError) as exc:  # keys JSON cannot hold, or that cannot be sorted
            raise ValueTypeError(f"io_manager 'json' stores {self.stores}; the value holds what JSON cannot: {exc}",
                                 hint=_WRONG_TYPE_HINT) from None
        f.write(text.encode("utf-8"))

    def load(self, f: IO[bytes]) -> Any:
        return json.loads(f.read().decode("utf-8"))


class FileIO:
    """A file the asset wrote itself (``context.output_path``), stored byte for byte.

    Downstream assets receive a local path to it (never a copy in memory), so a
    model or a large export of any format passes through unchanged.
    """

    name = "file"
    stores = "the path of a file the asset wrote"

    def handles(self, value: Any) -> bool:
        return False  # chosen when an asset writes to context.output_path, or by name

    def accepts(self, value: Any) -> bool:
        import os

        return isinstance(value, (str, os.PathLike)) and os.path.isfile(value)

    def dump(self, value: Any, f: IO[bytes]) -> None:
        import shutil  # lazy: only a run that stores a file copies one

        with open(value, "rb") as src:
            shutil.copyfileobj(src, f, 1 << 20)

    def load(self, f: IO[bytes]) -> Any:
        path = _local_path(f)
        if path is not None:
            return path

        import shutil
        import tempfile  # lazy, as above

        with tempfile.NamedTemporaryFile(prefix=INPUT_COPY_PREFIX, delete=False) as out:
            shutil.copyfileobj(f, out, 1 << 20)
        return out.name



class PickleIO:
    """Pickle (protocol 4), the fallback for any other Python value; sets in a canonical order."""

    name = "pickle"

    def handles(self, value: Any) -> bool:
        return True

    def dump(self, value: Any, f: IO[bytes]) -> Set[Any]:
        """Pickles ``value``; returns the classes and functions it names (kept by reference)."""
        import pickle  # lazy: a no-op pickles nothing

        from datamake.storage import canonicalpickle

        try:
            return canonicalpickle.dump(value, f)
        except (TypeError, AttributeError, pickle.PicklingError) as exc:  # a lock, a connection, a local class
            raise ValueTypeError(
                f"pickle cannot store a {type(value).__module__}.{type(value).__qualname__} ({exc})",
                hint="return data (a table, a dict, numbers, text), write a file at context.output_path and return "
                     "None, or register an IO manager for this type (docs/api.md, IO managers)",
            ) from exc

    def load(self, f: IO[bytes]) -> Any:
        import pickle  # lazy: a no-op unpickles nothing

        return pickle.load(f)


_REGISTRY: Dict[str, IOManager] = {}
_ORDER: List[str] = []
# What the built-in managers, tried in their order, choose for a value of these exact types (the first
# whose ``handles`` is true); used while every manager tried is a built-in one.
_BUILT_IN_CHOICE = {int: "json", float: "json", bool: "json", type(None): "json", str: "text"}
_only_built_in = True
# The names of the registered managers that read a BytesIO as they read the stored file: the built-in
# ones, but ``file`` (which hands over a path). A user's own manager may need the file itself.
_FROM_MEMORY = set()
# The registry above is the view of one project load: what every project shares (the built-ins, and
# managers registered by code outside any project, a plugin library), in ``_BASE``, then what that
# project's own code registered, in ``_OWNED`` under its load (project folder, definitions).
_BASE: List[Tuple[IOManager, bool]] = []
_OWNED: Dict[Tuple[str, str], List[Tuple[IOManager, bool]]] = {}
_view = loader.load_state()  # (load, forgets) the registry shows


def register(manager: IOManager, *, auto: bool = True) -> None:
    """Add an IO manager; with ``auto`` it is tried, before the built-ins, when none is named.

    A manager that a project's code registers belongs to that project's load: another project loaded
    in the same process does not see it, and it is gone when the project's code is reloaded."""
    _follow_active_load()
    owner = _registering_project(sys._getframe(1))
    (_OWNED.setdefault(owner, []) if owner else _BASE).append((manager, auto))
    _add(manager, auto)


def _add(manager: IOManager, auto: bool) -> None:
    global _only_built_in
    _REGISTRY[manager.name] = manager
    if manager.name != "file" and type(manager).__module__ == __name__:
        _FROM_MEMORY.add(manager.name)
    else:
        _FROM_MEMORY.discard(manager.name)
    if auto and manager.name not in _ORDER:
        _ORDER.insert(0, manager.name)
    _only_built_in = all(type(_REGISTRY[n]).__module__ == __name__ for n in _ORDER)


def _registering_project(frame: Any) -> Optional[Tuple[str, str]]:
    """The project load whose code calls :func:`register` from ``frame``: the project loaded last, for
    project code; None for datamake's own code and code outside every project (a plugin library)."""
    load = loader.load_state()[0]
    if load is None or frame.f_globals.get("__name__", "").startswith("datamake."):
        return None
    return load if snapshot.is_under_roots(frame.f_code.co_filename) else None


def _follow_active_load() -> None:
    """Make the registry show the project loaded last (forgetting what reloaded code registered); one
    check while no project registers a manager of its own."""
    global _view
    view = loader.load_state()
    if view is _view:
        return
    shown = bool(_OWNED.get(_view[0]))
    if view[1] != _view[1]:
        _OWNED.clear()  # the code that registered them is gone: reloaded code registers anew
    _view = view
    if shown or _OWNED.get(view[0]):
        _show(_BASE + _OWNED.get(view[0], []))


def _show(entries: List[Tuple[IOManager, bool]]) -> None:
    """Rebuild the registry from ``entries``, in registration order."""
    _REGISTRY.clear()
    _ORDER.clear()
    _FROM_MEMORY.clear()
    for manager, auto in entries:
        _add(manager, auto)


for _m in (PickleIO(), JsonIO(), TextIO_(), BytesIO_(), PandasIO(), ArrowIO()):
    register(_m)
register(FileIO(), auto=False)
register(FolderIO(), auto=False)


def decodes_from_memory(name: str) -> bool:
    """Whether the manager called ``name`` reads the bytes of a value from memory (a ``BytesIO``) as it
    reads them from the stored file: a built-in one, but ``file``."""
    return name in _FROM_MEMORY


def get(name: str) -> IOManager:
    """The IO manager called ``name``; a DefinitionError names the known ones."""
    _follow_active_load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise DefinitionError(
            f"unknown io_manager '{name}'",
            hint=did_you_mean(name, _REGISTRY) or f"known: {', '.join(sorted(_REGISTRY))}",
        ) from None


def reader(name: str) -> IOManager:
    """The manager that reads back a value the manager called ``name`` stored: the one of the project
    loaded last, else the one another project loaded in this process registers under that name (the
    values of a project loaded before it are still read with their own manager)."""
    _follow_active_load()
    if name not in _REGISTRY:
        registered = [m for entries in _OWNED.values() for m, _auto in entries if m.name == name]
        if registered:
            return registered[-1]
    return get(name)


def choose(value: Any, name: Optional[str] = None, key: str = "") -> IOManager:
    """The manager named ``name``, or the first that handles ``value``'s type.

    A named manager that does not accept ``value`` raises a :class:`ValueTypeError`
    naming the manager, what it stores and what asset ``key`` returned.
    """
    _follow_active_load()
    if not name:
        built_in = _BUILT_IN_CHOICE.get(type(value)) if _only_built_in else None
        if built_in is not None:  # (one per built asset: a number, a string)
            return _REGISTRY[built_in]
        return next(_REGISTRY[n] for n in _ORDER if _REGISTRY[n].handles(value))
    manager = get(name)
    accepts = getattr(manager, "accepts", None)
    if accepts is not None and not accepts(value):
        kind = type(value)
        got = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        raise ValueTypeError(f"io_manager '{name}' stores {getattr(manager, 'stores', 'other values')}; "
                             f"asset `{key}` returned {got}", hint=_WRONG_TYPE_HINT)
    return manager


def _not_json(value: Any) -> Any:
    """``json.dumps``'s fallback: name the value JSON cannot hold."""
    raise TypeError(f"a {type(value).__name__}")


def _scalar_text(value: Any) -> Optional[str]:
    """The JSON text of an int, a bool or None, as the encoder writes it, without the encoder's set-up
    per call (which costs ten times the encoding of a number); None for any other value."""
    if type(value) is int:
        return int.__repr__(value)  # (ValueError past the interpreter's digit limit, as the encoder raises)
    return "null" if value is None else "true" if value is True else "false" if value is False else None


# the json manager's encoder, made once (json.dumps would build one per value; the bytes are the same)
_JSON_VALUE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=True, sort_keys=True,
                               default=_not_json)


_WRONG_TYPE_HINT = "return that, or drop io_manager= to store the value by its type"


def names() -> List[str]:
    _follow_active_load()
    return sorted(_REGISTRY)


def automatic() -> List[IOManager]:
    """The managers tried, in order, for a value of an asset that names none."""
    _follow_active_load()
    return [_REGISTRY[n] for n in _ORDER]


def is_built_in(manager: IOManager) -> bool:
    """Whether ``manager`` is one of datamake's own."""
    return type(manager).__module__.startswith("datamake.")

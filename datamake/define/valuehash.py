"""Canonical content hashing of Python values, for code versions.

:func:`Encoder.encode` turns a value into a text that depends only on its
content: not on memory addresses, ``PYTHONHASHSEED`` (sets are sorted), the
platform, or the folder the project lives in (``roots`` inside strings and
paths become ``<project>``). Dicts keep their order: it can change a result.
Functions, classes and other code met inside a value are handed to a callback
that versions them as code. A value with no canonical form raises
:class:`Unversionable`.
"""
from __future__ import annotations

import datetime
import enum
import functools
import json
import os
import re
import sys
import types
from typing import Any, Callable, Iterable, List, Optional, Set, Tuple

from datamake.core.hashing import hash_bytes
from datamake.core.loadedkinds import LoadedKinds, PurePaths

_MAX_TEXT = 10_000
PLACEHOLDER = "<project>"


class Unversionable(Exception):
    """A value (or a part of it) that has no canonical form; ``type_name`` names its type."""

    def __init__(self, type_name: str):
        super().__init__(type_name)
        self.type_name = type_name


def type_name(value: Any) -> str:
    """``module.QualName`` of ``value``'s type."""
    t = type(value)
    return f"{t.__module__}.{t.__qualname__}"


def root_variants(roots: Iterable[str]) -> Tuple[str, ...]:
    """Every spelling of each root to replace, longest first (so a nested root wins)."""
    return _root_variants(tuple(roots))


@functools.lru_cache(maxsize=64)
def _root_variants(roots: Tuple[str, ...]) -> Tuple[str, ...]:
    found: Set[str] = set()
    for root in roots:
        for variant in (root, os.path.abspath(root), os.path.realpath(root)):
            variant = variant.rstrip("/\\")
            if len(variant) > 1:
                found.add(variant)
    return tuple(sorted(found, key=len, reverse=True))


def portable_text(text: str, roots: Tuple[str, ...]) -> str:
    """``text`` with any project root (a whole path prefix, not a part of a name) replaced by a placeholder."""
    for root in roots:
        if root in text:
            text = re.sub(re.escape(root) + r"(?=[/\\]|$|[^\w.-])", PLACEHOLDER, text)
    return text


def _json(text: str) -> str:
    return json.dumps(text, ensure_ascii=True)


class Encoder:
    """Encodes values; ``code(obj, path)`` returns a digest for functions, classes and callables
    it decides to version as code, or None when ``obj`` is not code it knows."""

    def __init__(self, code: Callable[[Any, str], Optional[str]], roots: Tuple[str, ...] = ()):
        self.code = code
        self.roots = roots
        self._stack: Set[int] = set()

    def encode(self, value: Any, path: str) -> str:
        """The canonical text of ``value`` (``path`` names where it sits, for code labels)."""
        scalar = self._scalar(value)
        if scalar is not None:
            return scalar
        if id(value) in self._stack:
            return "cycle"
        self._stack.add(id(value))
        try:
            return self._compound(value, path)
        finally:
            self._stack.discard(id(value))

    def _scalar(self, v: Any) -> Optional[str]:
        t = type(v)
        if v is None or t is bool:
            return repr(v)
        if t is int:
            return f"int:{v}"
        if t is float:
            return f"float:{v!r}"
        if t is str:
            return "str:" + _json(portable_text(v, self.roots))
        if t is bytes:
            return f"bytes:{v.hex()}" if len(v) <= _MAX_TEXT else f"bytes#{hash_bytes(v)}"
        if t is complex:
            return f"complex:{v!r}"
        return None

    def _compound(self, v: Any, path: str) -> str:
        for kinds, method in _DISPATCH:
            if isinstance(v, kinds):
                text = method(self, v, path)
                if method in _CLASS_AWARE or type(v).__module__ in _STANDARD_MODULES:
                    return text
                return self._project_subclass(v, path) + text
        return self._object(v, path)

    def _project_subclass(self, v: Any, path: str) -> str:
        """``class Money(Decimal)`` with methods of its own: the class's code and attributes, a prefix to
        the value's text ("" for a class of an installed library: a pandas Timestamp is a datetime)."""
        owner = self.code(type(v), f"{path}.__class__")
        if owner is None or owner.startswith(("ext:", "datamake:")):
            return ""
        return f"{owner}{self.state(v, path) if getattr(v, '__dict__', None) else ''}|"

    def _items(self, items: Iterable[Any], path: str) -> List[str]:
        return [self.encode(x, f"{path}[{i}]") for i, x in enumerate(items)]

    def _sequence(self, v: Any, path: str) -> str:
        prefix = _builtin_subclass_prefix(self, v, (list, tuple))
        return f"{prefix}({','.join(self._items(v, path))})"

    def _set(self, v: Any, path: str) -> str:
        prefix = _builtin_subclass_prefix(self, v, (set, frozenset))
        return f"{prefix}{{{','.join(sorted(self.encode(x, f'{path}{{}}') for x in v))}}}"

    def _dict(self, v: Any, path: str) -> str:
        prefix = _builtin_subclass_prefix(self, v, (dict,))
        factory = getattr(v, "default_factory", None)
        if factory is not None:
            prefix += "factory=" + self.encode(factory, f"{path}.default_factory")
        items = [f"{self.encode(k, path)}:{self.encode(x, f'{path}[{_label(k)}]')}" for k, x in v.items()]
        return f"{prefix}{{{','.join(items)}}}"

    def _simple_text(self, v: Any, path: str) -> str:
        fractions = sys.modules.get("fractions")
        exact_fraction = fractions is not None and type(v) is fractions.Fraction
        return f"{type_name(v)}:{f'{v.numerator}/{v.denominator}' if exact_fraction else str(v)}"

    def _when(self, v: Any, path: str) -> str:
        tz = getattr(v, "tzinfo", None)
        naive = v.replace(tzinfo=None) if tz is not None else v
        fold = getattr(v, "fold", 0)
        return f"{type(v).__name__}:{naive.isoformat()}|{_tz_text(tz, v)}|{fold}"

    def _timedelta(self, v: datetime.timedelta, path: str) -> str:
        return f"timedelta:{v.days},{v.seconds},{v.microseconds}"

    def _pattern(self, v: Any, path: str) -> str:
        return f"re:{self.encode(v.pattern, path)}/{int(v.flags)}"

    def _enum(self, v: enum.Enum, path: str) -> str:
        cls = type(v)
        owner = self.code(cls, f"{path}.__class__") or f"{cls.__module__}.{cls.__qualname__}"
        return f"enum:{owner}.{_member_name(v)}={self.encode(v.value, path)}"

    def _path(self, v: Any, path: str) -> str:
        return f"{type(v).__name__}:{_json(portable_text(v.as_posix(), self.roots))}"

    def _partial(self, v: functools.partial, path: str) -> str:
        func = self.code(v.func, f"{path}.func") or self.encode(v.func, f"{path}.func")
        args = ",".join(self._items(v.args, f"{path}.args"))
        keywords = self._dict(dict(sorted(v.keywords.items())), f"{path}.keywords")
        return f"partial:{type_name(v)}({func};{args};{keywords})"

    def _object(self, v: Any, path: str) -> str:
        form = typing_form(v)
        if form is not None:
            return self._typing(v, form, path)
        if _reducible(v):
            return self._reduced(v, path)
        digest = self.code(v, path)
        if digest is not None:
            return f"code:{digest}"
        if isinstance(v, types.ModuleType):
            return f"module:{v.__name__}"
        array = _numpy_array(v)
        if array is None:
            array = _arrow_data(v)
        if array is None:
            array = _pandas_data(v)
        if array is not None:
            return array
        if _pandas_scalar(v):
            return self._reduced(v, path)
        uuid = sys.modules.get("uuid")  # not imported here: it is slow to import
        if uuid is not None and isinstance(v, uuid.UUID):
            return f"UUID:{v}"
        logging = sys.modules.get("logging")
        if logging is not None and isinstance(v, (logging.Logger, logging.LoggerAdapter)):
            return f"logger:{type_name(v)}:{getattr(v, 'name', '')}"  # logs do not change values
        if _is_pool(v):
            return f"pool:{type_name(v)}"  # where work runs does not change it (its functions are versioned)
        raise Unversionable(type_name(v))

    def _typing(self, v: Any, origin: Any, path: str) -> str:
        """A typing form (``List[int]``, ``Literal["a"]``, ``int | None``) by its origin and arguments."""
        typing = sys.modules["typing"]
        if isinstance(v, typing.TypeVar):
            return f"TypeVar:{v.__name__}"
        if not isinstance(origin, type):
            owner = repr(origin)  # typing.Literal, typing.Union
        elif origin.__module__ in _TYPING_MODULES:
            owner = f"{origin.__module__}.{origin.__qualname__}"  # typing.Annotated: a class on some Pythons only
        else:
            owner = self.code(origin, f"{path}.__origin__") or type_name(origin)
        return f"typing:{owner}[{self.encode(typing.get_args(v), path)}]"

    def _reduced(self, v: Any, path: str) -> str:
        """A standard-library value by what pickling it records (its class, arguments and state)."""
        if type(v).__name__ == "Struct":
            return f"Struct:{v.format}"
        try:
            reduced = v.__reduce_ex__(4)
        except Exception:  # noqa: BLE001 - a lock, a connection: no canonical form
            raise Unversionable(type_name(v)) from None
        if isinstance(reduced, str):  # a singleton, pickled by its name (``pd.NA``)
            return f"global:{type_name(v)}:{reduced}"
        reduced = list(reduced)
        reduced[3:] = [None if x is None else list(x) for x in reduced[3:]]  # iterators of items
        if len(reduced) > 2 and reduced[2] == {}:
            reduced[2] = None  # no state: Python 3.9 says {} where 3.11 says None
        while reduced[-1] is None:
            reduced.pop()  # the same on every Python: some give trailing Nones, others leave them out
        return f"reduced:{type_name(v)}:{self.encode(tuple(reduced), path)}"

    def state(self, v: Any, path: str) -> str:
        """An instance's attributes (``__dict__`` and slots), in a canonical order."""
        attrs = dict(getattr(v, "__dict__", {}) or {})
        for cls in type(v).__mro__:
            slots = cls.__dict__.get("__slots__", ())
            for name in (slots,) if isinstance(slots, str) else slots:
                if name not in ("__dict__", "__weakref__") and hasattr(v, name):
                    attrs[name] = getattr(v, name)
        body = [f"{_json(k)}:{self.encode(attrs[k], f'{path}.{k}')}" for k in sorted(attrs)]
        return "{" + ",".join(body) + "}"


def _member_name(v: enum.Enum) -> Optional[str]:
    """An enum member's name; for a combination of flags, its members' names joined by ``|`` in their
    order (``R|W``, as Python 3.11+ names it; 3.9 and 3.10 name it None)."""
    cls = type(v)
    if v.name is not None or not isinstance(v, enum.Flag):
        return v.name
    value = v.value
    parts = [m.name for m in cls if m.value and m.value & (m.value - 1) == 0 and value & m.value == m.value]
    return "|".join(parts) if parts else None


def _label(key: Any) -> str:
    return key if isinstance(key, str) else repr(key) if isinstance(key, (int, float, bool)) else "?"


def _builtin_subclass_prefix(enc: Encoder, v: Any, bases: tuple) -> str:
    """'' for the builtin type itself; the subclass (versioned as code, or by name) and its state otherwise."""
    t = type(v)
    if t in bases:
        return t.__name__
    owner = enc.code(t, "<type>") or f"{t.__module__}.{t.__qualname__}"
    extra = enc.state(v, "<state>") if getattr(v, "__dict__", None) else ""
    return f"{owner}{extra}"


def _tz_text(tz: Any, when: Any) -> str:
    if tz is None:
        return ""
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)  # zoneinfo, pytz
    if isinstance(key, str):
        return f"zone:{key}"
    if isinstance(tz, datetime.timezone):
        offset = tz.utcoffset(None)
        return f"fixed:{offset.days},{offset.seconds},{offset.microseconds}"
    try:
        return f"{type_name(tz)}:{tz.tzname(when if isinstance(when, datetime.datetime) else None)}"
    except Exception:  # noqa: BLE001 - an exotic tzinfo
        raise Unversionable(type_name(tz)) from None


def _numpy_array(v: Any) -> Optional[str]:
    """Arrays, scalars and dtypes of numpy (when it is loaded), by dtype, shape and bytes."""
    np = sys.modules.get("numpy")
    if np is not None and isinstance(v, np.dtype):
        return f"dtype:{v.str}:{v.descr!r}"
    if np is None or not isinstance(v, (np.ndarray, np.generic)) or v.dtype.hasobject:
        return None
    data = np.ascontiguousarray(v).tobytes()
    return f"ndarray:{v.dtype.str}:{list(np.shape(v))}:{hash_bytes(data)}"


def _arrow_data(v: Any) -> Optional[str]:
    """Tables, record batches, arrays, schemas, fields and data types of pyarrow (when it is loaded),
    by their Arrow IPC bytes: schema (with its metadata), chunks and values."""
    pa = sys.modules.get("pyarrow")
    if pa is None:
        return None
    if isinstance(v, (pa.DataType, pa.Field)):  # as the only field of a schema
        v = pa.schema([v if isinstance(v, pa.Field) else pa.field("", v)])
    if isinstance(v, pa.Schema):
        return f"arrow-schema:{hash_bytes(v.serialize().to_pybytes())}"
    if isinstance(v, (pa.Array, pa.ChunkedArray)):
        v = pa.table({"values": v})
    elif isinstance(v, pa.RecordBatch):
        v = pa.Table.from_batches([v])
    elif not isinstance(v, pa.Table):
        return None
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, v.schema) as writer:
        writer.write_table(v)
    return f"arrow:{hash_bytes(sink.getvalue().to_pybytes())}"


def _pandas_data(v: Any) -> Optional[str]:
    """DataFrames, Series and indexes of pandas (when it is loaded): their values and index (pandas'
    own row hashes), column names and dtypes."""
    pd = sys.modules.get("pandas")
    if pd is None or not isinstance(v, (pd.DataFrame, pd.Series, pd.Index)):
        return None
    try:
        rows = pd.util.hash_pandas_object(v, index=not isinstance(v, pd.Index)).to_numpy().tobytes()
    except TypeError:  # values pandas cannot hash (lists, dicts in cells)
        raise Unversionable(type_name(v)) from None
    columns = list(map(str, v.columns)) if isinstance(v, pd.DataFrame) else [str(v.name)]
    dtypes = [_dtype_text(pd, d) for d in (v.dtypes if isinstance(v, pd.DataFrame) else [v.dtype])]
    shape = f"{type(v).__name__}:{columns}:{dtypes}:{list(v.shape)}"
    return f"pandas:{hash_bytes(shape.encode())}:{hash_bytes(rows)}"


def _dtype_text(pd: Any, dtype: Any) -> str:
    """A column's dtype; a categorical one with its categories and order, which rows do not show (a
    category no row holds yet, ``ordered=True``)."""
    if not isinstance(dtype, pd.CategoricalDtype):
        return str(dtype)
    categories = pd.util.hash_pandas_object(dtype.categories).to_numpy().tobytes()
    return f"category:{dtype.ordered}:{dtype.categories.dtype}:{hash_bytes(categories)}"


def _pandas_scalar(v: Any) -> bool:
    """A pandas interval, period, date offset or dtype (``MonthEnd(2)``, ``CategoricalDtype(["x", "y"])``;
    when pandas is loaded): pickling it records its content."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(v, (pd.Interval, pd.Period, pd.offsets.BaseOffset,
                                             pd.api.extensions.ExtensionDtype, type(pd.NA)))


_TYPING_MODULES = ("typing", "types", "typing_extensions")
# Standard-library modules whose values pickle to exactly their content (no connection, file or lock),
# and the C containers whose items are not attributes (a project subclass of theirs too).
_REDUCED_MODULES = frozenset({"collections", "array", "ipaddress", "zoneinfo", "datetime", "string", "operator",
                              "decimal", "textwrap", "_struct", "json.encoder", "json.decoder",
                              "dateutil.relativedelta", "dateutil._common"})  # (a pandas DateOffset's)
_HIDDEN_ITEMS = (("collections", "deque"), ("array", "array"))


def typing_form(v: Any) -> Any:
    """The origin of a subscripted typing form (``list`` for ``List[int]``), or None for anything else
    (``typing.List`` alone is installed code, named as such)."""
    typing = sys.modules["typing"]
    if isinstance(v, typing.TypeVar):
        return typing.TypeVar
    if type(v).__module__ not in _TYPING_MODULES or not typing.get_args(v):
        return None
    return typing.get_origin(v)


def _is_pool(v: Any) -> bool:
    """A process or thread pool (a ``concurrent.futures`` executor, a ``multiprocessing`` pool), or a
    ``multiprocessing`` context (``multiprocessing.get_context`` is a method of the default one)."""
    futures = sys.modules.get("concurrent.futures._base")
    pools = sys.modules.get("multiprocessing.pool")
    contexts = sys.modules.get("multiprocessing.context")
    return ((futures is not None and isinstance(v, futures.Executor)) or (pools is not None and isinstance(v, pools.Pool))
            or (contexts is not None and isinstance(v, contexts.BaseContext)))


def _reducible(v: Any) -> bool:
    t = type(v)
    if t.__module__ in _REDUCED_MODULES or t is object:
        return True
    return any((base.__module__, base.__name__) in _HIDDEN_ITEMS for base in t.__mro__[1:])


def _scalar_subclass(enc: Encoder, v: Any, path: str) -> str:
    return f"{_builtin_subclass_prefix(enc, v, ())}:{v!r}"


def _range(enc: Encoder, v: Any, path: str) -> str:
    return f"{type(v).__name__}:{','.join(enc.encode(x, path) for x in (v.start, v.stop, v.step))}"


def _namespace(enc: Encoder, v: Any, path: str) -> str:
    return f"namespace:{enc.state(v, path)}"


class _Numbers(metaclass=LoadedKinds):
    """``isinstance(v, _Numbers)``: v is a Decimal or a Fraction (importing datamake loads neither)."""

    # decimal.Decimal is _decimal.Decimal (the C module, which can be imported alone)
    kinds = (("_decimal", "Decimal"), ("decimal", "Decimal"), ("fractions", "Fraction"))


# Modules whose classes the dispatch below describes fully (a subclass elsewhere may add methods).
_STANDARD_MODULES = frozenset({"builtins", "datetime", "decimal", "_decimal", "fractions", "pathlib", "pathlib._local",
                               "functools", "types", "re", "enum", "uuid"})

_DISPATCH: Tuple[Tuple[Any, Callable[[Encoder, Any, str], str]], ...] = (
    (enum.Enum, Encoder._enum),  # before int/str: IntEnum members are ints too
    ((list, tuple), Encoder._sequence),
    (dict, Encoder._dict),
    ((set, frozenset), Encoder._set),
    ((int, float, str, bytes, complex), _scalar_subclass),
    (_Numbers, Encoder._simple_text),
    ((datetime.datetime, datetime.date, datetime.time), Encoder._when),
    (datetime.timedelta, Encoder._timedelta),
    (re.Pattern, Encoder._pattern),
    (PurePaths, Encoder._path),
    (functools.partial, Encoder._partial),
    ((range, slice), _range),
    (bytearray, lambda enc, v, p: f"bytearray:{v.hex()}"),
    (types.SimpleNamespace, _namespace),
    (type(Ellipsis), lambda enc, v, p: "Ellipsis"),
    (types.MappingProxyType, lambda enc, v, p: f"mappingproxy{enc._dict(dict(v), p)}"),
    (memoryview, lambda enc, v, p: f"memoryview:{v.format}:{list(v.shape or ())}:{v.tobytes().hex()}"),
)
# Descriptions that name a subclass's code themselves (enum members, builtin containers and scalars).
_CLASS_AWARE = frozenset({Encoder._enum, Encoder._sequence, Encoder._dict, Encoder._set, _scalar_subclass})

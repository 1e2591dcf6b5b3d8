"""Record classes that cost next to nothing to define, and records filled without their ``__init__``.

:func:`record` is ``@dataclass`` for datamake's own record classes. ``@dataclass`` compiles
every generated method (``__init__``, ``__repr__``, ``__eq__``, ``__hash__``, a frozen class's
``__setattr__`` and ``__delattr__``) with its own ``exec`` when the class is defined: about
1 ms a class, paid by every command at start-up for some 30 classes. A record is the same
dataclass (``dataclasses.fields``, ``replace``, ``asdict`` and pickling work as before) whose
``__repr__``, ``__eq__``, ``__hash__`` and frozen ``__setattr__``/``__delattr__`` are shared
functions over its fields, and whose ``__init__`` is compiled by ``dataclasses`` when the first
instance is made: classes a command never instantiates compile nothing.

A frozen dataclass's ``__init__`` sets each field with ``object.__setattr__``: a few microseconds
for a record of a dozen fields, paid for every asset of a no-op ``make`` (its definition, code
version, planner facts and decision). :func:`filled` makes the dict of its keyword arguments the
instance's ``__dict__``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import MISSING, FrozenInstanceError, fields
from operator import attrgetter
from reprlib import recursive_repr
from typing import Any, Callable, Dict, Tuple, Type, TypeVar

T = TypeVar("T")

_DEFAULTS: Dict[type, Dict[str, Any]] = {}  # a dataclass -> its fields' plain defaults
_SIZES: Dict[type, int] = {}  # a dataclass -> how many fields it has
_set = object.__setattr__


def filled(cls: Type[T], **values: Any) -> T:
    """``cls(**values)`` for a frozen dataclass ``cls`` without ``__post_init__`` or ``__slots__``.

    A field with a plain default may be left out; one with a ``default_factory`` must be given.
    """
    defaults = _DEFAULTS.get(cls)
    if defaults is None:
        defaults = _DEFAULTS[cls] = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
        _SIZES[cls] = len(fields(cls))
    if len(values) < _SIZES[cls]:
        values = {**defaults, **values}  # (one merge: a setdefault for each default cost more)
    obj = object.__new__(cls)
    _set(obj, "__dict__", values)  # the call's own new dict (or the merge) becomes the instance's: not copied again
    return obj


def record(cls: Any = None, *, frozen: bool = False, eq: bool = True) -> Any:
    """``@dataclass(frozen=..., eq=...)`` without compiling the generated methods at definition.

    The class is a dataclass with the same fields, constructor, ``repr``, equality, hashing and
    immutability as ``@dataclass`` would give it (equality and the hash compare the tuple of the
    compared fields, as ``@dataclass`` does up to Python 3.12).
    """
    def wrap(c: Any) -> Any:
        return _define(c, frozen, eq)
    return wrap if cls is None else wrap(cls)


def _define(cls: Any, frozen: bool, eq: bool) -> Any:
    own = cls.__dict__
    explicit_hash = "__hash__" in own and not (own["__hash__"] is None and "__eq__" in own)
    has_doc = bool(own.get("__doc__"))
    if not has_doc:
        cls.__doc__ = cls.__name__  # for now: dataclasses would ask for a signature
    # Below a dataclass, dataclasses checks (and makes) frozen-ness itself; nothing else is compiled here.
    below = any("__dataclass_fields__" in b.__dict__ for b in cls.__mro__[1:])
    dataclasses.dataclass(cls, init=False, repr=False, eq=False, frozen=frozen and below)
    params = cls.__dataclass_params__
    params.init, params.repr, params.eq, params.frozen = True, True, eq, frozen
    field_list = fields(cls)
    _put(cls, "__init__", _lazy_init(cls, frozen))
    cls.__signature__ = _Signature()
    _put(cls, "__repr__", _repr([f.name for f in field_list if f.repr]))
    if eq:
        _put(cls, "__eq__", _eq(_values([f.name for f in field_list if f.compare])))
        if not explicit_hash:
            hashed = [f.name for f in field_list if (f.compare if f.hash is None else f.hash)]
            cls.__hash__ = _hash(_values(hashed)) if frozen else None
    if frozen and not below:
        names = tuple(f.name for f in field_list)
        for name, fn in _frozen(cls, names):
            if name in own:
                raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
            _put(cls, name, fn)
    if not has_doc:
        cls.__doc__ = _Doc()  # @dataclass's: the signature, worked out when first read
    return cls


def _put(cls: Any, name: str, fn: Callable) -> None:
    """Set a generated method unless the class defines its own (as ``@dataclass`` does)."""
    if name not in cls.__dict__:
        fn.__qualname__ = f"{cls.__qualname__}.{name}"
        fn.__name__ = name
        setattr(cls, name, fn)


def _values(names: list) -> Callable[[Any], Tuple]:
    """The tuple of an instance's ``names`` (``operator.attrgetter`` makes one for two or more)."""
    if len(names) >= 2:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda self: (one(self),)
    return lambda self: ()


def _repr(names: list) -> Callable:
    @recursive_repr()
    def __repr__(self: Any) -> str:
        inner = ", ".join([f"{n}={getattr(self, n)!r}" for n in names])
        return f"{self.__class__.__qualname__}({inner})"
    return __repr__


def _eq(values: Callable[[Any], Tuple]) -> Callable:
    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return values(self) == values(other)
        return NotImplemented
    return __eq__


def _hash(values: Callable[[Any], Tuple]) -> Callable:
    def __hash__(self: Any) -> int:
        return hash(values(self))
    return __hash__


def _frozen(cls: Any, names: Tuple[str, ...]) -> Tuple[Tuple[str, Callable], Tuple[str, Callable]]:
    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)
    return ("__setattr__", __setattr__), ("__delattr__", __delattr__)


COMPILE_AFTER = 256  # instances made by the shared __init__ before a record's own is compiled


def _lazy_init(cls: Any, frozen: bool) -> Callable:
    """An ``__init__`` that fills the first instances of a frozen record from its fields, then puts
    ``@dataclass``'s own ``__init__`` in its place (at once for a call it cannot bind, which the
    compiled ``__init__`` then answers, or an error it raises, exactly as ``@dataclass``'s would)."""
    spec = _init_spec(cls) if frozen else None
    post_init = hasattr(cls, "__post_init__")
    made = [0]

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if spec is not None and made[0] < COMPILE_AFTER:
            made[0] += 1
            values = _bound(spec, args, kwargs)
            if values is not None:
                self.__dict__.update(values)
                if post_init:
                    self.__post_init__()
                return
        _compiled_init(cls, frozen)(self, *args, **kwargs)
    __init__.__record_placeholder__ = True  # type: ignore[attr-defined]
    return __init__


Spec = Tuple[Tuple[str, bool, Any, Any], ...]  # each field in order: name, in __init__, default, factory


def _init_spec(cls: Any) -> Any:
    """What the shared ``__init__`` needs, or None when only the compiled one is exact: a field that
    is an ``InitVar``, ``ClassVar`` or keyword-only, or whose class attribute is a descriptor."""
    every = fields(cls)
    if len(every) != len(cls.__dataclass_fields__) or any(getattr(f, "kw_only", False) is True for f in every):
        return None
    for f in every:
        for klass in cls.__mro__:
            if f.name in klass.__dict__:
                if hasattr(type(klass.__dict__[f.name]), "__set__"):
                    return None
                break
    return tuple((f.name, f.init, f.default, f.default_factory) for f in every)


def _bound(spec: Spec, args: Tuple, kwargs: Dict[str, Any]) -> Any:
    """The instance's field values in field order, as ``@dataclass``'s ``__init__`` sets them, or None
    for a call it would refuse (too many arguments, one missing, unknown or given twice)."""
    values: Dict[str, Any] = {}
    given, at, used = len(args), 0, 0
    for name, init, default, factory in spec:
        if not init:
            if factory is not MISSING:
                values[name] = factory()
        elif at < given:
            values[name] = args[at]
            at += 1
        elif name in kwargs:
            values[name] = kwargs[name]
            used += 1
        elif default is not MISSING:
            values[name] = default
        elif factory is not MISSING:
            values[name] = factory()
        else:
            return None
    return values if at == given and used == len(kwargs) else None


def _compiled_init(cls: Any, frozen: bool) -> Callable:
    """``cls.__init__`` as ``@dataclass`` writes it, compiled once and set on ``cls``."""
    init = cls.__dict__["__init__"]
    if not getattr(init, "__record_placeholder__", False):
        return init
    every = cls.__dataclass_fields__
    spec: Dict[str, Any] = {"__annotations__": {name: f.type for name, f in every.items()},
                            "__module__": cls.__module__, "__qualname__": cls.__qualname__}
    spec.update(every)  # dataclasses takes each Field (default, factory, init, kw_only) from here
    if hasattr(cls, "__post_init__"):
        spec["__post_init__"] = cls.__post_init__
    stand_in = dataclasses.dataclass(type(cls.__name__, (), spec), repr=False, eq=False, frozen=frozen)
    init = stand_in.__dict__["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init
    return init


class _Doc:
    """An undocumented record's ``__doc__``, ``Name(field: type, ...)`` as ``@dataclass`` writes it."""

    def __get__(self, obj: Any, owner: type) -> str:
        return owner.__name__ + str(owner.__signature__).replace(" -> None", "")


class _Signature:
    """A record class's ``__signature__``: that of its ``__init__``, compiling it if need be."""

    def __get__(self, obj: Any, owner: type) -> Any:
        import inspect
        for klass in owner.__mro__:
            if "__init__" in klass.__dict__:
                init = klass.__dict__["__init__"]
                if getattr(init, "__record_placeholder__", False):
                    init = _compiled_init(klass, klass.__dataclass_params__.frozen)
                break
        sig = inspect.signature(init)
        return sig.replace(parameters=list(sig.parameters.values())[1:])

"""Record classes that cost next to nothing to define, and records filled without their ``__init__``.

:func:`record` is ``@dataclass`` for datamake's own record classes. ``@dataclass`` compiles
every generated method (``__init__``, ``__repr__``, ``__eq__``, ``__hash__``, a frozen class's
``__setattr__`` and ``__delattr__``) with its own ``exec`` when the class is defined: about
1 ms a class, paid by every command at start-up for some 30 classes; and importing ``dataclasses``
imports ``inspect``, ``ast``, ``dis`` and ``tokenize`` (some 40 M instructions of every start-up).
A record is a class that ``dataclasses`` recognises (``dataclasses.fields``, ``replace``, ``asdict``
and pickling work as before) whose ``__repr__``, ``__eq__``, ``__hash__`` and frozen
``__setattr__``/``__delattr__`` are shared functions over its fields, whose ``__init__`` is compiled
when the first instance is made, and whose ``dataclasses`` fields are made when first asked for. Its
fields are declared with this module's :func:`field`; a class that uses ``dataclasses.field``, an
``InitVar``, ``ClassVar`` or keyword-only field, or that extends a dataclass, is made by ``dataclasses``.

A frozen dataclass's ``__init__`` sets each field with ``object.__setattr__``: a few microseconds
for a record of a dozen fields, paid for every asset of a no-op ``make`` (its definition, code
version, planner facts and decision). :func:`filled` makes the dict of its keyword arguments the
instance's ``__dict__``.
"""
from __future__ import annotations

import sys
from operator import attrgetter
from reprlib import recursive_repr
from typing import Any, Callable, Dict, Optional, Tuple, Type, TypeVar

T = TypeVar("T")

_DEFAULTS: Dict[type, Dict[str, Any]] = {}  # a record -> its fields' plain defaults
_SIZES: Dict[type, int] = {}  # a record -> how many fields it has
_CONVERTED: Dict[type, Tuple["Field", ...]] = {}  # a record made by dataclasses -> its fields, as Field
_set = object.__setattr__


class _Missing:
    """No default given (a record's own ``dataclasses.MISSING``)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class _Factory:
    """The default an ``__init__`` shows for a field its ``default_factory`` fills, as ``@dataclass``'s does."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


class Field:
    """A record's field as :func:`field` declares it, with ``dataclasses.Field``'s attributes."""

    __slots__ = ("name", "type", "default", "default_factory", "init", "repr", "hash", "compare", "metadata")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING, init: bool = True,
                 repr: bool = True, hash: Optional[bool] = None, compare: bool = True, metadata: Any = None):
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name: Any = None
        self.type: Any = None
        self.default, self.default_factory, self.init, self.repr = default, default_factory, init, repr
        self.hash, self.compare, self.metadata = hash, compare, metadata


def field(*, default: Any = MISSING, default_factory: Any = MISSING, init: bool = True, repr: bool = True,
          hash: Optional[bool] = None, compare: bool = True, metadata: Any = None) -> Any:
    """``dataclasses.field`` for a record's field (a record has no keyword-only fields)."""
    return Field(default, default_factory, init, repr, hash, compare, metadata)


def record_fields(cls: Any) -> Tuple[Field, ...]:
    """A record's fields in order (``dataclasses.fields`` without importing ``dataclasses``)."""
    own = cls.__dict__.get("__record_fields__")
    if own is not None:
        return own
    converted = _CONVERTED.get(cls)
    if converted is None:
        import dataclasses
        converted = _CONVERTED[cls] = tuple(_from_dataclasses(f, dataclasses.MISSING)
                                            for f in dataclasses.fields(cls))
    return converted


def field_values(instance: Any) -> Dict[str, Any]:
    """A dataclass instance's field values, shallowly (``asdict`` would make a nested dataclass a dict).

    For a user's config: its module imported ``dataclasses`` already."""
    import dataclasses
    return {f.name: getattr(instance, f.name) for f in dataclasses.fields(instance)}


def _from_dataclasses(f: Any, missing: Any) -> Field:
    made = Field(MISSING if f.default is missing else f.default,
                 MISSING if f.default_factory is missing else f.default_factory,
                 f.init, f.repr, f.hash, f.compare, f.metadata)
    made.name, made.type = f.name, f.type
    return made


def replace(obj: Any, **changes: Any) -> Any:
    """``dataclasses.replace(obj, **changes)`` for a record, without importing ``dataclasses``."""
    own = type(obj).__dict__.get("__record_fields__")
    if own is None:
        import dataclasses
        return dataclasses.replace(obj, **changes)
    for f in own:
        if not f.init:
            if f.name in changes:
                raise ValueError(f"field {f.name} is declared with init=False, it cannot be specified with replace()")
        elif f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return obj.__class__(**changes)


def filled(cls: Type[T], **values: Any) -> T:
    """``cls(**values)`` for a frozen record ``cls`` without ``__post_init__`` or ``__slots__``.

    A field with a plain default may be left out; one with a ``default_factory`` must be given.
    """
    return filled_from(cls, values)


def filled_from(cls: Type[T], values: Dict[str, Any]) -> T:
    """:func:`filled` from a dict of the fields that the caller hands over: it becomes the instance's
    own ``__dict__`` when every field is in it (not copied again: the caller must not keep using it)."""
    defaults = _DEFAULTS.get(cls)
    if defaults is None:
        every = record_fields(cls)
        defaults = _DEFAULTS[cls] = {f.name: f.default for f in every if f.default is not MISSING}
        _SIZES[cls] = len(every)
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
        own = _own_fields(c)
        return _define_by_dataclasses(c, frozen, eq) if own is None else _define(c, own, frozen, eq)
    return wrap if cls is None else wrap(cls)


def _own_fields(cls: Any) -> Optional[Tuple[Field, ...]]:
    """The fields of a record this module makes on its own, or None for one ``dataclasses`` must make: it
    extends a dataclass, or has a field that is not a plain one (``InitVar``, ``ClassVar``, keyword-only,
    declared with ``dataclasses.field``, a descriptor, named ``self``, or annotated by an object)."""
    if any("__dataclass_fields__" in b.__dict__ for b in cls.__mro__[1:]):
        return None
    own = cls.__dict__
    annotations = own.get("__annotations__", {})
    made = []
    for name, kind in annotations.items():
        if not isinstance(kind, str) or name == "self" or any(w in kind for w in ("ClassVar", "InitVar", "KW_ONLY")):
            return None
        value = getattr(cls, name, MISSING)
        if type(value).__module__ == "dataclasses" or hasattr(type(value), "__get__"):
            return None
        f = value if isinstance(value, Field) else Field(default=value)
        f.name, f.type = name, kind
        if f.default is not MISSING and f.default.__class__.__hash__ is None:
            raise ValueError(f"mutable default {type(f.default)} for field {name} is not allowed: use default_factory")
        made.append(f)
    for name, value in list(own.items()):
        if isinstance(value, Field):
            if name not in annotations:
                raise TypeError(f"{name!r} is a field but has no type annotation")
            if value.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, value.default)
    seen_default = False
    for f in made:
        if f.init:
            if f.default is not MISSING or f.default_factory is not MISSING:
                seen_default = True
            elif seen_default:
                raise TypeError(f"non-default argument {f.name!r} follows default argument")
    return tuple(made)


def _define(cls: Any, own_fields: Tuple[Field, ...], frozen: bool, eq: bool) -> Any:
    """A record made here: ``dataclasses`` sees it through its fields and parameters, made when first read."""
    own = cls.__dict__
    explicit_hash = "__hash__" in own and not (own["__hash__"] is None and "__eq__" in own)
    cls.__record_fields__ = own_fields
    cls.__record_frozen__ = frozen
    cls.__dataclass_fields__ = _DataclassFields(cls)
    cls.__dataclass_params__ = _DataclassParams(cls, eq, frozen)
    if "__match_args__" not in own and sys.version_info >= (3, 10):  # (as dataclasses: pattern matching)
        cls.__match_args__ = tuple(f.name for f in own_fields if f.init)
    _methods(cls, own_fields, frozen, eq, explicit_hash, below=False)
    return cls


def _define_by_dataclasses(cls: Any, frozen: bool, eq: bool) -> Any:
    """A record whose fields ``dataclasses`` reads: it alone knows their every kind."""
    import dataclasses
    own = cls.__dict__
    for name, value in list(own.items()):
        if isinstance(value, Field):
            setattr(cls, name, dataclasses.field(
                default=dataclasses.MISSING if value.default is MISSING else value.default,
                default_factory=dataclasses.MISSING if value.default_factory is MISSING else value.default_factory,
                init=value.init, repr=value.repr, hash=value.hash, compare=value.compare, metadata=value.metadata))
    explicit_hash = "__hash__" in own and not (own["__hash__"] is None and "__eq__" in own)
    has_doc = bool(own.get("__doc__"))
    if not has_doc:
        cls.__doc__ = cls.__name__  # for now: dataclasses would ask for a signature
    # Below a dataclass, dataclasses checks (and makes) frozen-ness itself; nothing else is compiled here.
    below = any("__dataclass_fields__" in b.__dict__ for b in cls.__mro__[1:])
    dataclasses.dataclass(cls, init=False, repr=False, eq=False, frozen=frozen and below)
    params = cls.__dataclass_params__
    params.init, params.repr, params.eq, params.frozen = True, True, eq, frozen
    cls.__record_frozen__ = frozen
    _methods(cls, record_fields(cls), frozen, eq, explicit_hash, below)
    if not has_doc:
        cls.__doc__ = _Doc()
    return cls


def _methods(cls: Any, field_list: Tuple[Field, ...], frozen: bool, eq: bool, explicit_hash: bool,
             below: bool) -> None:
    """Put the shared generated methods on a record."""
    own = cls.__dict__
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
    if not own.get("__doc__"):
        cls.__doc__ = _Doc()  # @dataclass's: the signature, worked out when first read


class _DataclassFields:
    """A record's ``__dataclass_fields__``: its ``dataclasses.Field`` objects, made when first read."""

    def __init__(self, cls: Any):
        self.cls = cls

    def __get__(self, obj: Any, owner: Any) -> Dict[str, Any]:
        import dataclasses
        missing = dataclasses.MISSING
        made = {}
        for f in self.cls.__record_fields__:
            real = dataclasses.field(default=missing if f.default is MISSING else f.default,
                                     default_factory=missing if f.default_factory is MISSING else f.default_factory,
                                     init=f.init, repr=f.repr, hash=f.hash, compare=f.compare, metadata=f.metadata)
            real.name, real.type, real._field_type = f.name, f.type, dataclasses._FIELD  # type: ignore[attr-defined]
            if hasattr(real, "kw_only"):
                real.kw_only = False  # type: ignore[attr-defined]
            made[f.name] = real
        setattr(self.cls, "__dataclass_fields__", made)
        return made


class _DataclassParams:
    """A record's ``__dataclass_params__``, made by ``dataclasses`` when first read."""

    def __init__(self, cls: Any, eq: bool, frozen: bool):
        self.cls, self.eq, self.frozen = cls, eq, frozen

    def __get__(self, obj: Any, owner: Any) -> Any:
        import dataclasses
        params = dataclasses.dataclass(type(self.cls.__name__, (), {}), eq=self.eq,
                                       frozen=self.frozen).__dataclass_params__
        setattr(self.cls, "__dataclass_params__", params)
        return params


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
            raise _frozen_error(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise _frozen_error(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)
    return ("__setattr__", __setattr__), ("__delattr__", __delattr__)


def _frozen_error(message: str) -> Exception:
    from dataclasses import FrozenInstanceError  # only a refused assignment needs it
    return FrozenInstanceError(message)


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
    if "__record_fields__" in cls.__dict__:
        return tuple((f.name, f.init, f.default, f.default_factory) for f in cls.__record_fields__)
    import dataclasses
    every = dataclasses.fields(cls)
    if len(every) != len(cls.__dataclass_fields__) or any(getattr(f, "kw_only", False) is True for f in every):
        return None
    for f in every:
        for klass in cls.__mro__:
            if f.name in klass.__dict__:
                if hasattr(type(klass.__dict__[f.name]), "__set__"):
                    return None
                break
    return tuple((f.name, f.init, f.default, f.default_factory) for f in record_fields(cls))


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
    init = _own_init(cls, frozen) if "__record_fields__" in cls.__dict__ else _dataclasses_init(cls, frozen)
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init
    return init


def _own_init(cls: Any, frozen: bool) -> Callable:
    """The ``__init__`` ``@dataclass`` would write for a record made here: the same parameters, defaults,
    annotations and assignments, in field order."""
    env: Dict[str, Any] = {"_FACTORY": _FACTORY, "_setattr": object.__setattr__}
    params, lines, annotations = [], [], {}
    for f in cls.__record_fields__:
        name = f.name
        if f.init:
            annotations[name] = f.type
            if f.default is not MISSING:
                env[f"_dflt_{name}"] = f.default
                params.append(f"{name}=_dflt_{name}")
            else:
                params.append(name if f.default_factory is MISSING else f"{name}=_FACTORY")
        if f.default_factory is not MISSING:
            env[f"_dflt_{name}"] = f.default_factory
            value = f"_dflt_{name}() if {name} is _FACTORY else {name}" if f.init else f"_dflt_{name}()"
        elif f.init:
            value = name
        else:
            continue
        lines.append(f"_setattr(self, {name!r}, {value})" if frozen else f"self.{name} = {value}")
    if hasattr(cls, "__post_init__"):
        lines.append("self.__post_init__()")
    body = "".join(f"    {line}\n" for line in lines or ["pass"])
    exec(f"def __init__({', '.join(['self', *params])}):\n{body}", env)
    init = env["__init__"]
    init.__annotations__ = {**annotations, "return": None}
    return init


def _dataclasses_init(cls: Any, frozen: bool) -> Callable:
    """``@dataclass``'s own ``__init__`` for a record ``dataclasses`` made."""
    import dataclasses
    every = cls.__dataclass_fields__
    spec: Dict[str, Any] = {"__annotations__": {name: f.type for name, f in every.items()},
                            "__module__": cls.__module__, "__qualname__": cls.__qualname__}
    spec.update(every)  # dataclasses takes each Field (default, factory, init, kw_only) from here
    if hasattr(cls, "__post_init__"):
        spec["__post_init__"] = cls.__post_init__
    stand_in = dataclasses.dataclass(type(cls.__name__, (), spec), repr=False, eq=False, frozen=frozen)
    return stand_in.__dict__["__init__"]


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
                    init = _compiled_init(klass, klass.__record_frozen__)
                break
        sig = inspect.signature(init)
        return sig.replace(parameters=list(sig.parameters.values())[1:])

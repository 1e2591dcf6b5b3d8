"""Asset config: dataclass-typed settings from datamake.toml and ``--config``, validated."""
from __future__ import annotations

import collections.abc
import datetime
import enum
import json
import re
import types
import typing
from typing import Any, Dict, Mapping, Optional, Tuple

from datamake.project.settings import toml_kind
from datamake.core.errors import ConfigError, did_you_mean
from datamake.core.hashing import hash_value
from datamake.core.loadedkinds import PurePaths
from datamake.define.lazymodules import lazy

dataclasses = lazy("dataclasses")  # only a config class needs it (and its module imported it)

CONFIG_PARAM = "config"


_BASIC = {"int": int, "float": float, "str": str, "bool": bool}
_UNION_TYPES = (typing.Union,) + ((types.UnionType,) if hasattr(types, "UnionType") else ())


def _type_name(annotation: Any) -> str:
    """How a field's type is shown to the user: ``int``, ``list[str]``, ``Optional[int]``."""
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


class _Mismatch(Exception):
    """A value does not fit a type: raised inside the check, turned into one ConfigError at the field."""

    def __init__(self, where: str, expected: str, value: Any):
        super().__init__(where)
        self.where, self.expected, self.value = where, expected, value


def _from_text(value: str, target: Any, where: str, expected: str) -> Any:
    """A command-line (or TOML string) value converted to a non-string field type."""
    text = value.strip()
    if target is bool:
        if text.lower() in ("true", "1", "yes", "on"):
            return True
        if text.lower() in ("false", "0", "no", "off"):
            return False
        raise _Mismatch(where, "true or false", value)
    try:
        return target(text) if target in (int, float) else json.loads(text)
    except (ValueError, TypeError):
        raise _Mismatch(where, expected, value) from None


def _check(value: Any, annotation: Any, where: str, text: bool, widen: Optional[bool] = None) -> Any:
    """``value`` checked against ``annotation`` (recursively: lists, tuples, sets, dicts, Optional,
    Union, Literal, nested dataclasses); ``text`` converts a string for a non-string type first.

    A whole number for a float is made a float only for a plain top-level float field (``widen``,
    default ``text``): inside containers and unions it is kept as written, as it always was, so
    configs that were accepted before keep their hash."""
    widen = text if widen is None else widen
    if isinstance(annotation, str):  # an annotation that could not be resolved: best effort by name
        annotation = _BASIC.get(annotation, Any)
    if annotation is Any or annotation is typing.Any:
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in _UNION_TYPES:
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check(value, arg, where, text, widen=False)
            except _Mismatch:
                continue
        raise _Mismatch(where, _type_name(annotation), value)
    if origin is typing.Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        raise _Mismatch(where, "one of " + ", ".join(repr(a) for a in args), value)
    target = origin or annotation
    if text and isinstance(value, str) and target is not str and isinstance(target, type):
        value = _from_text(value, target, where, _type_name(annotation))
    if target is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value) if widen else value
    if target is int and isinstance(value, bool):
        raise _Mismatch(where, "int (true/false is not an integer)", value)
    if dataclasses.is_dataclass(target) and isinstance(target, type):
        if isinstance(value, target):
            return value
        if not isinstance(value, dict):
            raise _Mismatch(where, f"{target.__name__} (a table of its fields)", value)
        return _build(target, value, where)
    container = _CONTAINERS.get(target)
    if container is not None:
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise _Mismatch(where, _type_name(annotation), value)
        items = list(value)
        if target is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(items) != len(args):
                raise _Mismatch(where, f"{_type_name(annotation)} ({len(args)} items)", value)
            checked = [_check(v, t, f"{where}[{i}]", False) for i, (v, t) in enumerate(zip(items, args))]
        else:
            element = args[0] if args else Any
            checked = [_check(v, element, f"{where}[{i}]", False) for i, v in enumerate(items)]
        if isinstance(value, container) and all(c is v for c, v in zip(checked, items)):
            return value
        return container(checked)
    if target is dict or _is_mapping(target):
        if not isinstance(value, dict):
            raise _Mismatch(where, _type_name(annotation), value)
        key_type, value_type = args if len(args) == 2 else (Any, Any)
        return {_check(k, key_type, f"{where} key {k!r}", False): _check(v, value_type, f"{where}[{k!r}]", False)
                for k, v in value.items()}
    if isinstance(target, type) and not isinstance(value, target):
        raise _Mismatch(where, _type_name(annotation), value)
    return value


def _is_mapping(origin: Any) -> bool:
    return isinstance(origin, type) and issubclass(origin, collections.abc.Mapping)


# sequence and set types a TOML array (or a JSON list from --config) can fill
_CONTAINERS = {list: list, tuple: tuple, set: set, frozenset: frozenset,
               collections.abc.Sequence: list, collections.abc.MutableSequence: list,
               collections.abc.Set: frozenset, collections.abc.MutableSet: set}


def _build(cls: type, values: Mapping[str, Any], where: str) -> Any:
    from datamake.core.compat import type_hints  # lazy: only a config class

    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = type_hints(cls) if fields else {}
    kwargs: Dict[str, Any] = {}
    for name, value in values.items():
        if name not in fields:
            raise _Unknown(f"{where}.{name}", name, list(fields))
        kwargs[name] = _check(value, hints.get(name, Any), f"{where}.{name}", False)
    missing = [n for n, f in fields.items() if n not in kwargs and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise _Mismatch(where, f"{cls.__name__} with field {', '.join(missing)}", dict(values))
    return cls(**kwargs)


class _Unknown(Exception):
    def __init__(self, where: str, name: str, fields: list):
        super().__init__(where)
        self.where, self.name, self.fields = where, name, fields


def build_config(cls: type, values: Mapping[str, Any], asset_key: str) -> Any:
    """An instance of the dataclass ``cls`` from ``values``; ConfigError names the asset, the field,
    the expected type and the value."""
    from datamake.core.compat import type_hints  # lazy: only a config class

    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = type_hints(cls) if fields else {}
    kwargs: Dict[str, Any] = {}
    for name, value in values.items():
        if name not in fields:
            raise ConfigError(
                f"config of asset '{asset_key}': unknown field '{name}'",
                hint=did_you_mean(name, fields) or f"fields are: {', '.join(fields) or 'none'}",
            )
        try:
            kwargs[name] = _check(value, hints.get(name, Any), name, True)
        except _Mismatch as exc:
            raise ConfigError(
                f"config of asset '{asset_key}', field '{exc.where}': expected {exc.expected}, "
                f"got {toml_kind(exc.value)} {exc.value!r}",
                hint=f"fix it under [config.{asset_key}] in datamake.toml or in --config {asset_key}.{name}=VALUE",
            ) from None
        except _Unknown as exc:
            raise ConfigError(
                f"config of asset '{asset_key}', field '{exc.where}': unknown field '{exc.name}'",
                hint=did_you_mean(exc.name, exc.fields) or f"fields are: {', '.join(exc.fields) or 'none'}",
            ) from None
    missing = [n for n, f in fields.items() if n not in kwargs and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(
            f"config of asset '{asset_key}': missing required field {', '.join(missing)}",
            hint=f"set it in datamake.toml under [config.{asset_key}] or with --config {asset_key}.{missing[0]}=VALUE",
        )
    return cls(**kwargs)


def canonical_value(value: Any) -> Any:
    """A JSON value that stands for ``value`` the same way in every process and on every machine.

    JSON's own types (str, int, float, bool, None, lists and str-keyed dicts)
    stay as they are, so plain configs keep their hash; every other type is
    tagged, so that a tuple and a list, or a date and its string, differ: sets
    by their sorted elements (never by iteration order, which varies between
    processes for strings), tuples, nested dataclasses, enums, dates and times,
    paths; functions and classes by their qualified names (their code is the config class's, a
    default of it). Anything else is written as its type and ``repr``, memory addresses left out.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else {"__float__": repr(value)}
    if isinstance(value, enum.Enum):
        return {"__enum__": f"{type(value).__module__}.{type(value).__qualname__}.{value.name}"}
    if isinstance(value, list):
        return [canonical_value(v) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [canonical_value(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        items = [canonical_value(v) for v in value]
        return {"__set__": sorted(items, key=lambda v: json.dumps(v, sort_keys=True))}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: canonical_value(v) for k, v in value.items()}
        pairs = [[canonical_value(k), canonical_value(v)] for k, v in value.items()]
        return {"__dict__": sorted(pairs, key=lambda kv: json.dumps(kv[0], sort_keys=True))}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: canonical_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"__dataclass__": f"{type(value).__module__}.{type(value).__qualname__}", "fields": fields}
    if isinstance(value, datetime.datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"__date__": value.isoformat()}
    if isinstance(value, (datetime.time, datetime.timedelta)):
        return {f"__{type(value).__name__}__": str(value)}
    if isinstance(value, PurePaths):
        return {"__path__": value.as_posix()}
    if isinstance(value, bytes):
        return {"__bytes__": value.hex()}
    if callable(value) and isinstance(getattr(value, "__qualname__", None), str):
        # a function or class default (``fn: Callable = norm``): by name; its code is the config class's
        return {"__callable__": f"{getattr(value, '__module__', None)}.{value.__qualname__}"}
    return {"__repr__": f"{type(value).__module__}.{type(value).__qualname__}",
            "value": re.sub(_ADDRESS, "", repr(value))}  # "<... at 0x7f...>" differs in every process


_ADDRESS = r" at 0x[0-9a-fA-F]+"  # compiled at its first use (re keeps it): most projects never need it


def config_hash(instance: Any) -> str:
    """The hash of a config instance's field values (canonical: see :func:`canonical_value`)."""
    fields = {f.name: canonical_value(getattr(instance, f.name)) for f in dataclasses.fields(instance)}
    return hash_value("config", fields)


def parse_overrides(pairs: Tuple[str, ...]) -> Dict[str, Dict[str, str]]:
    """``("clean.min_qty=3",)`` -> ``{"clean": {"min_qty": "3"}}``."""
    out: Dict[str, Dict[str, str]] = {}
    for pair in pairs:
        target, sep, value = pair.partition("=")
        asset_key, dot, name = target.rpartition(".")
        if not sep or not dot or not asset_key or not name:
            raise ConfigError(f"--config {pair!r}: expected ASSET.FIELD=VALUE, e.g. --config clean.min_qty=3")
        out.setdefault(asset_key, {})[name] = value
    return out


def resolve(cls: Optional[type], asset_key: str, toml_values: Mapping[str, Any],
            overrides: Mapping[str, Any]) -> Tuple[Optional[Any], Optional[str]]:
    """(config instance, its hash) for one asset, or (None, None) without config."""
    if cls is None:
        if toml_values or overrides:
            raise ConfigError(f"config given for asset '{asset_key}', which declares no config=",
                              hint=f"add @asset(config=SomeDataclass) to '{asset_key}' or remove the values")
        return None, None
    instance = build_config(cls, {**toml_values, **overrides}, asset_key)
    return instance, config_hash(instance)

"""Asset config: dataclass-typed settings from datamake.toml and ``--config``, validated."""
from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any, Dict, Mapping, Optional, Tuple

from .errors import ConfigError, did_you_mean
from .hashing import hash_value

CONFIG_PARAM = "config"


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Convert a command-line string to the field's type; check other values' types."""
    if isinstance(annotation, str):  # postponed annotations: best effort by name
        annotation = {"int": int, "float": float, "str": str, "bool": bool}.get(annotation, Any)
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return value
    target = origin or annotation
    if isinstance(value, str) and target is not str:
        text = value.strip()
        if target is bool:
            if text.lower() in ("true", "1", "yes", "on"):
                return True
            if text.lower() in ("false", "0", "no", "off"):
                return False
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        try:
            value = target(text) if target in (int, float) else json.loads(text)
        except (ValueError, TypeError):
            raise ConfigError(f"{where}: expected {getattr(target, '__name__', target)}, got {value!r}") from None
    if target is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(target, type) and not isinstance(value, target):
        raise ConfigError(f"{where}: expected {target.__name__}, got {type(value).__name__} {value!r}")
    return value


def build_config(cls: type, values: Mapping[str, Any], asset_key: str) -> Any:
    """An instance of the dataclass ``cls`` from ``values``; ConfigError names the field."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls) if fields else {}
    kwargs: Dict[str, Any] = {}
    for name, value in values.items():
        if name not in fields:
            raise ConfigError(
                f"config of asset '{asset_key}': unknown field '{name}'",
                hint=did_you_mean(name, fields) or f"fields are: {', '.join(fields) or 'none'}",
            )
        kwargs[name] = _coerce(value, hints.get(name, Any), f"config of asset '{asset_key}', field '{name}'")
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
    paths. Anything else is written as its type and ``repr``.
    """
    import datetime
    import enum
    import pathlib

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
    if isinstance(value, pathlib.PurePath):
        return {"__path__": value.as_posix()}
    if isinstance(value, bytes):
        return {"__bytes__": value.hex()}
    return {"__repr__": f"{type(value).__module__}.{type(value).__qualname__}", "value": repr(value)}


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

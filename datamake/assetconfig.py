"""Asset config: dataclass-typed settings from datamake.toml and ``--config``, validated."""
from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any, Dict, Mapping, Optional, Tuple

from ._compat import type_hints
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
    hints = type_hints(cls) if fields else {}
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


def config_hash(instance: Any) -> str:
    return hash_value("config", json.loads(json.dumps(dataclasses.asdict(instance), sort_keys=True, default=str)))


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

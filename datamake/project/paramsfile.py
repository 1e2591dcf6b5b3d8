"""A params file (DVC's ``params.yaml``, or any YAML or TOML file) as a source of asset config.

``[project] params = "params.yaml"`` in datamake.toml: each top-level section
``NAME:`` holds config fields of the asset ``NAME`` (only the fields its config
declares are taken; the file may hold other tools' settings too). datamake.toml's
``[config.NAME]`` and ``--config`` override it, except for a command asset: its
command reads the file itself, so its params come from the file alone.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Optional

from datamake.commands import PARAMS_FILE_ONLY
from datamake.core.errors import ConfigError
from datamake.project.tomlcache import parser


def parse_params(text: str, name: str) -> Dict[str, Any]:
    """The sections of a params file's text; TOML by its ``.toml`` suffix, YAML otherwise."""
    if name.endswith(".toml"):
        tomllib = parser()
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{name}: not valid TOML: {exc}") from None
    else:
        data = _yaml(text, name)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: a params file holds sections (a mapping), found {type(data).__name__}",
                          hint="write it as\n  prepare:\n    split: 0.2")
    return data


def _yaml(text: str, name: str) -> Any:
    try:
        import yaml  # lazy: optional (datamake[yaml])
    except ImportError:
        raise ConfigError(f"{name}: reading a YAML params file needs PyYAML",
                          hint="pip install 'datamake[yaml]', or use a .toml params file") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: not valid YAML: {exc}") from None


def load_params(path: str) -> Dict[str, Any]:
    """The sections of the params file at ``path``; a missing file is a ConfigError naming it."""
    try:
        with open(path, encoding="utf-8") as f:
            return parse_params(f.read(), path)
    except FileNotFoundError:
        raise ConfigError(f"params file {path} does not exist",
                          hint="create it, or fix [project] params in datamake.toml") from None


def params_only(cls: type) -> bool:
    """Whether the config's values come from the params file alone (a command asset's: its command
    reads them there, so values set anywhere else would be recorded but never used)."""
    return bool(getattr(cls, PARAMS_FILE_ONLY, False))


def with_params(cls: type, key: str, params: Mapping[str, Any], name: Optional[str],
                toml_values: Mapping[str, Any], overrides: Mapping[str, Any]) -> Dict[str, Any]:
    """The config values of asset ``key``: its section of the params file, under ``toml_values``.

    Only the fields the config declares are taken from the file. A params-only config
    refuses values from datamake.toml or ``--config`` and needs every field in the file.
    """
    fields = [f.name for f in dataclasses.fields(cls)]
    section = params.get(key)
    from_file = {k: v for k, v in section.items() if k in fields} if isinstance(section, dict) else {}
    if not params_only(cls):
        return {**from_file, **toml_values}
    if not name:
        raise ConfigError(f"command asset '{key}' names params but the project has no params file",
                          hint='name it in datamake.toml: [project] params = "params.yaml"')
    if toml_values or overrides:
        raise ConfigError(f"command asset '{key}': its params come from {name} (its command reads them there), "
                          f"not from datamake.toml or --config", hint=f"change them in {name}")
    missing = [f for f in fields if f not in from_file]
    if missing:
        raise ConfigError(f"{name} has no {key}.{missing[0]}, which command asset '{key}' names in params=",
                          hint=f"add it under '{key}:' in {name}, or remove it from params=")
    return from_file

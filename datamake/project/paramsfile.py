"""A params file (DVC's ``params.yaml``, or any YAML or TOML file) as a source of asset config.

``[project] params = "params.yaml"`` in datamake.toml: each top-level section
``NAME:`` holds config fields of the asset ``NAME`` (only the fields its config
declares are taken; the file may hold other tools' settings too). datamake.toml's
``[config.NAME]`` and ``--config`` override it.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping

from datamake.core.errors import ConfigError
from datamake.project.settings import tomllib


def parse_params(text: str, name: str) -> Dict[str, Any]:
    """The sections of a params file's text; TOML by its ``.toml`` suffix, YAML otherwise."""
    if name.endswith(".toml"):
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


def section_for(params: Mapping[str, Any], key: str, fields: Any) -> Dict[str, Any]:
    """The values of the section ``key`` that are fields of the config (others are ignored)."""
    section = params.get(key)
    if not isinstance(section, dict):
        return {}
    return {k: v for k, v in section.items() if k in fields}

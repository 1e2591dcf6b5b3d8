"""Reading and validating ``datamake.toml``."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import ConfigError, ProjectNotFoundError, did_you_mean

CONFIG_NAME = "datamake.toml"
EXECUTORS = ("inprocess", "thread", "process", "dask")

_SCHEMA: Dict[str, Dict[str, type]] = {
    "project": {"definitions": str, "name": str},
    "storage": {"root": str, "storage_options": dict},
    "execution": {"jobs": int, "executor": str, "address": str},
    "cache": {"remote": str, "storage_options": dict, "push": str},
    "history": {"url": str},
}
_FREEFORM_TABLES = ("config", "resources")


@dataclass(frozen=True)
class ProjectConfig:
    """The validated contents of one ``datamake.toml``."""

    path: str
    definitions: str
    storage_root: str
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    jobs: int = 1
    executor: str = "thread"
    dask_address: Optional[str] = None
    cache_remote: Optional[str] = None
    cache_options: Mapping[str, Any] = field(default_factory=dict)
    cache_push: str = "manual"
    history_url: Optional[str] = None
    asset_config: Mapping[str, Any] = field(default_factory=dict)
    resources: Mapping[str, Any] = field(default_factory=dict)

    @property
    def directory(self) -> str:
        return os.path.dirname(self.path)


def find_config(start: str) -> str:
    """The nearest ``datamake.toml`` in ``start`` or its parents."""
    here = os.path.abspath(start)
    if os.path.isfile(here):
        return here
    while True:
        candidate = os.path.join(here, CONFIG_NAME)
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            raise ProjectNotFoundError(
                f"no {CONFIG_NAME} in {os.path.abspath(start)} or any parent directory",
                hint=f"run datamake inside a project, pass -C DIR, or create a {CONFIG_NAME} with\n"
                '  [project]\n  definitions = "pipeline.py"',
            )
        here = parent


def _is_url(path: str) -> bool:
    return "://" in path or "::" in path


def load_config(path: str) -> ProjectConfig:
    """Parse and validate ``path``; ConfigError names the file, the key and what was expected."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    _validate(path, data)
    base = os.path.dirname(os.path.abspath(path))
    project = data.get("project", {})
    storage = data.get("storage", {})
    execution = data.get("execution", {})
    cache = data.get("cache", {})
    if "definitions" not in project:
        raise ConfigError(
            f"{path}: missing key [project] definitions",
            hint='expected a .py path or a module name, e.g. definitions = "pipeline.py"',
        )
    root = storage.get("root", ".datamake")
    if not _is_url(root) and not os.path.isabs(root):
        root = os.path.join(base, root)
    jobs = execution.get("jobs", 1)
    if jobs < 1:
        raise ConfigError(f"{path}: [execution] jobs must be 1 or more, got {jobs}")
    executor = execution.get("executor", "thread")
    if executor not in EXECUTORS:
        raise ConfigError(
            f"{path}: [execution] executor = '{executor}' is not one of {', '.join(EXECUTORS)}",
            hint=did_you_mean(executor, EXECUTORS),
        )
    push = cache.get("push", "manual")
    if push not in ("manual", "auto"):
        raise ConfigError(f"{path}: [cache] push must be 'manual' or 'auto', got '{push}'")
    return ProjectConfig(
        path=os.path.abspath(path),
        definitions=project["definitions"],
        storage_root=root,
        storage_options=storage.get("storage_options", {}),
        jobs=jobs,
        executor=executor,
        dask_address=execution.get("address"),
        cache_remote=cache.get("remote"),
        cache_options=cache.get("storage_options", {}),
        cache_push=push,
        history_url=data.get("history", {}).get("url"),
        asset_config=data.get("config", {}),
        resources=data.get("resources", {}),
    )


def _validate(path: str, data: Mapping[str, Any]) -> None:
    for table, value in data.items():
        if table in _FREEFORM_TABLES:
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: [{table}] must be a table")
            continue
        if table not in _SCHEMA:
            raise ConfigError(
                f"{path}: unknown table [{table}]",
                hint=did_you_mean(table, [*_SCHEMA, *_FREEFORM_TABLES]) or f"known tables: {', '.join(_SCHEMA)}",
            )
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: '{table}' must be a table ([{table}])")
        schema = _SCHEMA[table]
        for key, item in value.items():
            if key not in schema:
                raise ConfigError(
                    f"{path}: unknown key '{key}' in [{table}]",
                    hint=did_you_mean(key, schema) or f"known keys: {', '.join(schema)}",
                )
            expected = schema[key]
            if not isinstance(item, expected) or (expected is int and isinstance(item, bool)):
                raise ConfigError(
                    f"{path}: [{table}] {key} must be {_describe(expected)}, got {type(item).__name__} {item!r}"
                )


def _describe(t: type) -> str:
    return {str: "a string", int: "an integer", dict: "a table", bool: "true or false"}.get(t, t.__name__)

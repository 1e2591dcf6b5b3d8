"""The names of the executors: the one list that datamake.toml, ``--executor`` and ``api.make`` accept.

It sits below both the project settings and the execution package, which
may not import each other.
"""
from __future__ import annotations

from datamake.core.errors import ConfigError, did_you_mean

EXECUTORS = ("inprocess", "thread", "process", "dask")


def check_executor(name: str, where: str = "executor") -> str:
    """``name`` when it names an executor; else a :class:`ConfigError` naming ``where`` and the choices."""
    if name not in EXECUTORS:
        raise ConfigError(f"{where} = '{name}' is not one of {', '.join(EXECUTORS)}",
                          hint=did_you_mean(name, EXECUTORS) or f"use one of {', '.join(EXECUTORS)}")
    return name


__all__ = ["EXECUTORS", "check_executor"]

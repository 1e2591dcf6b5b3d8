"""Describing what datamake observes but does not build: sources, resources and outputs.

- :func:`source` declares data that lives outside the store (a file, a folder,
  a glob, any fsspec URL). Its version is observed before each plan; when it
  changes, its dependents are stale with ``source_changed``.
- :func:`resource` declares a named client (a database connection, an API
  client) that assets receive by parameter name. It is not part of the
  provenance unless it declares a ``version``.
- :class:`Output` lets an asset return a value with its own data version.

Example::

    orders_csv = source("data/orders.csv", name="orders_csv", load="csv")
    warehouse = resource("warehouse", lambda path=":memory:": sqlite3.connect(path))

    @asset
    def orders(orders_csv, warehouse):
        ...
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Union

from datamake.core.errors import DefinitionError
from datamake.core.keys import validate_key

_LOADERS = ("path", "text", "bytes", "csv", "parquet", "json")


@dataclass(frozen=True, eq=False)
class SourceDef:
    """An observed source: a URL or path, how to load it, and how to observe its version."""

    key: str
    url: Optional[str]
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    load: Union[str, Callable[[str], Any]] = "path"
    observe: Optional[Callable[[], Any]] = None
    group: str = "sources"
    description: Optional[str] = None

    def __repr__(self) -> str:
        return f"<source {self.key}: {self.url or 'observed by function'}>"


def _default_name(url: str) -> str:
    base = os.path.basename(url.rstrip("/"))
    stem = base.split(".", 1)[0]
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem)
    if not name or any(c in base for c in "*?[") or name[0].isdigit():
        raise DefinitionError(f"cannot derive a name from source URL '{url}'", hint='pass name="..." to source()')
    return name


def source(
    url: Optional[str] = None,
    *,
    name: Optional[str] = None,
    load: Union[str, Callable[[str], Any]] = "path",
    observe: Optional[Callable[[], Any]] = None,
    storage_options: Optional[Mapping[str, Any]] = None,
    group: str = "sources",
    description: Optional[str] = None,
) -> SourceDef:
    """Declare an observed source.

    ``url`` is a local path (relative to the file that calls ``source``), a
    folder, a glob, or any fsspec URL (``s3://bucket/raw/*.parquet``). An asset
    parameter named after the source receives, by ``load``: ``"path"`` (the
    absolute path or URL, the default), ``"text"``, ``"bytes"``, ``"json"``,
    ``"csv"`` or ``"parquet"`` (a ``pyarrow.Table``), or ``load(url)`` for a
    callable. ``observe`` is an optional function returning a version (then no
    URL is needed), like Dagster's observable source assets.
    """
    if url is None and observe is None:
        raise DefinitionError("source() needs a URL or path, or an observe= function")
    if isinstance(load, str) and load not in _LOADERS:
        raise DefinitionError(f"source load='{load}' is not one of {', '.join(_LOADERS)}, nor a function")
    if url is not None and "://" not in url and not os.path.isabs(url):
        caller = sys._getframe(1).f_globals.get("__file__")
        base = os.path.dirname(os.path.abspath(caller)) if caller else os.getcwd()
        url = os.path.normpath(os.path.join(base, url))
    if name is None:
        if url is None:
            raise DefinitionError("source(observe=...) needs name=")
        name = _default_name(url)
    return SourceDef(validate_key(name), url, dict(storage_options or {}), load, observe, group, description)


@dataclass(frozen=True, eq=False)
class ResourceDef:
    """A named client built by ``factory(**settings)``; settings come from ``[resources.NAME]``."""

    name: str
    factory: Callable[..., Any]
    version: Optional[str] = None
    description: Optional[str] = None

    def __repr__(self) -> str:
        return f"<resource {self.name}>"


def resource(name: str, factory: Callable[..., Any], *, version: Optional[str] = None,
             description: Optional[str] = None) -> ResourceDef:
    """Declare a resource that assets receive by parameter ``name``.

    ``factory`` is called once per process with the keys of ``[resources.NAME]``
    in datamake.toml as keyword arguments. Give ``version`` when swapping the
    resource should make its users stale; otherwise it is not part of the
    provenance. Tests replace it with ``api.make(..., resources={name: fake})``.
    """
    if not callable(factory):
        raise DefinitionError(f"resource '{name}': factory must be callable, got {factory!r}")
    return ResourceDef(name, factory, None if version is None else str(version), description)


@dataclass(frozen=True)
class Output:
    """An asset's return value with an explicit data version (and optional metadata).

    Return ``Output(value, data_version="2024-06-01")`` when you know better
    than a hash of the bytes when the value has changed; downstream assets are
    stale only when this version changes.
    """

    value: Any
    data_version: Optional[str] = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

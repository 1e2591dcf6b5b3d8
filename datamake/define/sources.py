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
from typing import Any, Callable, Mapping, Optional, Union

from datamake.core.errors import DefinitionError
from datamake.core.keys import validate_key
from datamake.core.records import field, record, replace

_LOADERS = ("path", "text", "bytes", "csv", "parquet", "json")


@record(frozen=True, eq=False)
class SourceDef:
    """An observed source: a URL or path, how to load it, and how to observe its version."""

    key: str
    url: Optional[str]
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    load: Union[str, Callable[[str], Any]] = "path"
    observe: Optional[Callable[[], Any]] = None
    group: str = "sources"
    description: Optional[str] = None
    partitions: Any = None  # a PartitionsDefinition: one file per partition, ``url`` a pattern

    def __repr__(self) -> str:
        return f"<source {self.key}: {self.url or 'observed by function'}>"


def partition_source(src: SourceDef, partition: str) -> SourceDef:
    """The one-file source of one partition of a source partitioned by file pattern.

    ``landing/{date}.csv`` with partition ``2024-01-05`` is ``landing/2024-01-05.csv``;
    a multi-partitioned pattern names both dimensions: ``landing/{region}/{date}.csv``.
    """
    pdef = src.partitions
    dims = pdef.dimensions
    parts = partition.split("|") if len(dims) > 1 else [partition]
    fields = dict(zip(dims, parts), partition_key=partition)
    return replace(src, key=f"{src.key}[{partition}]", url=src.url.format(**fields), partitions=None)


def source_at(sources: Mapping[str, SourceDef], node: str) -> SourceDef:
    """The source a node id names: ``key``, or ``key[partition]`` of a partitioned source."""
    key, _, rest = node.partition("[")
    return sources[key] if not rest else partition_source(sources[key], rest[:-1])


def _check_pattern(url: Optional[str], partitions: Any) -> None:
    """A partitioned source's URL names each dimension of its partitions (or ``{partition_key}``), nothing else."""
    if url is None:
        raise DefinitionError("a partitioned source needs a URL pattern", hint='e.g. source("landing/{date}.csv", ...)')
    dims = tuple(getattr(partitions, "dimensions", ()))
    if not dims:
        raise DefinitionError(f"source '{url}': partitions= must be a partitions definition, got {partitions!r}")
    named = set(re.findall(r"{([^{}]*)}", url))
    allowed = {*dims, "partition_key"}
    unknown = sorted(named - allowed)
    if unknown or not (named & allowed) or ("partition_key" not in named and not set(dims) <= named):
        example = "/".join("{" + d + "}" for d in dims)
        raise DefinitionError(
            f"source '{url}': the pattern must name the partition dimension(s) {', '.join(dims)}"
            + (f", not {', '.join(unknown)}" if unknown else ""),
            hint=f'e.g. source("landing/{example}.csv", partitions=...), or {{partition_key}} for the whole key')


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
    partitions: Any = None,
) -> SourceDef:
    """Declare an observed source.

    ``url`` is a local path (relative to the file that calls ``source``), a
    folder, a glob, or any fsspec URL (``s3://bucket/raw/*.parquet``). An asset
    parameter named after the source receives, by ``load``: ``"path"`` (the
    absolute path or URL, the default), ``"text"``, ``"bytes"``, ``"json"``,
    ``"csv"`` or ``"parquet"`` (a ``pyarrow.Table``), or ``load(url)`` for a
    callable. ``observe`` is an optional function returning a version (then no
    URL is needed), like Dagster's observable source assets.

    ``partitions=DailyPartitions(...)`` with a URL pattern
    (``"landing/{date}.csv"``: each dimension's name in braces) makes one
    observed file per partition; an asset with the same partitions reads its
    own partition's file, each with its own version.
    """
    if url is None and observe is None:
        raise DefinitionError("source() needs a URL or path, or an observe= function")
    if isinstance(load, str) and load not in _LOADERS:
        raise DefinitionError(f"source load='{load}' is not one of {', '.join(_LOADERS)}, nor a function")
    if url is not None and "://" not in url and not os.path.isabs(url):
        caller = sys._getframe(1).f_globals.get("__file__")
        base = os.path.dirname(os.path.abspath(caller)) if caller else os.getcwd()
        url = os.path.normpath(os.path.join(base, url))
    if partitions is not None:
        _check_pattern(url, partitions)
    if name is None:
        if url is None:
            raise DefinitionError("source(observe=...) needs name=")
        name = _default_name(url if partitions is None else _pattern_stem(url))
    return SourceDef(validate_key(name), url, dict(storage_options or {}), load, observe, group, description,
                     partitions)


def _pattern_stem(url: str) -> str:
    """What names a pattern's source: ``landing/{date}.csv`` -> ``landing``, ``data/events-{date}.json`` -> ``events``."""
    head = url.split("{", 1)[0]
    stem = os.path.basename(head.rstrip("/")) if head.endswith("/") else os.path.basename(head)
    return stem.strip("-_. ") or os.path.basename(os.path.dirname(head.rstrip("/")))


@record(frozen=True, eq=False)
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


@record(frozen=True)
class Output:
    """An asset's return value with an explicit data version (and optional metadata).

    Return ``Output(value, data_version="2024-06-01")`` when you know better
    than a hash of the bytes when the value has changed; downstream assets are
    stale only when this version changes.
    """

    value: Any
    data_version: Optional[str] = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

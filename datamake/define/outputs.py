"""Materialization metadata: ``MaterializeResult``, automatic table facts, captured log lines.

An asset attaches metadata to its materialization either through its context
(``context.add_metadata(rows=3)``) or by returning a :class:`MaterializeResult`.
For Arrow tables (and pandas DataFrames) datamake adds the row count, the
schema and the in-memory byte size by itself. Metadata lands in the manifest
and in the event log (``datamake log ASSET``).

The asset's ``context.log`` lines are collected by :func:`capture_logs`; they
go to the event log only. Every metadata key is the user's own: datamake keeps
its own records (check results, log lines) in fields of their own.
"""
from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional

from datamake.core.records import field, record

if TYPE_CHECKING:
    import logging

_MAX_LOG_LINES = 1000


@record(frozen=True)
class MaterializeResult:
    """Return this from an asset to attach metadata to the value it materializes.

    Example::

        @asset
        def orders():
            table = fetch()
            return MaterializeResult(table, metadata={"source": "crm", "pages": 12})
    """

    value: Any
    metadata: Mapping[str, Any] = field(default_factory=dict)


def open_result(value: Any, context: Any) -> Any:
    """The value inside a :class:`MaterializeResult` (its metadata goes to ``context.metadata``)."""
    if isinstance(value, MaterializeResult):
        context.metadata.update(value.metadata)
        return value.value
    return value


def table_metadata(value: Any) -> Dict[str, Any]:
    """Row count, schema and byte size of an Arrow table or pandas DataFrame; {} for anything else."""
    kind = type(value)
    module = kind.__module__ or ""
    if module.startswith("pyarrow") and kind.__name__ == "Table":
        return {"rows": value.num_rows, "schema": {f.name: str(f.type) for f in value.schema},
                "bytes": value.nbytes}
    if module.startswith("pandas") and kind.__name__ == "DataFrame":
        return {"rows": len(value), "schema": {str(c): str(t) for c, t in value.dtypes.items()},
                "bytes": int(value.memory_usage(deep=False).sum())}
    return {}


def finish(metadata: Mapping[str, Any], value: Any) -> Dict[str, Any]:
    """The metadata recorded with a value: automatic table facts, then the user's own (which win)."""
    return {**table_metadata(value), **metadata}


@functools.lru_cache(maxsize=None)
def _collector() -> type:
    """The handler class that collects an asset's lines (made at first use: logging is imported by the
    first asset that logs, not by every build)."""
    import logging

    class _Collect(logging.Handler):
        def __init__(self, lines: List[str]):
            super().__init__(logging.DEBUG)
            self.lines = lines

        def emit(self, record: logging.LogRecord) -> None:
            if len(self.lines) < _MAX_LOG_LINES:
                try:
                    self.lines.append(f"{record.levelname} {record.getMessage()}")
                except Exception:  # noqa: BLE001 - a bad format string must not fail the asset
                    self.lines.append(f"{record.levelname} {record.msg!r}")

    return _Collect


@contextmanager
def capture_logs(context: Any, enabled: bool = True) -> Iterator[List[str]]:
    """Collect what the asset logs through ``context.log`` (INFO and above) while the block runs."""
    lines: List[str] = []
    logger: Optional[logging.Logger] = getattr(context, "log", None) if enabled else None
    if logger is None:
        yield lines
        return
    import logging  # already loaded: it made the logger

    handler = _collector()(lines)
    previous = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)

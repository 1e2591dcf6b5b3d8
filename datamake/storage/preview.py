"""A page of a stored value for display, read without loading a large artifact whole.

Tables (the ``arrow`` and ``pandas`` IO managers write Parquet) are read by row
group: only the row groups that hold the requested rows are decoded. Text and
JSON values show their first bytes. Pickled values are never unpickled here
(that would run code named by the artifact): they are described, not shown.
"""
from __future__ import annotations

from typing import Any, Dict, List

from datamake.core.manifest import Manifest
from datamake.storage.iomanagers import _local_path

TABLE_IO = ("arrow", "pandas")
TEXT_IO = ("text", "json")
TEXT_LIMIT = 64 * 1024
MAX_ROWS = 500


def preview(store, manifest: Manifest, offset: int = 0, limit: int = 50) -> Dict[str, Any]:
    """``{"kind": "table", "schema", "rows", "offset", "total_rows"}`` for a table; ``{"kind": "text",
    "text", "truncated"}`` for text and JSON; ``{"kind": "none", "message"}`` otherwise."""
    offset, limit = max(0, int(offset)), max(1, min(int(limit), MAX_ROWS))
    if manifest.io_manager in TABLE_IO:
        with store.open_value(manifest) as f:
            return _table_page(f, offset, limit)
    if manifest.io_manager in TEXT_IO:
        with store.open_value(manifest) as f:
            head = f.read(TEXT_LIMIT + 1)
        return {"kind": "text", "text": head[:TEXT_LIMIT].decode("utf-8", "replace"),
                "truncated": len(head) > TEXT_LIMIT}
    return {"kind": "none", "message": f"a value stored with the '{manifest.io_manager}' IO manager has no preview "
                                       f"here; `datamake show {manifest.key}` prints it"}


def _table_page(f, offset: int, limit: int) -> Dict[str, Any]:
    import pyarrow as pa  # lazy: pyarrow is heavy and only tables need it
    import pyarrow.parquet as pq  # lazy: as above

    path = _local_path(f)  # pyarrow's own reader where it can; a Python file object is read on this thread
    pf = pq.ParquetFile(path) if path is not None else pq.ParquetFile(pa.PythonFile(f, mode="r"), pre_buffer=False)
    meta = pf.metadata
    groups: List[int] = []
    first_row, start = None, 0
    for i in range(meta.num_row_groups):
        n = meta.row_group(i).num_rows
        if start + n > offset and start < offset + limit:
            groups.append(i)
            first_row = start if first_row is None else first_row
        start += n
    rows: List[Dict[str, Any]] = []
    if groups:
        table = pf.read_row_groups(groups, use_threads=False)
        table = table.slice(offset - first_row, limit)
        rows = table.to_pylist()
    return {"kind": "table", "offset": offset, "limit": limit, "total_rows": meta.num_rows,
            "schema": [{"name": field.name, "type": str(field.type)} for field in pf.schema_arrow],
            "rows": [{k: _jsonable(v) for k, v in row.items()} for row in rows]}


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)

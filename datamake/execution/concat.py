"""Partitions passed as one table: the inputs whose partition mapping says ``concat=True``.

A downstream that reads many partitions of an upstream gets them as a
``{partition key: value}`` dict; with ``AllPartitionsMapping(concat=True)``
(or ``ExistingPartitionsMapping``, ``TimeWindowMapping`` with ``concat=True``)
it gets one Arrow table or pandas DataFrame, the partitions in order, as a
database IO manager would hand them over.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from datamake.core.errors import DatamakeError
from datamake.core.manifest import Manifest

TABLE_MANAGERS = ("arrow", "pandas")


def concat_inputs(defs: Any, key: str, inputs: Sequence, kwargs: Dict[str, Any]) -> None:
    """Replace in ``kwargs`` each collection input whose mapping has ``concat=True`` by one table."""
    asset = defs.assets[key]
    for param, spec in inputs:
        if isinstance(spec, Manifest):
            continue
        dep = defs.inputs[key].get(param)
        if getattr(asset.partition_mapping.get(dep), "concat", False):
            upstream = defs.assets.get(dep)
            declared = upstream.io_manager if upstream is not None else None
            kwargs[param] = concat_tables(key, param, [m.io_manager for _pk, m in spec],
                                          list(kwargs[param].values()), declared)


def concat_tables(key: str, param: str, managers: List[str], values: List[Any], declared: Optional[str]) -> Any:
    """One table of ``values`` (stored by ``managers``); an empty table of the declared kind when there is none."""
    kinds = set(managers) or ({declared} if declared else set())
    if kinds == {"arrow"}:
        import pyarrow as pa  # lazy: only runs that concatenate tables need it

        if not values:
            return pa.table({})
        try:
            return pa.concat_tables(values, promote_options="default")
        except TypeError:  # pyarrow < 14
            return pa.concat_tables(values, promote=True)
    if kinds == {"pandas"}:
        import pandas as pd  # lazy: only runs that concatenate tables need it

        return pd.concat(values, ignore_index=True) if values else pd.DataFrame()
    if not kinds:
        return None  # no partition exists yet, and the upstream declares no table format
    raise DatamakeError(
        f"asset '{key}': parameter '{param}' asks for its partitions as one table (concat=True), but they are "
        f"stored as {', '.join(sorted(kinds))}",
        hint="return pyarrow Tables or pandas DataFrames from the upstream (io_manager='arrow' or 'pandas'), "
             "or drop concat=True to receive a {partition key: value} dict")

"""Ops and graphs: units of computation composed into graphs, content-addressed like assets.

``op``, ``graph``, ``graph_asset``, ``Out``, ``DynamicOut`` and ``DynamicOutput``
describe; ``run_graph`` runs a graph against a project's store. Names load
lazily, so defining ops imports no executor.
"""
from __future__ import annotations

from typing import Any

__all__ = ["DynamicOut", "DynamicOutput", "GraphDef", "OpContext", "OpDef", "Out", "graph", "graph_asset",
           "graph_multi_asset", "op", "run_graph"]

_WHERE = {
    "DynamicOut": "definition", "DynamicOutput": "definition", "GraphDef": "definition", "OpDef": "definition",
    "Out": "definition", "graph": "definition", "op": "definition", "graph_asset": "graphasset",
    "graph_multi_asset": "graphasset",
    "OpContext": "work", "run_graph": "api",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'datamake.ops' has no attribute {name!r}")
    import importlib  # lazy: datamake.ops stays light until a name is used

    return getattr(importlib.import_module(f"datamake.ops.{module}"), name)

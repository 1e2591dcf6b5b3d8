"""datamake: make for data.

Declare assets as Python functions; datamake hashes each asset's code version
with the data versions of its inputs, works out what is stale and why, and
rebuilds only that. Heavy modules (pyarrow, fsspec) load only when used.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .definitions import AssetDef, Definitions, asset
from .errors import DatamakeError
from .sources import Output, ResourceDef, SourceDef, resource, source

__all__ = [
    "AssetContext",
    "AssetDef",
    "DatamakeError",
    "Definitions",
    "Output",
    "ResourceDef",
    "SourceDef",
    "__version__",
    "asset",
    "resource",
    "source",
]


def __getattr__(name: str):
    if name == "AssetContext":
        from .execution.context import AssetContext

        return AssetContext
    raise AttributeError(f"module 'datamake' has no attribute {name!r}")

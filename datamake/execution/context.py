"""The ``context`` object an asset function receives when it asks for one."""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Tuple


class AssetContext:
    """What an asset knows about its own materialization.

    Attributes: ``asset_key``, ``run_id``, ``partition_key`` (None when not
    partitioned), ``partition_time_window`` (``(start, end)`` aware datetimes
    for a time partition, else None), ``log`` (a :class:`logging.Logger`).
    ``add_metadata(...)`` attaches values to the manifest of this materialization.
    """

    def __init__(self, asset_key: str, run_id: str, partition_key: Optional[str] = None,
                 partition_time_window: Optional[Tuple[Any, Any]] = None):
        self.asset_key = asset_key
        self.run_id = run_id
        self.partition_key = partition_key
        self.partition_time_window = partition_time_window
        self.log = logging.getLogger(f"datamake.asset.{asset_key}")
        self.metadata: Dict[str, Any] = {}

    def add_metadata(self, **values: Any) -> None:
        """Record JSON-serializable values with this materialization."""
        self.metadata.update(values)

    def __repr__(self) -> str:
        return f"<AssetContext {self.asset_key} run={self.run_id}>"

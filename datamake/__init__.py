"""datamake: make for data.

Declare assets as Python functions; datamake hashes each asset's code version
with the data versions of its inputs, works out what is stale and why, and
rebuilds only that. Heavy modules (pyarrow, fsspec) load only when used.
"""
from __future__ import annotations

from datamake._version import __version__

__all__ = [
    "AllPartitionsMapping",
    "AssetCheckResult",
    "AssetContext",
    "AssetDef",
    "AssetOut",
    "DailyPartitions",
    "DatamakeError",
    "Definitions",
    "DynamicOut",
    "DynamicOutput",
    "DynamicPartitions",
    "ExistingPartitionsMapping",
    "HourlyPartitions",
    "IOManager",
    "Job",
    "MaterializeResult",
    "MonthlyPartitions",
    "MultiPartitions",
    "Out",
    "Output",
    "ResourceDef",
    "RunRequest",
    "SkipReason",
    "SourceDef",
    "StaticPartitions",
    "TimeWindowMapping",
    "WeeklyPartitions",
    "__version__",
    "asset",
    "asset_check",
    "asset_sensor",
    "command_asset",
    "graph",
    "graph_asset",
    "graph_multi_asset",
    "job",
    "multi_asset",
    "op",
    "register_io_manager",
    "resource",
    "run_status_sensor",
    "schedule",
    "sensor",
    "source",
    "source_sensor",
]


_PARTITION_NAMES = (
    "AllPartitionsMapping", "DailyPartitions", "DynamicPartitions", "ExistingPartitionsMapping", "HourlyPartitions",
    "MonthlyPartitions", "MultiPartitions", "StaticPartitions", "TimeWindowMapping", "WeeklyPartitions",
)


_OPS_NAMES = ("DynamicOut", "DynamicOutput", "Out", "graph", "graph_asset", "graph_multi_asset", "op")


_AUTOMATION_NAMES = ("RunRequest", "SkipReason", "asset_sensor", "run_status_sensor", "schedule", "sensor",
                     "source_sensor")


# Names resolved on first use, like every other name here: ``datamake make``'s no-op shortcut imports
# ``datamake.shortcut.check``, which imports this package first, and must not pay for the definitions layer.
_DEFINE_NAMES = {
    "AssetDef": "datamake.define.assets", "Definitions": "datamake.define.assets", "asset": "datamake.define.assets",
    "DatamakeError": "datamake.core.errors", "Output": "datamake.define.sources",
    "ResourceDef": "datamake.define.sources", "SourceDef": "datamake.define.sources",
    "resource": "datamake.define.sources", "source": "datamake.define.sources",
    "Job": "datamake.jobs.definition", "job": "datamake.jobs.definition",
}


def __getattr__(name: str):
    if name in _DEFINE_NAMES:
        import importlib  # lazy: import datamake stays fast

        value = getattr(importlib.import_module(_DEFINE_NAMES[name]), name)
        globals()[name] = value  # resolved once
        return value
    if name in _AUTOMATION_NAMES:
        from datamake.automation.rules import definitions  # lazy: import datamake stays fast

        return getattr(definitions, name)
    if name in _OPS_NAMES:
        from datamake import ops  # lazy: import datamake stays fast

        return getattr(ops, name)
    if name in _PARTITION_NAMES:
        from datamake.core import partitions  # lazy: import datamake stays fast

        return getattr(partitions, name)
    if name == "AssetContext":
        from datamake.execution.context import AssetContext  # lazy: import datamake stays fast

        return AssetContext
    if name in ("AssetCheckResult", "asset_check"):
        from datamake.define import checks  # lazy: import datamake stays fast

        return getattr(checks, name)
    if name in ("IOManager", "register_io_manager"):
        from datamake.storage import iomanagers  # lazy: import datamake stays fast

        return iomanagers.IOManager if name == "IOManager" else iomanagers.register
    if name in ("AssetOut", "multi_asset"):
        from datamake.define import multiasset  # lazy: import datamake stays fast

        return getattr(multiasset, name)
    if name == "command_asset":
        from datamake.commands.command import command_asset  # lazy: import datamake stays fast

        return command_asset
    if name == "MaterializeResult":
        from datamake.define.outputs import MaterializeResult  # lazy: import datamake stays fast

        return MaterializeResult
    raise AttributeError(f"module 'datamake' has no attribute {name!r}")

"""Jobs: named, versioned runs. A job over assets is a ``make`` of a selection with its
config, partitions and executor settings; a job over a graph runs a graph of ops.

Example::

    from datamake import Definitions, job

    nightly = job("nightly", selection="group:sales and not tag:slow=true",
                  config={"clean": {"min_qty": 3}}, tags={"team": "sales"})
    defs = Definitions(assets=[...], jobs=[nightly])

``datamake run nightly`` runs it; ``datamake jobs`` lists the jobs.
"""
from __future__ import annotations

from datamake.jobs.definition import Job, job

__all__ = ["Job", "check_config", "job", "job_selection"]


def __getattr__(name: str):
    if name in ("check_config", "job_selection"):
        from datamake.jobs import resolve  # lazy: import datamake does not load the selection language

        return getattr(resolve, name)
    raise AttributeError(f"module 'datamake.jobs' has no attribute {name!r}")

"""Planning cost of a TimeWindowMapping over years of hourly (and daily) partitions.

Resolves the mapping of a rolling window (``start_offset=-23``: the last day of
hours; ``-6`` for days) and asks for the upstream keys of every downstream
partition, as the planner does when it expands a backfill. Prints the median
time per partition, the mapping's set-up included. Usage: python benchmarks/bench_time_mapping.py [--years 3] [--runs 3]
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time

from datamake.core.partitions import DailyPartitions, HourlyPartitions, TimeWindowMapping, resolve_mapping


def per_partition(pdef, offset: int, runs: int) -> float:
    """Median seconds per downstream partition to map it onto its upstream windows."""
    times = []
    for run in range(runs):  # another "now" each run, as each planning has: nothing memoized from the last
        now = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=run)
        keys = pdef.keys(now)  # (the planner has the keys before it maps them)
        began = time.perf_counter()
        mapping = resolve_mapping("down", pdef, "up", pdef, TimeWindowMapping(start_offset=offset), now)
        for key in keys:
            mapping.upstream(key)
        times.append((time.perf_counter() - began) / len(keys))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    end = f"{2021 + args.years}-01-01"
    for label, pdef, offset in (
        ("hourly, UTC", HourlyPartitions(start="2021-01-01-00:00", end=end), -23),
        ("hourly, Europe/Berlin", HourlyPartitions(start="2021-01-01-00:00", end=end, timezone="Europe/Berlin"), -23),
        ("daily, Europe/Berlin", DailyPartitions(start="2021-01-01", end=end, timezone="Europe/Berlin"), -6),
    ):
        n = len(pdef.keys(None))
        print(f"{label:24} {n:7} partitions  {per_partition(pdef, offset, args.runs) * 1e6:7.2f} µs per partition")


if __name__ == "__main__":
    main()

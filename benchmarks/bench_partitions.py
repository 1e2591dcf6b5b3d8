"""Planning cost of a large backfill: 3 years of daily partitions over a 10-asset chain.

Prints the median wall time of `status` (whole process, including import and
reading every manifest) and of the in-process plan alone, fresh and after a
full build. Usage: python benchmarks/bench_partitions.py [--runs 5] [--build]

``--scale 10,100,1000`` measures instead `datamake status` over a chain of that
many assets x ``--days`` daily partitions (default 1,000), every partition
built: the store is written in bulk (benchmarks/partition_store.py) once per
size under ``--keep DIR`` (reused by later calls) and the table prints the
median wall and CPU time and the peak memory of the whole process, and the
cost per asset-partition.

``--daily`` (with ``--scale``) measures instead the first `datamake status` after
a daily run: each repetition runs `datamake make -B --partition DAY` (one
partition of every asset built again, another day each time), then times the
`status` right after it (the one that used to read every manifest again).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

CHAIN = 10
PIPELINE = '''
from datamake import asset, DailyPartitions

daily = DailyPartitions(start="2021-01-01", end="2024-01-01")

@asset(partitions=daily)
def step0(context):
    return context.partition_key
''' + "".join(f'''
@asset(partitions=daily)
def step{i}(step{i - 1}):
    return step{i - 1}
''' for i in range(1, CHAIN))


def timed(cmd, cwd) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def plan_seconds(root: Path, runs: int) -> float:
    from datamake import api

    samples = []
    for _ in range(runs):
        project = api.load(str(root))
        started = time.perf_counter()
        plan = api.status(project)
        samples.append(time.perf_counter() - started)
    print(f"  nodes planned: {len(plan.decisions)} ({len(plan.stale)} stale)")
    return statistics.median(samples)


def timed_status(root: Path, runs: int):
    """(median wall seconds, median CPU seconds, largest peak RSS in bytes) of `datamake status` at ``root``,
    whole process."""
    import resource

    walls, cpus, peak = [], [], 0
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        walls.append(timed([sys.executable, "-m", "datamake", "status"], root))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        peak = max(peak, after.ru_maxrss)  # ru_maxrss: the largest child so far, in KiB
    return statistics.median(walls), statistics.median(cpus), peak * 1024


def built_store(keep: Path, n: int, days: int) -> Path:
    """The project of a chain of ``n`` daily assets x ``days`` days under ``keep``, every partition built once."""
    import partition_store

    root = keep / f"chain-{n}x{days}"
    if not (root / ".datamake" / "manifests").exists():
        partition_store.write_project(root, n, days)
        partition_store.build_in_bulk(root)
    return root


def scale(sizes, days: int, runs: int, keep: Path) -> None:
    print(f"`datamake status`, chain of N daily assets x {days} days, everything built (median of {runs}):")
    print("| asset-partitions | wall | CPU | peak memory | CPU per asset-partition |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n in sizes:
        root = built_store(keep, n, days)
        subprocess.run([sys.executable, "-m", "datamake", "status"], cwd=root, check=True, capture_output=True)
        # the run above filled the manifest index and kept the partition summaries, as any earlier status does
        wall, cpu, peak = timed_status(root, runs)
        count = n * days
        print(f"| {count:,} | {wall:.2f} s | {cpu:.2f} s | {peak / 2**20:.0f} MiB | {cpu / count * 1e6:.2f} µs, "
              f"{peak / count:.0f} bytes |")


def daily(sizes, days: int, runs: int, keep: Path) -> None:
    """The first `status` after a `make` that rebuilt one day of every asset, whole process."""
    import datetime as dt

    import partition_store

    print(f"`datamake status` right after `make -B --partition DAY` rebuilt one day of each of N daily assets x "
          f"{days} days (median of {runs} days):")
    print("| asset-partitions | make of the day: wall | status after it: wall | CPU | peak memory |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n in sizes:
        root = built_store(keep, n, days)
        time.sleep(2.1)  # the folders written in bulk are old enough for a summary to be kept
        subprocess.run([sys.executable, "-m", "datamake", "status"], cwd=root, check=True, capture_output=True)
        makes, walls, cpus, peaks = [], [], [], []
        for k in range(runs):
            day = (partition_store.START + dt.timedelta(days=k)).isoformat()
            makes.append(timed([sys.executable, "-m", "datamake", "make", "-q", "-B", "--partition", day], root))
            wall, cpu, peak = _one_status(root)
            walls.append(wall)
            cpus.append(cpu)
            peaks.append(peak)
        print(f"| {n * days:,} | {statistics.median(makes):.2f} s | {statistics.median(walls):.2f} s | "
              f"{statistics.median(cpus):.2f} s | {max(peaks) / 2**20:.0f} MiB |")


def _one_status(root: Path):
    """(wall seconds, CPU seconds, peak RSS in bytes) of one `datamake status` at ``root``."""
    import resource

    script = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
              "subprocess.run([sys.executable, '-m', 'datamake', 'status'], check=True, capture_output=True); "
              "w = time.perf_counter() - t; r = resource.getrusage(resource.RUSAGE_CHILDREN); "
              "print(w, r.ru_utime + r.ru_stime, r.ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", script], cwd=root, check=True, capture_output=True, text=True).stdout
    wall, cpu, peak = out.split()
    return float(wall), float(cpu), int(peak) * 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--build", action="store_true", help="also build everything and time the no-op status")
    parser.add_argument("--scale", help="comma-separated chain lengths: status of N assets x --days, all built")
    parser.add_argument("--days", type=int, default=1000)
    parser.add_argument("--keep", type=Path, default=Path(tempfile.gettempdir()) / "datamake-bench-partitions",
                        help="where the built stores of --scale are kept between calls")
    parser.add_argument("--daily", action="store_true",
                        help="with --scale: time the first status after a make that rebuilt a day of every asset")
    args = parser.parse_args()
    if args.scale and args.daily:
        daily([int(n) for n in args.scale.split(",")], args.days, args.runs, args.keep)
        return
    if args.scale:
        scale([int(n) for n in args.scale.split(",")], args.days, args.runs, args.keep)
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pipeline.py").write_text(textwrap.dedent(PIPELINE))
        (root / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
        status = [sys.executable, "-m", "datamake", "status"]
        print("backfill of 3 years x daily x 10-asset chain, nothing built yet:")
        print(f"  plan (in-process, median of {args.runs}): {plan_seconds(root, args.runs):.3f}s")
        print(f"  `datamake status` whole process: {statistics.median(timed(status, root) for _ in range(args.runs)):.3f}s")
        if args.build:
            build = timed([sys.executable, "-m", "datamake", "make", "-q"], root)
            print(f"built everything in {build:.1f}s; now all fresh:")
            print(f"  plan (in-process, median of {args.runs}): {plan_seconds(root, args.runs):.3f}s")
            print(f"  `datamake status` whole process: {statistics.median(timed(status, root) for _ in range(args.runs)):.3f}s")


if __name__ == "__main__":
    main()

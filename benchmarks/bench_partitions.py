"""Planning cost of a large backfill: 3 years of daily partitions over a 10-asset chain.

Prints the median wall time of `status` (whole process, including import and
reading every manifest) and of the in-process plan alone, fresh and after a
full build. Usage: python benchmarks/bench_partitions.py [--runs 5] [--build]
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--build", action="store_true", help="also build everything and time the no-op status")
    args = parser.parse_args()
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

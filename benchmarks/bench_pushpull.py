"""Push and pull of many small artifacts, datamake and DVC alternating, on one counting moto S3 server.

bench_remote.py runs each tool's steps once, one tool after the other; on a
busy machine that compares two different loads. Here each round pushes into a
fresh remote and pulls into a fresh checkout (another machine: its own
caches), datamake then DVC, and the medians and ratios of the rounds are
printed (seconds, and the S3 requests the server counted).

Usage: python benchmarks/bench_pushpull.py [--small N] [--rounds K]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
from typing import Dict, List

import bench_remote as br


def datamake_round(server: br.Server, work: str, built: str, i: int) -> Dict[str, Dict[str, object]]:
    bucket = f"dm-round{i}"
    server.make_bucket(bucket)
    pipeline = open(os.path.join(built, "pipeline.py")).read()
    br.datamake_project(built, pipeline, server, bucket)
    fresh = os.path.join(work, f"dm-pull-{i}")
    br.datamake_project(fresh, pipeline, server, bucket)
    return {"push": br.timed(server, br.dm("push"), built, {"DATAMAKE_CACHE_DIR": built + "-machine-cache"}),
            "pull": br.timed(server, br.dm("pull"), fresh, {"DATAMAKE_CACHE_DIR": fresh + "-machine-cache"})}


def dvc_round(server: br.Server, work: str, built: str, exe: str, i: int) -> Dict[str, Dict[str, object]]:
    env = {"DVC_NO_ANALYTICS": "1"}
    bucket = f"dvc-round{i}"
    server.make_bucket(bucket)
    subprocess.run([exe, "remote", "modify", "s3", "url", f"s3://{bucket}/dvc"], cwd=built, check=True,
                   capture_output=True, env={**os.environ, **env})
    fresh = os.path.join(work, f"dvc-pull-{i}")
    os.makedirs(os.path.join(fresh, ".dvc"))
    shutil.copy(os.path.join(built, ".dvc", "config"), os.path.join(fresh, ".dvc", "config"))
    shutil.copy(os.path.join(built, "data.dvc"), os.path.join(fresh, "data.dvc"))
    return {"push": br.timed(server, [exe, "push", "-q"], built, env),
            "pull": br.timed(server, [exe, "pull", "-q"], fresh, env)}


def setup_dvc(server: br.Server, root: str, n: int, exe: str) -> None:
    os.makedirs(root)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    for argv in ([exe, "init", "--no-scm", "-q"], [exe, "remote", "add", "-d", "s3", "s3://unused/dvc"],
                 [exe, "remote", "modify", "s3", "endpointurl", server.endpoint]):
        subprocess.run(argv, cwd=root, check=True, capture_output=True, env=env)
    subprocess.run([exe, "add", "-q", br.small_files(n)(root)], cwd=root, check=True, capture_output=True, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000, help="number of small artifacts")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    args = parser.parse_args()
    exe = br.dvc_bin()
    if exe is None:
        raise SystemExit("no DVC venv: run python benchmarks/run.py --tools dvc --quick --no-doc first")
    server = br.Server()
    work = tempfile.mkdtemp(prefix="bench-pushpull-")
    rows: Dict[str, List[Dict[str, Dict[str, object]]]] = {"datamake": [], "dvc": []}
    try:
        built = os.path.join(work, "dm-built")
        br.datamake_project(built, br.SMALL_PIPELINE.replace("{n}", str(args.small)), server, "unused")
        br.timed(server, br.dm("make", "-q"), built, {"DATAMAKE_CACHE_DIR": built + "-machine-cache"})
        dvc_built = os.path.join(work, "dvc-built")
        setup_dvc(server, dvc_built, args.small, exe)
        for i in range(args.rounds):
            rows["datamake"].append(datamake_round(server, work, built, i))
            rows["dvc"].append(dvc_round(server, work, dvc_built, exe, i))
            print(f"round {i + 1}: " + ", ".join(f"{tool} {step} {r[step]['seconds']} s/{r[step]['requests']} req"
                                                 for tool, rs in rows.items() for r in rs[-1:] for step in r),
                  flush=True)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n| step ({args.small} small artifacts, median of {args.rounds}) | datamake s | DVC s "
          "| datamake / DVC | datamake requests | DVC requests |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for step in ("push", "pull"):
        med = {tool: statistics.median(r[step]["seconds"] for r in rs) for tool, rs in rows.items()}
        req = {tool: statistics.median(r[step]["requests"] for r in rs) for tool, rs in rows.items()}
        print(f"| {step} | {med['datamake']:.2f} | {med['dvc']:.2f} | {med['datamake'] / med['dvc']:.2f} "
              f"| {req['datamake']:.0f} | {req['dvc']:.0f} |")


if __name__ == "__main__":
    main()

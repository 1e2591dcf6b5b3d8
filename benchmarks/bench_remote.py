"""Remote cache: push and pull through S3 (moto's server on 127.0.0.1), datamake vs DVC.

Two workloads:

* ``small``: 1,000 small artifacts (one asset each; for DVC one tracked folder of 1,000 files);
* ``big``: one ~200 MB Parquet file (incompressible binary column).

For each tool: seconds, S3 requests (counted by the server) and peak RSS of
``push`` into an empty prefix, of ``pull`` into a fresh checkout, and for
datamake also of ``make`` in a fresh checkout (read-through: everything
``cached``) and of a no-op ``make`` against a bucket store
(``[storage] root`` in the bucket). Every command is a child process measured
by benchmarks/measure.py.

DVC runs from benchmarks/.venvs/dvc (made by benchmarks/run.py); ``dvc-s3`` is
installed into it on first use. Without that venv the DVC rows are skipped.

Usage: python benchmarks/bench_remote.py [--small N] [--big-mb MB] [--no-dvc]
       python benchmarks/bench_remote.py --serve PORT    (internal: the counting S3 server)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import measure  # noqa: E402

DVC_VENV = os.path.join(HERE, ".venvs", "dvc")
CREDS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


# -- the counting S3 server (runs in its own process) ---------------------------------
def serve(port: int) -> None:
    """moto's S3 app behind a middleware that counts requests; GET /__count returns the count."""
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import WSGIRequestHandler, run_simple

    app = DomainDispatcherApplication(create_backend_app)
    count = [0]

    def counting(environ, start_response):
        if environ.get("PATH_INFO") == "/__count":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [str(count[0]).encode()]
        count[0] += 1
        return app(environ, start_response)

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):
            pass

    run_simple("127.0.0.1", port, counting, threaded=True, request_handler=Quiet)


class Server:
    def __init__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.count()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("the S3 server did not start")
                time.sleep(0.1)

    def count(self) -> int:
        with urllib.request.urlopen(f"{self.endpoint}/__count", timeout=5) as r:
            return int(r.read())

    def make_bucket(self, name: str) -> None:
        import s3fs

        fs = s3fs.S3FileSystem(endpoint_url=self.endpoint, key="bench", secret="bench", skip_instance_cache=True)
        fs.mkdir(name)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


# -- workloads --------------------------------------------------------------------------
SMALL_PIPELINE = '''
from datamake import asset


def make(i):
    @asset(name=f"s{i}", code_version="1", io_manager="bytes")
    def f():
        return (f"artifact {i} " * 20).encode()
    return f


assets = [make(i) for i in range({n})]
'''

BIG_PIPELINE = '''
import pyarrow.parquet as pq

from datamake import asset


@asset(code_version="1")
def big():
    return pq.read_table({path!r})
'''


def big_parquet(path: str, mb: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = mb * 1024  # 1 KiB of random bytes per row
    chunks = []
    for start in range(0, rows, 16384):
        n = min(16384, rows - start)
        chunks.append(pa.table({"blob": pa.array([os.urandom(1024) for _ in range(n)], pa.binary())}))
    pq.write_table(pa.concat_tables(chunks), path, compression="none")


def datamake_project(root: str, pipeline: str, server: Server, bucket: str, store_in_bucket: bool = False) -> None:
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "pipeline.py"), "w") as f:
        f.write(pipeline)
    opts = f'endpoint_url = "{server.endpoint}"\nkey = "bench"\nsecret = "bench"\n'
    toml = '[project]\ndefinitions = "pipeline.py"\n[execution]\nexecutor = "inprocess"\n'
    if store_in_bucket:
        toml += f'[storage]\nroot = "s3://{bucket}/store"\n[storage.storage_options]\n{opts}'
    else:
        toml += f'[cache]\nremote = "s3://{bucket}/cache"\n[cache.storage_options]\n{opts}'
    with open(os.path.join(root, "datamake.toml"), "w") as f:
        f.write(toml)


def dvc_bin() -> Optional[str]:
    exe = os.path.join(DVC_VENV, "bin", "dvc")
    if not os.path.exists(exe):
        return None
    py = os.path.join(DVC_VENV, "bin", "python")
    if subprocess.run([py, "-c", "import dvc_s3"], capture_output=True).returncode != 0:
        r = subprocess.run([os.path.join(DVC_VENV, "bin", "pip"), "install", "-q", "dvc-s3"], capture_output=True)
        if r.returncode != 0:
            return None
    return exe


# -- measuring -------------------------------------------------------------------------
def child_rss(out: str, argv: List[str]) -> None:
    """Run ``argv`` from this small fresh process and write the peak RSS (KiB) of its tree to ``out``.

    Linux charges a child with the peak RSS of the process it was forked from,
    so the benchmark's own memory would show up in every figure; this
    launcher starts from a clean slate.
    """
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    with open(out, "w") as f:
        f.write(str(usage.ru_maxrss))
    sys.exit(os.waitstatus_to_exitcode(status))


def timed(server: Server, argv: List[str], cwd: str, env: Optional[Dict[str, str]] = None) -> Dict[str, object]:
    before = server.count()
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        launcher = [sys.executable, os.path.abspath(__file__), "--child-rss", rss.name, *argv]
        r = measure.run(launcher, cwd=cwd, env={**os.environ, **CREDS, **(env or {})}, timeout=1800)
        if not r.ok:
            raise RuntimeError(r.brief())
        peak_kib = int(rss.read() or 0)
    return {"seconds": round(r.seconds, 2), "requests": server.count() - before,
            "peak_rss_mb": round(peak_kib / 1024, 1)}


def dm(*args: str) -> List[str]:
    return [sys.executable, "-m", "datamake", *args]


def bench_datamake(server: Server, work: str, name: str, pipeline: str) -> Dict[str, Dict[str, object]]:
    bucket = f"dm-{name}"
    server.make_bucket(bucket)
    a, b, c = (os.path.join(work, f"dm-{name}-{who}") for who in "abc")
    # each checkout is another machine: its own cache of manifests read before
    cache = {root: {"DATAMAKE_CACHE_DIR": os.path.join(root + "-machine-cache")} for root in (a, b, c)}
    for root in (a, b, c):
        datamake_project(root, pipeline, server, bucket)
    out = {}
    out["build (local, not timed against S3)"] = timed(server, dm("make", "-q"), a, cache[a])
    out["push"] = timed(server, dm("push"), a, cache[a])
    out["push again (nothing to send)"] = timed(server, dm("push"), a, cache[a])
    out["pull (fresh checkout)"] = timed(server, dm("pull"), b, cache[b])
    out["make (fresh checkout, read-through)"] = timed(server, dm("make", "-q"), c, cache[c])
    store = os.path.join(work, f"dm-{name}-bucketstore")
    datamake_project(store, pipeline, server, bucket, store_in_bucket=True)
    cache = {"DATAMAKE_CACHE_DIR": store + "-machine-cache"}
    timed(server, dm("make", "-q"), store, cache)
    out["no-op make, store in the bucket (cold machine cache)"] = timed(server, dm("make", "-q"), store, cache)
    out["no-op make, store in the bucket"] = timed(server, dm("make", "-q"), store, cache)
    return out


def bench_dvc(server: Server, work: str, name: str, make_data) -> Dict[str, Dict[str, object]]:
    exe = dvc_bin()
    if exe is None:
        return {}
    bucket = f"dvc-{name}"
    server.make_bucket(bucket)
    a, b = (os.path.join(work, f"dvc-{name}-{who}") for who in "ab")
    os.makedirs(a)
    env = {"DVC_NO_ANALYTICS": "1"}
    for argv in ([exe, "init", "--no-scm", "-q"], [exe, "remote", "add", "-d", "s3", f"s3://{bucket}/dvc"],
                 [exe, "remote", "modify", "s3", "endpointurl", server.endpoint]):
        subprocess.run(argv, cwd=a, check=True, capture_output=True, env={**os.environ, **env})
    target = make_data(a)
    subprocess.run([exe, "add", "-q", target], cwd=a, check=True, capture_output=True,
                   env={**os.environ, **env})
    out = {"push": timed(server, [exe, "push", "-q"], a, env)}
    out["push again (nothing to send)"] = timed(server, [exe, "push", "-q"], a, env)
    os.makedirs(os.path.join(b, ".dvc"))
    shutil.copy(os.path.join(a, ".dvc", "config"), os.path.join(b, ".dvc", "config"))
    shutil.copy(os.path.join(a, f"{target}.dvc"), os.path.join(b, f"{target}.dvc"))
    out["pull (fresh checkout)"] = timed(server, [exe, "pull", "-q"], b, env)
    return out


def small_files(n: int):
    def make(root: str) -> str:
        os.makedirs(os.path.join(root, "data"))
        for i in range(n):
            with open(os.path.join(root, "data", f"s{i}.bin"), "wb") as f:
                f.write((f"artifact {i} " * 20).encode())
        return "data"
    return make


def big_file(path: str):
    def make(root: str) -> str:
        shutil.copy(path, os.path.join(root, "big.parquet"))
        return "big.parquet"
    return make


def table(title: str, rows: Dict[str, Dict[str, Dict[str, object]]]) -> str:
    lines = [f"### {title}", "", "| tool | step | seconds | S3 requests | peak RSS (MB) |", "| --- | --- | ---: | ---: | ---: |"]
    for tool, steps in rows.items():
        for step, m in steps.items():
            lines.append(f"| {tool} | {step} | {m['seconds']} | {m['requests']} | {m['peak_rss_mb']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-rss", help=argparse.SUPPRESS)
    parser.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.add_argument("--make-parquet", nargs=2, metavar=("PATH", "MB"), help=argparse.SUPPRESS)
    parser.add_argument("--small", type=int, default=1000, help="number of small artifacts")
    parser.add_argument("--big-mb", type=int, default=200, help="size of the Parquet file in MiB")
    parser.add_argument("--no-dvc", action="store_true", help="skip the DVC comparison")
    parser.add_argument("--json", dest="json_out", help="also write the figures to this JSON file")
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve)
    if args.child_rss:
        return child_rss(args.child_rss, args.command)
    if args.make_parquet:  # in a child, so that this process stays small: a fork inherits its RSS peak
        return big_parquet(args.make_parquet[0], int(args.make_parquet[1]))
    server = Server()
    work = tempfile.mkdtemp(prefix="bench-remote-")
    results = {}
    try:
        small = {"datamake": bench_datamake(server, work, "small", SMALL_PIPELINE.replace("{n}", str(args.small)))}
        if not args.no_dvc:
            small["dvc"] = bench_dvc(server, work, "small", small_files(args.small))
        results["small"] = small
        print(table(f"{args.small} small artifacts", small), flush=True)
        path = os.path.join(work, "big.parquet")
        subprocess.run([sys.executable, __file__, "--make-parquet", path, str(args.big_mb)], check=True)
        size_mb = os.path.getsize(path) / (1 << 20)
        big = {"datamake": bench_datamake(server, work, "big", BIG_PIPELINE.format(path=path))}
        if not args.no_dvc:
            big["dvc"] = bench_dvc(server, work, "big", big_file(path))
        results["big"] = big
        print()
        print(table(f"one {size_mb:.0f} MB Parquet file", big), flush=True)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()

"""The tools under comparison: venv creation and one runner class per tool.

The peers (Dagster, Snakemake, DVC) are installed with pip from the package
index into their own virtual environments under ``benchmarks/.venvs/<tool>``;
they are never datamake dependencies.  datamake itself runs from the Python
interpreter that runs the benchmark (``sys.executable -m datamake``).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional, Tuple

import measure
import workloads as wl

HERE = os.path.dirname(os.path.abspath(__file__))
VENVS = os.path.join(HERE, ".venvs")

# Versions the published figures were taken with; override with
# BENCH_<TOOL>_SPEC (e.g. BENCH_DAGSTER_SPEC="dagster") to take the newest.
PEER_SPECS = {
    "dagster": "dagster==1.13.29",
    "snakemake": "snakemake==9.27.1",
    "dvc": "dvc==3.67.1",
    "doit": "doit==0.37.0",
}


def venv_dir(tool: str) -> str:
    return os.path.join(VENVS, tool)


def venv_bin(tool: str) -> str:
    return os.path.join(venv_dir(tool), "bin")


def ensure_venv(tool: str, log=print) -> bool:
    """Create benchmarks/.venvs/<tool> and pip-install the tool unless it is there."""
    exe = os.path.join(venv_bin(tool), tool)
    if os.path.exists(exe):
        return True
    spec = os.environ.get(f"BENCH_{tool.upper()}_SPEC", PEER_SPECS[tool])
    log(f"[setup] creating venv for {tool} ({spec}) in {venv_dir(tool)} ...")
    try:
        subprocess.run([sys.executable, "-m", "venv", venv_dir(tool)], check=True)
        pip = [os.path.join(venv_bin(tool), "python"), "-m", "pip", "install", "-q"]
        subprocess.run(pip + ["--upgrade", "pip"], check=True)
        subprocess.run(pip + [spec], check=True)
    except subprocess.CalledProcessError as e:
        log(f"[setup] {tool}: venv creation failed: {e}")
        return False
    return os.path.exists(exe)


def _last_json(text: str) -> Optional[dict]:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


class Tool:
    name = "tool"
    parallel = True  # can it run independent assets at the same time?
    parallel_note = ""

    def __init__(self, timeout: float = 600.0):
        self.timeout = timeout

    # -- environment
    def env(self, wd: Optional[str] = None) -> Dict[str, str]:
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        # Every tool imports user code; let Python cache its bytecode as on a user's machine
        # (some sandboxes set PYTHONDONTWRITEBYTECODE, which makes every run recompile it).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    def available(self) -> Tuple[bool, str]:
        return True, ""

    def version(self) -> str:
        return "?"

    def run(self, argv: List[str], wd: Optional[str], timeout: Optional[float] = None) -> measure.RunResult:
        return measure.run(argv, cwd=wd, env=self.env(wd), timeout=timeout or self.timeout)

    # -- figures
    def startup_argv(self) -> List[str]:
        raise NotImplementedError

    def import_argv(self) -> List[str]:
        raise NotImplementedError

    def setup_tree(self, wd: str, n: int, shape: str = "tree") -> None:
        """Write the workload of ``shape`` (``workloads.SHAPES``: tree(N), or flat(N), N independent targets)."""
        raise NotImplementedError

    def set_a1(self, wd: str, n: int, variant: str) -> None:
        raise NotImplementedError

    def cold_build(self, wd: str) -> Tuple[measure.RunResult, Optional[int]]:
        return self.build(wd)

    def first_build(self, wd: str) -> Optional[measure.RunResult]:
        """A cold build on a machine the tool never ran on, without what it keeps per user between
        projects; None for a tool that keeps nothing (its cold build is that already)."""
        return None

    def status(self, wd: str) -> Tuple[measure.RunResult, Optional[int]]:
        raise NotImplementedError

    def build(self, wd: str) -> Tuple[measure.RunResult, Optional[int]]:
        raise NotImplementedError

    def read_value(self, wd: str, i: int) -> Optional[int]:
        raise NotImplementedError

    def setup_par(self, wd: str, iters: int) -> None:
        raise NotImplementedError

    def par_build(self, wd: str, jobs: int) -> Tuple[measure.RunResult, Optional[int]]:
        raise NotImplementedError


# --------------------------------------------------------------------- datamake


class Datamake(Tool):
    name = "datamake"

    def __init__(self, timeout: float = 600.0, executor: str = ""):
        super().__init__(timeout)
        self.executor = executor
        if executor:
            self.name = f"datamake[{executor}]"

    def _dm(self, *args: str) -> List[str]:
        return [sys.executable, "-m", "datamake", *args]

    def available(self) -> Tuple[bool, str]:
        r = measure.run([sys.executable, "-c", "import datamake"], env=self.env(), timeout=60)
        if not r.ok:
            return False, "datamake does not import: " + r.stderr.strip()[-300:]
        return True, ""

    def version(self) -> str:
        r = measure.run(self._dm("--version"), env=self.env(), timeout=60)
        text = (r.stdout + r.stderr).strip()
        m = re.search(r"\d+\.\d+[\w.+-]*", text)
        if m:
            return m.group(0)
        try:
            from importlib.metadata import version

            return version("datamake")
        except Exception:  # pragma: no cover
            return "?"

    def startup_argv(self) -> List[str]:
        return self._dm("--version")

    def import_argv(self) -> List[str]:
        return [sys.executable, "-c", "import datamake"]

    def setup_tree(self, wd: str, n: int, shape: str = "tree") -> None:
        wl.write_datamake_tree(wd, n, deps_of=wl.SHAPES[shape])

    def set_a1(self, wd: str, n: int, variant: str) -> None:
        wl.write_datamake_tree(wd, n, variant)

    @staticmethod
    def _count(r: measure.RunResult, outcomes=("built",)) -> Optional[int]:
        doc = _parse_json_doc(r.stdout)
        if not doc or "assets" not in doc:
            return None
        return sum(1 for a in doc["assets"] if a.get("outcome") in outcomes)

    def build(self, wd: str) -> Tuple[measure.RunResult, Optional[int]]:
        r = self.run(self._dm("make", "--json"), wd)
        return r, self._count(r)

    def first_build(self, wd: str) -> measure.RunResult:
        """``make`` with an empty per-user cache (no code analyses or bytecode of earlier folders)."""
        with tempfile.TemporaryDirectory(prefix="datamake-cache-") as cache:
            env = {**self.env(wd), "DATAMAKE_CACHE_DIR": cache}
            return measure.run(self._dm("make", "--json"), cwd=wd, env=env, timeout=self.timeout)

    def status(self, wd: str) -> Tuple[measure.RunResult, Optional[int]]:
        r = self.run(self._dm("status", "--json"), wd)
        doc = _parse_json_doc(r.stdout)
        if not doc or "assets" not in doc:
            return r, None
        return r, sum(1 for a in doc["assets"] if a.get("state") == "stale")

    def dry_run(self, wd: str) -> measure.RunResult:
        return self.run(self._dm("make", "-n"), wd)

    def read_value(self, wd: str, i: int) -> Optional[int]:
        r = self.run(self._dm("show", f"a{i}"), wd, timeout=120)
        nums = re.findall(r"-?\d+", r.stdout)
        return int(nums[-1]) if r.ok and nums else None

    def setup_par(self, wd: str, iters: int) -> None:
        wl.write_datamake_par(wd, iters, self.executor)

    def par_build(self, wd: str, jobs: int) -> Tuple[measure.RunResult, Optional[int]]:
        r = self.run(self._dm("make", "-j", str(jobs), "--json"), wd)
        return r, self._count(r)


def _parse_json_doc(text: str) -> Optional[dict]:
    text = text.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        start = text.find("{")
        if start >= 0:
            try:
                return json.loads(text[start:])
            except ValueError:
                return _last_json(text)
    return None


# ---------------------------------------------------------------------- peers


class Peer(Tool):
    def read_file_value(self, wd: str, i: int) -> Optional[int]:
        """The value of a(i) where a peer writes each asset to ``out/a{i}.txt`` (Snakemake, DVC)."""
        try:
            with open(os.path.join(wd, "out", f"a{i}.txt")) as f:
                return int(f.read())
        except Exception:
            return None

    def bin(self, name: str) -> str:
        return os.path.join(venv_bin(self.name), name)

    def env(self, wd: Optional[str] = None) -> Dict[str, str]:
        env = super().env(wd)
        env["PATH"] = venv_bin(self.name) + os.pathsep + env.get("PATH", "")
        env["VIRTUAL_ENV"] = venv_dir(self.name)
        return env

    def available(self) -> Tuple[bool, str]:
        if not os.path.exists(self.bin(self.name)):
            return False, f"no venv at {venv_dir(self.name)}"
        return True, ""

    def version(self) -> str:
        r = measure.run([self.bin(self.name), "--version"], env=self.env(), timeout=120)
        m = re.search(r"\d+\.\d+[\w.+-]*", r.stdout + r.stderr)
        return m.group(0) if m else "?"

    def startup_argv(self) -> List[str]:
        return [self.bin(self.name), "--version"]

    def import_argv(self) -> List[str]:
        return [self.bin("python"), "-c", f"import {self.name}"]


class Dagster(Peer):
    name = "dagster"
    parallel_note = "multiprocess executor, max_concurrent = jobs (`dagster asset materialize`)"

    def env(self, wd: Optional[str] = None) -> Dict[str, str]:
        env = super().env(wd)
        if wd:
            env["DAGSTER_HOME"] = os.path.join(wd, "dagster_home")
        env["DAGSTER_DISABLE_TELEMETRY"] = "1"
        return env

    def setup_tree(self, wd: str, n: int, shape: str = "tree") -> None:
        wl.write_dagster_tree(wd, n, deps_of=wl.SHAPES[shape])

    def set_a1(self, wd: str, n: int, variant: str) -> None:
        wl.write_dagster_tree(wd, n, variant)

    def _driver(self, wd: str, mode: str) -> Tuple[measure.RunResult, Optional[dict]]:
        r = self.run([self.bin("python"), "driver.py", mode], wd)
        return r, _last_json(r.stdout)

    def cold_build(self, wd: str):
        r, doc = self._driver(wd, "all")
        return r, (doc or {}).get("materialized")

    def build(self, wd: str):
        r, doc = self._driver(wd, "build")
        return r, (doc or {}).get("materialized")

    def status(self, wd: str):
        r, doc = self._driver(wd, "status")
        return r, (doc or {}).get("stale")

    def read_value(self, wd: str, i: int) -> Optional[int]:
        path = os.path.join(wd, "dagster_home", "storage", f"a{i}")
        try:
            with open(path, "rb") as f:
                return int(pickle.load(f))
        except Exception:
            return None

    def setup_par(self, wd: str, iters: int) -> None:
        wl.write_dagster_par(wd, iters)

    def par_build(self, wd: str, jobs: int):
        env = self.env(wd)
        env["BENCH_JOBS"] = str(jobs)
        r = measure.run(
            [self.bin("dagster"), "asset", "materialize", "-f", "par_defs.py", "--select", "*"],
            cwd=wd,
            env=env,
            timeout=self.timeout,
        )
        storage = os.path.join(wd, "dagster_home", "storage")
        n = sum(os.path.exists(os.path.join(storage, f"p{k}")) for k in range(wl.PAR_ASSETS))
        return r, n


_SM_STATS = re.compile(r"^(a\d+|p)\s+(\d+)\s*$", re.M)


class Snakemake(Peer):
    name = "snakemake"
    parallel_note = "`--cores N`, rule body as `script:` (a Python process per job)"
    # run: jobs are otherwise spawned as a fresh snakemake process each, which
    # re-parses the whole Snakefile per job (measured: 10 rules, 19.6 s vs 1.9 s).
    TREE_FLAGS = ["--force-use-threads"]

    def setup_tree(self, wd: str, n: int, shape: str = "tree") -> None:
        wl.write_snakemake_tree(wd, n, deps_of=wl.SHAPES[shape])

    def set_a1(self, wd: str, n: int, variant: str) -> None:
        wl.write_snakemake_tree(wd, n, variant)

    @staticmethod
    def _jobs(r: measure.RunResult) -> Optional[int]:
        text = r.stdout + "\n" + r.stderr
        if "Nothing to be done" in text:
            return 0
        idx = text.find("Job stats:")
        if idx < 0:
            return None
        block = text[idx : text.find("total", idx) + 1 if text.find("total", idx) > 0 else None]
        return sum(int(m.group(2)) for m in _SM_STATS.finditer(block))

    def build(self, wd: str):
        r = self.run([self.bin("snakemake"), "--cores", "1", *self.TREE_FLAGS], wd)
        return r, self._jobs(r)

    def status(self, wd: str):
        r = self.run([self.bin("snakemake"), "-n", "--cores", "1", *self.TREE_FLAGS], wd)
        return r, self._jobs(r)

    read_value = Peer.read_file_value

    def setup_par(self, wd: str, iters: int) -> None:
        wl.write_snakemake_par(wd, iters)

    def par_build(self, wd: str, jobs: int):
        r = self.run([self.bin("snakemake"), "--cores", str(jobs)], wd)
        return r, self._jobs(r)


class Dvc(Peer):
    name = "dvc"
    parallel = False
    parallel_note = "`dvc repro` runs stages one at a time (no parallel execution)"

    def env(self, wd: Optional[str] = None) -> Dict[str, str]:
        env = super().env(wd)
        env["DVC_NO_ANALYTICS"] = "1"
        env.setdefault("GIT_AUTHOR_NAME", "bench")
        env.setdefault("GIT_AUTHOR_EMAIL", "bench@example.invalid")
        return env

    def _init(self, wd: str) -> None:
        for argv in (["git", "init", "-q", "."], [self.bin("dvc"), "init", "-q"]):
            r = self.run(argv, wd, timeout=120)
            if not r.ok:
                raise RuntimeError(r.brief())

    def setup_tree(self, wd: str, n: int, shape: str = "tree") -> None:
        wl.write_dvc_tree(wd, n, deps_of=wl.SHAPES[shape])
        self._init(wd)

    def set_a1(self, wd: str, n: int, variant: str) -> None:
        wl.write_dvc_tree(wd, n, variant, only_a1=True)

    def build(self, wd: str):
        r = self.run([self.bin("dvc"), "repro"], wd)
        return r, len(re.findall(r"^Running stage '", r.stdout, re.M))

    def status(self, wd: str):
        r = self.run([self.bin("dvc"), "status", "--json"], wd)
        doc = _parse_json_doc(r.stdout)
        return r, (len(doc) if isinstance(doc, dict) else None)

    read_value = Peer.read_file_value

    def setup_par(self, wd: str, iters: int) -> None:
        wl.write_dvc_par(wd, iters)
        self._init(wd)

    def par_build(self, wd: str, jobs: int):
        return self.build(wd)


_DOIT_RAN = re.compile(r"^\.  a\d+", re.M)


class Doit(Peer):
    name = "doit"
    parallel_note = "`doit -n N` (a process per worker, the default `-P process`)"

    def _doit(self, wd: str, *args: str) -> measure.RunResult:
        # verbosity 1 prints ".  TASK" for every task that runs and "-- TASK" for up-to-date ones
        return self.run([self.bin("doit"), *args], wd)

    def setup_tree(self, wd: str, n: int, shape: str = "tree") -> None:
        wl.write_doit_tree(wd, n, deps_of=wl.SHAPES[shape])

    def set_a1(self, wd: str, n: int, variant: str) -> None:
        wl.write_doit_tree(wd, n, variant)

    def build(self, wd: str):
        r = self._doit(wd, "run", "--verbosity", "1")
        return r, len(_DOIT_RAN.findall(r.stdout))

    def status(self, wd: str):
        # doit's dry run: `doit list --status` (R = would run, U = up to date)
        r = self._doit(wd, "list", "--all", "--status")
        return r, len(re.findall(r"^R ", r.stdout, re.M))

    read_value = Peer.read_file_value

    def setup_par(self, wd: str, iters: int) -> None:
        wl.write_doit_par(wd, iters)

    def par_build(self, wd: str, jobs: int):
        r = self._doit(wd, "run", "-n", str(jobs), "--verbosity", "1")
        return r, len(re.findall(r"^\.  p\d+", r.stdout, re.M))


PEERS = {"dagster": Dagster, "snakemake": Snakemake, "dvc": Dvc, "doit": Doit}

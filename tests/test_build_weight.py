"""A build pays only for what it uses: start-up costs that only a build adds stay small (checked in fresh
processes, on a real local store and real worker processes)."""
from __future__ import annotations

import json
import subprocess
import sys

WORKER_PROBE = """\
import sys
from datamake import asset


@asset
def a():
    if "fsspec" in sys.modules:
        raise RuntimeError("the worker loaded fsspec")
    return 1


@asset
def b(a):
    if "fsspec" in sys.modules:
        raise RuntimeError("the worker loaded fsspec")
    return a + 1
"""


def _make_modules(project, *args: str):
    """The outcomes of a fresh ``datamake make --json ARGS`` process and the modules it had loaded."""
    code = ("import json, sys\nfrom datamake.cli.main import run\n"
            f"sys.argv = ['datamake', 'make', '--json', *{list(args)!r}]\n"
            "try:\n    run()\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
            "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=project.root,
                          timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outcomes = {a["key"]: (a["outcome"], a["error"]) for a in json.loads(proc.stdout)["assets"]}
    return outcomes, set(json.loads(proc.stderr.strip().splitlines()[-1]))


def test_a_process_pool_build_on_a_local_store_loads_no_filesystem_layer(project):
    """Neither the coordinator nor its worker processes import fsspec for a local folder store
    (it and what it pulls in were most of the pool's start-up)."""
    project.pipeline(WORKER_PROBE, '[execution]\nexecutor = "process"\n')
    outcomes, loaded = _make_modules(project, "-j", "2")
    assert outcomes == {"a": ("built", None), "b": ("built", None)}
    assert "fsspec" not in loaded


POOL_PROBE = """\
import sys
from datamake import asset

HEAVY = ("multiprocessing", "concurrent.futures", "logging", "ctypes")


@asset
def a():
    loaded = [name for name in HEAVY if name in sys.modules]
    if loaded:
        raise RuntimeError(f"the worker loaded {loaded}")
    return 1


@asset
def b():
    return 2
"""


def test_a_process_pool_build_loads_no_multiprocessing_futures_logging_or_ctypes(project):
    """The process executor's pool is datamake's own: neither the coordinator nor its workers import
    multiprocessing, concurrent.futures (with the logging it imports) or the ctypes package (those were
    about a quarter of the coordinator's instructions before the first asset could start)."""
    project.pipeline(POOL_PROBE, '[execution]\nexecutor = "process"\n')
    outcomes, loaded = _make_modules(project, "-j", "2")
    assert outcomes == {"a": ("built", None), "b": ("built", None)}
    assert not loaded & {"multiprocessing", "concurrent.futures", "logging", "ctypes"}, sorted(loaded)


def test_an_in_process_build_loads_no_pool_or_logging_machinery(project):
    """A cold build on the in-process executor (-j 1) waits on no pool and its assets log nothing: neither
    concurrent.futures nor logging is imported; an asset that logs through its context still works."""
    project.pipeline(
        "from datamake import asset\n\n@asset\ndef a():\n    return 1\n\n@asset\ndef b(a):\n    return a + 1\n\n"
        "@asset\ndef c(context, b):\n    context.log.info('saw %s', b)\n    return b + 1\n")
    outcomes, loaded = _make_modules(project, "a", "b")
    assert outcomes == {"a": ("built", None), "b": ("built", None)}
    assert not loaded & {"concurrent.futures", "logging", "traceback"}, sorted(loaded & {"concurrent.futures", "logging"})
    outcomes, loaded = _make_modules(project, "c")
    assert outcomes == {"a": ("skipped", None), "b": ("skipped", None), "c": ("built", None)}
    assert "logging" in loaded
    proc = project.run("make", "c", "--force", "-v")
    assert proc.returncode == 0 and "saw 2" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


COLLECTOR_PROBE = """\
import gc
from datamake import asset


@asset
def a():
    if not gc.isenabled():
        raise RuntimeError("the cyclic garbage collector is off while an asset runs")
    return 1
"""


def test_the_garbage_collector_paused_at_start_up_runs_again_for_the_assets(project):
    """The ``datamake`` program pauses the cyclic collector while it imports (nothing there for it to
    find); an asset's own code, which may build and drop cycles, runs with it on: in a first build and
    in a forced one."""
    project.pipeline(COLLECTOR_PROBE)
    built = project.run("make", "--json", env={"DATAMAKE_NO_SHORTCUT": "1"})
    assert built.returncode == 0, built.stdout + built.stderr
    assert [(x["key"], x["outcome"], x["error"]) for x in json.loads(built.stdout)["assets"]] == [("a", "built", None)]
    forced = project.run("make", "-B", "--json")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert [x["outcome"] for x in json.loads(forced.stdout)["assets"]] == ["built"]

"""Environment variables an asset's code reads are inputs: each is recorded with a hash of its value (or
as missing), and a different value makes the asset stale (``source_changed``), keeps the action cache and
the no-op certificate from answering with the old value. Each test runs the real command in new
processes, as a user would, changing only the environment between them."""
from __future__ import annotations

import json
import time

import pytest

from datamake.storage.store import Store
from tests.test_execution_soundness import stored_value

MESSAGE = "environment variable {}, which it read, changed since it was built"

SCALED = '''
import os
from datamake import asset


@asset
def scaled():
    return int(os.environ.get("SCALE", "1")) * 10


@asset
def plain():
    return 1
'''


def _json(project, env, *args):
    proc = project.run(*args, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def outcomes(project, *args, **env):
    return {a["key"]: a["outcome"] for a in _json(project, env, "make", *args)["assets"]}


def states(project, **env):
    return {a["key"]: a["state"] for a in _json(project, env, "status")["assets"]}


def status_reasons(project, key, **env):
    return [(r["code"], r["message"]) for a in _json(project, env, "status")["assets"] if a["key"] == key
            for r in a["reasons"]]


def test_a_changed_variable_makes_the_asset_stale_and_make_rebuilds_it_with_the_new_value(project):
    project.pipeline(SCALED)
    assert outcomes(project, SCALE="2") == {"scaled": "built", "plain": "built"}
    assert stored_value(project, "scaled") == 20
    assert states(project, SCALE="2") == {"scaled": "fresh", "plain": "fresh"}
    assert outcomes(project, SCALE="2") == {"scaled": "skipped", "plain": "skipped"}  # unchanged: no rebuild
    assert status_reasons(project, "scaled", SCALE="3") == [("source_changed", MESSAGE.format("SCALE"))]
    assert states(project, SCALE="3")["plain"] == "fresh"
    dry = project.run("make", "-n", env={"SCALE": "3"})
    assert MESSAGE.format("SCALE") in dry.stdout + dry.stderr
    why = project.run("why", "scaled", env={"SCALE": "3"})
    assert MESSAGE.format("SCALE") in why.stdout
    assert outcomes(project, SCALE="3") == {"scaled": "built", "plain": "skipped"}
    assert stored_value(project, "scaled") == 30
    assert states(project, SCALE="3") == {"scaled": "fresh", "plain": "fresh"}


def test_reading_the_environment_is_no_longer_warned_about_and_the_value_is_never_stored(project):
    project.pipeline('import os\nfrom datamake import asset\n\n@asset\ndef a():\n'
                     '    return len(os.getenv("TOKEN", ""))\n')
    proc = project.run("make", env={"TOKEN": "s3cr3t-v4lue"})
    assert proc.returncode == 0, proc.stderr
    assert "os.environ" not in proc.stderr and "env:" not in proc.stderr
    assert "warnings" not in _json(project, {"TOKEN": "s3cr3t-v4lue"}, "status")
    manifest = Store(str(project.root / ".datamake")).read_manifests(["a"])["a"]
    assert [name for name, _ in manifest.reads] == ["env:TOKEN"]
    stored = b"".join(p.read_bytes() for p in (project.root / ".datamake").rglob("*") if p.is_file())
    assert b"s3cr3t-v4lue" not in stored


def test_a_variable_that_was_absent_and_is_set_now_makes_the_asset_stale(project):
    project.pipeline(SCALED)
    assert outcomes(project)["scaled"] == "built"
    assert states(project)["scaled"] == "fresh"
    assert status_reasons(project, "scaled", SCALE="1") == [("source_changed", MESSAGE.format("SCALE"))]
    assert outcomes(project, SCALE="5")["scaled"] == "built"
    assert stored_value(project, "scaled") == 50


def test_the_action_cache_restores_only_a_value_built_with_the_same_variable(project):
    project.pipeline(SCALED)
    assert outcomes(project, SCALE="2")["scaled"] == "built"
    # the same provenance, so the action cache holds the value built with SCALE=2: not restored for 3
    assert outcomes(project, SCALE="3")["scaled"] == "built"
    assert stored_value(project, "scaled") == 30
    assert outcomes(project, SCALE="2")["scaled"] in ("built", "cached")  # (cached: the value built with 2)
    assert stored_value(project, "scaled") == 20


def test_variables_an_installed_library_reads_for_itself_are_not_inputs(project):
    site = project.root.parent / f"{project.root.name}-lib" / "site-packages"
    site.mkdir(parents=True)
    (site / "libconf.py").write_text("import os\n\ndef region():\n    return os.environ.get('LIB_REGION', 'x')\n")
    project.pipeline('import os\nfrom datamake import asset\nimport libconf\n\n'
                     '@asset\ndef a():\n    libconf.region()\n    return 1\n')
    env = {"PYTHONPATH": str(site)}
    assert outcomes(project, **env, LIB_REGION="eu") == {"a": "built"}
    assert states(project, **env, LIB_REGION="us") == {"a": "fresh"}
    manifest = Store(str(project.root / ".datamake")).read_manifests(["a"])["a"]
    assert not manifest.reads


THREADS = '''
import os
import threading
from datamake import asset

BOTH = threading.Barrier(2, timeout=3)  # the two assets read at the same time, on two threads


def together():
    try:
        BOTH.wait()
    except threading.BrokenBarrierError:  # only one of them runs
        pass


@asset
def first():
    together()
    return os.environ["FIRST"]


@asset
def second():
    together()
    seen = []
    helper = threading.Thread(target=lambda: seen.append(os.getenv("SECOND")))  # a thread it starts
    helper.start()
    helper.join()
    return seen[0]
'''


def test_with_the_thread_executor_each_asset_is_stale_only_for_its_own_variable(project):
    project.pipeline(THREADS, '[execution]\nexecutor = "thread"\njobs = 2\n')
    assert outcomes(project, FIRST="a", SECOND="b") == {"first": "built", "second": "built"}
    assert states(project, FIRST="a", SECOND="b") == {"first": "fresh", "second": "fresh"}
    assert states(project, FIRST="z", SECOND="b") == {"first": "stale", "second": "fresh"}
    assert states(project, FIRST="a", SECOND="z") == {"first": "fresh", "second": "stale"}
    assert outcomes(project, FIRST="a", SECOND="z") == {"first": "skipped", "second": "built"}
    assert stored_value(project, "second") == "z"


FORKS = '''
import multiprocessing
import os
from datamake import asset


def scale(_):
    return int(os.environ.get("SCALE", "1"))


@asset
def forked():
    with multiprocessing.get_context("fork").Pool(1) as pool:  # the read happens in a forked child
        return pool.map(scale, [0])[0]


@asset
def direct():
    return os.environ.get("OTHER", "-")
'''


def test_with_the_process_executor_and_in_forked_children_variables_are_recorded(project):
    project.pipeline(FORKS, '[execution]\nexecutor = "process"\njobs = 2\n')
    assert outcomes(project, SCALE="2", OTHER="o") == {"forked": "built", "direct": "built"}
    assert states(project, SCALE="2", OTHER="o") == {"forked": "fresh", "direct": "fresh"}
    assert status_reasons(project, "forked", SCALE="3", OTHER="o") == [("source_changed", MESSAGE.format("SCALE"))]
    assert states(project, SCALE="2", OTHER="p") == {"forked": "fresh", "direct": "stale"}
    assert outcomes(project, SCALE="3", OTHER="o") == {"forked": "built", "direct": "skipped"}
    assert stored_value(project, "forked") == 3


def test_the_no_op_certificate_answers_while_the_variable_holds_and_not_after_it_changed(project):
    project.pipeline(SCALED)
    env = {"DATAMAKE_CACHE_DIR": str(project.root / "cache"), "SCALE": "2"}
    assert "built    scaled" in project.run("make", env=env).stdout
    deadline = time.monotonic() + 30
    while True:  # the certificate is written once the project's files are past the racy window
        proc = project.run("make", "-v", env=env)
        assert proc.returncode == 0, proc.stderr
        if "up to date without loading the project" in proc.stderr:
            break
        assert "read files it does not declare" not in proc.stderr, proc.stderr
        assert time.monotonic() < deadline, proc.stderr
        time.sleep(0.3)  # not for luck: one more try, bounded by the deadline
    proc = project.run("make", "-v", env={**env, "SCALE": "3"})
    assert "up to date without loading the project" not in proc.stderr
    assert "built    scaled" in proc.stdout
    assert stored_value(project, "scaled") == 30


def test_with_the_dask_executor_the_variable_a_worker_read_is_recorded(project):
    pytest.importorskip("distributed")
    project.pipeline(SCALED, '[execution]\nexecutor = "dask"\njobs = 2\n')  # a cluster of its own, started by make
    assert outcomes(project, SCALE="2") == {"scaled": "built", "plain": "built"}
    assert states(project, SCALE="2") == {"scaled": "fresh", "plain": "fresh"}
    assert status_reasons(project, "scaled", SCALE="3") == [("source_changed", MESSAGE.format("SCALE"))]


MEMO = '''
import functools
import os
from datamake import asset


@functools.lru_cache(maxsize=None)
def scale():
    return int(os.environ.get("SCALE", "1"))


@asset
def first():
    return scale()


@asset
def second(first):
    return scale() * 10  # the memo's value: no read of its own in this process
'''


def test_a_variable_a_memoizing_helper_read_for_an_earlier_asset_counts_for_every_asset_it_serves(project):
    project.pipeline(MEMO, '[execution]\nexecutor = "inprocess"\n')
    assert outcomes(project, SCALE="2") == {"first": "built", "second": "built"}
    for key in ("first", "second"):
        assert Store(str(project.root / ".datamake")).read_manifests([key])[key].reads[0][0] == "env:SCALE"
    assert states(project, SCALE="3") == {"first": "stale", "second": "stale"}
    assert outcomes(project, SCALE="3") == {"first": "built", "second": "built"}
    assert stored_value(project, "second") == 30


def test_a_variable_only_a_spawned_interpreter_reads_is_an_input(project):
    project.pipeline('import multiprocessing\nimport os\nfrom datamake import asset\n\n'
                     'def scale(_):\n    return os.environ.get("SCALE")\n\n@asset\ndef a():\n'
                     '    with multiprocessing.get_context("spawn").Pool(1) as pool:\n'
                     '        return pool.apply(scale, (0,))\n')
    proc = project.run("make", env={"SCALE": "2"})
    assert proc.returncode == 0, proc.stderr
    assert "start method" not in proc.stderr
    assert stored_value(project, "a") == "2"
    assert states(project, SCALE="2") == {"a": "fresh"}
    assert states(project, SCALE="3") == {"a": "stale"}
    assert outcomes(project, SCALE="3") == {"a": "built"}
    assert stored_value(project, "a") == "3"


def test_a_copy_of_the_whole_environment_records_no_variable(project):
    project.pipeline('import os\nfrom datamake import asset\n\n@asset\ndef a():\n'
                     '    copies = [dict(os.environ), {**os.environ}, os.environ.copy(), dict(os.environ.items())]\n'
                     '    return len(copies)\n')
    assert outcomes(project, SOME_VAR="1") == {"a": "built"}
    assert not Store(str(project.root / ".datamake")).read_manifests(["a"])["a"].reads
    assert states(project, SOME_VAR="2") == {"a": "fresh"}

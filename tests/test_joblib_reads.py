"""Files read by joblib's loky workers (``Parallel(n_jobs=2)(delayed(f)(p) for p in paths)``, loky's
reusable executor used directly): they count for the asset that handed the work, whether the workers were
started inside the asset, at import, or by another asset running at the same time."""
from __future__ import annotations

import pytest

from tests.test_execution_soundness import stored_value
from tests.test_pool_reads import assert_each_stale_by_its_own_reads

pytest.importorskip("joblib")

READER = '''
    def read(name, *arrays):
        with open(name) as f:
            return f.read().strip() + "".join(f"+{int(a.sum())}" for a in arrays)
'''

# how the asset maps read over names; what runs at import (warming the workers before any asset runs)
MAPS = {
    "parallel": ("Parallel(n_jobs=2)(delayed(read)(n) for n in names)", ""),
    "parallel_warmed_at_import": ("Parallel(n_jobs=2)(delayed(read)(n) for n in names)",
                                  "Parallel(n_jobs=2)(delayed(os.getpid)() for _ in range(4))"),
    "reusable_executor_map": ("get_reusable_executor(2).map(read, names)",
                              "get_reusable_executor(2).submit(os.getpid).result()"),
    "reusable_executor_submit": ("[get_reusable_executor(2).submit(read, n).result() for n in names]",
                                 "get_reusable_executor(2).submit(os.getpid).result()"),
}


def _pipeline(project, mapped: str, at_import: str = "", assets=(("mapped", "ab"),), top: str = "") -> None:
    project.write("helpers.py", READER)
    source = f'''
        import os
        from joblib import Parallel, delayed
        from joblib.externals.loky import get_reusable_executor
        from datamake import asset
        from helpers import read
        {top}
        {at_import}
    '''
    for key, stems in assets:
        source += f'''
        @asset
        def {key}():
            names = [stem + ".txt" for stem in {stems!r}]  # (no file name in its code: read only by the workers)
            return sorted({mapped})
    '''
    project.pipeline(source)


def _warnings(stderr: str):
    return sorted(line for line in stderr.splitlines() if line.startswith("warning:"))


def _reads(key: str, names: str):
    return [f"warning: asset '{key}' read {name}.txt, which is not a declared source" for name in names]


def _assert_reads_exactly(stderr: str, expected) -> None:
    """Every warning is one of the expected undeclared reads (no other file, no unwatched processes)."""
    said = _warnings(stderr)
    assert len(said) == len(expected) and all(any(s.startswith(e) for s in said) for e in expected), stderr


@pytest.mark.parametrize("kind", sorted(MAPS))
@pytest.mark.parametrize("executor", ["thread", "process"])
def test_reads_of_loky_workers_count_for_the_asset_that_handed_them_the_work(project, kind, executor):
    # (on the process executor, an executor warmed at import stayed in the coordinator: the asset's
    # Parallel or get_reusable_executor() starts one in the forked worker; before, they waited for ever)
    _pipeline(project, *MAPS[kind])
    project.write("a.txt", "1")
    project.write("b.txt", "1")
    proc = project.run("make", "--executor", executor)
    assert proc.returncode == 0, proc.stderr
    _assert_reads_exactly(proc.stderr, _reads("mapped", "ab"))
    project.write("b.txt", "2")
    status = project.json("status")["assets"][0]
    assert status["state"] == "stale", status
    # stale for that edit alone: fresh after its build, but for b.txt (one status process fewer, of
    # the five each of these eight tests start)
    assert [r["code"] for r in status["reasons"]] == ["source_changed"], status
    assert "b.txt" in status["reasons"][0]["message"]
    assert project.outcomes("--executor", executor) == {"mapped": "built"}
    assert stored_value(project, "mapped") == ["1", "2"]
    assert project.states() == {"mapped": "fresh"}


@pytest.mark.parametrize("at_import", ["", MAPS["parallel_warmed_at_import"][1]], ids=["started_by_an_asset",
                                                                                       "warmed_at_import"])
def test_two_assets_sharing_the_reusable_executor_at_once_each_record_their_own_reads(project, at_import):
    """On two threads, both assets hand batches to loky's one reusable executor: the workers one of them
    started, or those started at import; each batch logs to the asset that handed it."""
    _pipeline(project, MAPS["parallel"][0], at_import, assets=(("left", "ab"), ("right", "cd")))
    for name in "abcd":
        project.write(f"{name}.txt", "1")
    proc = project.run("make", "-j", "2")
    assert proc.returncode == 0, proc.stderr
    _assert_reads_exactly(proc.stderr, _reads("left", "ab") + _reads("right", "cd"))
    assert_each_stale_by_its_own_reads(project)


@pytest.mark.parametrize("at_import", ["", MAPS["parallel_warmed_at_import"][1]], ids=["started_in_the_asset",
                                                                                       "warmed_at_import"])
def test_joblibs_own_files_are_not_reads_of_the_asset(project, tmp_path_factory, at_import):
    """Arrays joblib hands its workers as memory maps in a temporary folder (outside /dev/shm, as where
    that is small or missing), loky's semaphores and resource tracker: none is an undeclared read, and
    the asset is fresh after its build; the file it reads is."""
    pytest.importorskip("numpy")
    mapped = 'Parallel(n_jobs=2, max_nbytes="1K")(delayed(read)(n, ARRAY) for n in names)'
    _pipeline(project, mapped, at_import, top="import numpy\n        ARRAY = numpy.ones(100_000)")
    project.write("a.txt", "1")
    project.write("b.txt", "1")
    env = {"JOBLIB_TEMP_FOLDER": str(tmp_path_factory.mktemp("joblib-temp"))}
    proc = project.run("make", env=env)
    assert proc.returncode == 0, proc.stderr
    _assert_reads_exactly(proc.stderr, _reads("mapped", "ab"))
    assert stored_value(project, "mapped") == ["1+100000", "1+100000"]
    assert project.states() == {"mapped": "fresh"}
    project.write("a.txt", "2")
    assert project.states() == {"mapped": "stale"}


def test_loky_workers_an_asset_started_on_the_process_executor_end_with_its_task(project):
    """The forked worker leaves without the exit hooks that end loky's workers: they held ``make``'s
    output open for loky's idle timeout (300 s), so a caller reading it to its end waited that long, and
    loky's resource tracker warned of leaked semaphores."""
    import subprocess
    import sys

    _pipeline(project, MAPS["parallel"][0])
    project.write("a.txt", "1")
    project.write("b.txt", "1")
    proc = subprocess.run([sys.executable, "-m", "datamake", "make", "--executor", "process"], cwd=project.root,
                          capture_output=True, text=True, timeout=60)  # (the output read to its end)
    assert proc.returncode == 0, proc.stderr
    _assert_reads_exactly(proc.stderr, _reads("mapped", "ab"))
    assert "leaked" not in proc.stderr
    assert stored_value(project, "mapped") == ["1", "1"]


def test_a_loky_executor_held_from_import_fails_the_asset_on_the_process_executor_saying_why(project):
    """Kept in a global at import, the executor has no workers nor threads in the forked worker: the
    asset fails at once, naming the fix, where its work waited for ever."""
    _pipeline(project, "POOL.map(read, names)", "POOL = get_reusable_executor(2)\n        POOL.submit(os.getpid).result()")
    project.write("a.txt", "1")
    project.write("b.txt", "1")
    proc = project.run("make", "--executor", "process")
    assert proc.returncode != 0
    assert "this loky executor was started before datamake forked its worker process (at import)" in proc.stderr
    assert project.outcomes("--executor", "thread") == {"mapped": "built"}

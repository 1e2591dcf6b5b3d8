"""A pool made at import and used there, handed work by an asset on the process executor: the worker
forked from the coordinator has the pool but not its threads. The asset fails at once, naming the fix,
where the make waited for ever."""
from __future__ import annotations

import pytest

from tests.test_execution_soundness import stored_value

POOLS = {
    "executor": ("ProcessPoolExecutor(1)", "POOL.submit(os.getpid).result()", "ProcessPoolExecutor"),
    "pool": ('multiprocessing.get_context("fork").Pool(1)', "POOL.apply(os.getpid)", "Pool"),
    "thread_pool": ("ThreadPool(1)", "POOL.apply(os.getpid)", "ThreadPool"),
}


def _pipeline(project, pool: str, warm: str) -> None:
    project.pipeline(f'''
        import multiprocessing
        import os
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing.pool import ThreadPool
        from datamake import asset

        def square(x):
            return x * x

        POOL = {pool}
        WORKER = {warm}  # used at import: its threads run in the process that imported the module

        @asset
        def squares():
            return list(POOL.map(square, [1, 2, 3]))
    ''')


@pytest.mark.parametrize("shape", sorted(POOLS))
def test_a_pool_used_at_import_fails_the_asset_on_the_process_executor_instead_of_hanging(project, shape):
    pool, warm, name = POOLS[shape]
    _pipeline(project, pool, warm)
    proc = project.run("make", "--executor", "process")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"this {name} was made before datamake forked its worker process (at import)" in proc.stdout
    assert "make it in the asset, or make with --executor thread" in proc.stdout
    built = project.run("make", "--executor", "thread")  # the fix it names
    assert built.returncode == 0, built.stdout + built.stderr
    assert stored_value(project, "squares") == [1, 4, 9]


def test_a_pool_made_at_import_but_not_used_there_works_on_the_process_executor(project):
    """Its threads start with its first work, in the worker: nothing was left in the coordinator."""
    _pipeline(project, "ProcessPoolExecutor(1)", "None")
    proc = project.run("make", "--executor", "process")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert stored_value(project, "squares") == [1, 4, 9]

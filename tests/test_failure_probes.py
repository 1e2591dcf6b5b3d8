"""Failure handling as a skeptical user meets it: an asset that exits, a run stopped by SIGTERM,
a damaged store. Each test sets up, breaks something, and checks what a user sees: the message,
the exit code and the values kept.
"""
from __future__ import annotations

import pytest

EXITS = '''
import sys
from datamake import asset

@asset
def exits():
    sys.exit(3)

@asset
def good():
    return 1

@asset
def after(good):
    return good + 1
'''


@pytest.mark.parametrize("executor", ["inprocess", "thread", "process"])
def test_an_asset_calling_sys_exit_fails_alone_and_the_rest_is_built(project, executor):
    project.pipeline(EXITS, f'[execution]\nexecutor = "{executor}"\n')
    proc = project.run("make", "-k")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "failed   exits  SystemExit: 3 (the function called sys.exit(); raise an exception" in proc.stdout
    assert "built    after" in proc.stdout
    assert project.states() == {"exits": "stale", "good": "fresh", "after": "fresh"}

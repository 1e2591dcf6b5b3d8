"""Code versions describe the code that ran, never the files on disk at hashing time.

Each test edits project code at a moment 0.1.0 got wrong (while a second make waits for the
store lock, between two loads of a long-lived process, within the same second at the same
size) and checks that the stored value and the code version recorded with it agree.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import datamake.api as dm
from datamake.define import loader
from datamake.storage.lock import store_lock
from datamake.storage.store import Store

PIPELINE = '''
from datamake import asset
import lib

@asset(io_manager="json")
def value():
    return lib.compute()
'''


def lib_returning(n: int) -> str:
    return f"def compute():\n    return {n}\n"


def stored_value(project_root) -> object:
    proc = subprocess.run([sys.executable, "-m", "datamake", "show", "value"], cwd=project_root,
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_an_edit_while_make_waits_for_the_lock_is_not_recorded_against_the_old_value(project):
    project.pipeline(PIPELINE)
    project.write("lib.py", lib_returning(1))
    assert project.outcomes() == {"value": "built"}
    project.write("lib.py", lib_returning(2))
    with store_lock(Store(str(project.root / ".datamake")), command="test holder"):
        waiting = subprocess.Popen([sys.executable, "-m", "datamake", "make", "--json"], cwd=project.root,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # The second make has imported lib (value 2) and says it waits: now the file changes again.
        line = waiting.stderr.readline()
        assert "waiting" in line, line
        project.write("lib.py", lib_returning(3))
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert stored_value(project.root) == 2  # it ran the code it imported
    # ... and recorded that code's version: the code on disk (3) is a change.
    assert project.states() == {"value": "stale"}
    assert project.outcomes() == {"value": "built"}
    assert stored_value(project.root) == 3
    assert project.states() == {"value": "fresh"}


def test_a_long_lived_process_picks_up_an_edited_helper_on_the_next_load(project, monkeypatch):
    project.pipeline(PIPELINE)
    project.write("lib.py", lib_returning(1))
    monkeypatch.syspath_prepend(str(project.root))
    try:
        first = dm.load(str(project.root))
        assert dm.make(first).ok
        project.write("lib.py", lib_returning(2))
        second = dm.load(str(project.root))
        assert [d.state for d in dm.status(second).decisions] == ["stale"]
        assert dm.make(second).ok
        assert dm.show(second, "value") == 2
        assert [d.state for d in dm.status(dm.load(str(project.root))).decisions] == ["fresh"]
    finally:
        loader.forget_project_code()


def test_helper_edited_in_the_same_second_at_the_same_size_never_runs_stale_bytecode(project):
    project.pipeline(PIPELINE)
    helper = project.write("lib.py", lib_returning(1))
    writes_bytecode = {"PYTHONDONTWRITEBYTECODE": ""}  # as on a user's machine
    project.run("make", check=True, env=writes_bytecode)
    assert list((project.root / "__pycache__").glob("lib.*.pyc"))  # lib's bytecode is cached now
    before = os.stat(helper)
    helper.write_text(lib_returning(7))  # same size
    os.utime(helper, ns=(before.st_atime_ns, before.st_mtime_ns))  # same mtime: a timestamp .pyc looks valid
    assert os.stat(helper).st_size == before.st_size
    project.run("make", check=True, env=writes_bytecode)
    assert stored_value(project.root) == 7
    assert project.states() == {"value": "fresh"}


def test_a_definitions_file_that_fails_to_import_is_not_half_loaded_later(project, monkeypatch):
    project.pipeline(PIPELINE + "\nraise RuntimeError('boom')\n")
    project.write("lib.py", lib_returning(1))
    monkeypatch.syspath_prepend(str(project.root))
    try:
        import pytest

        from datamake.core.errors import DefinitionsImportError

        with pytest.raises(DefinitionsImportError, match="boom"):
            dm.load(str(project.root))
        project.pipeline(PIPELINE)
        assert [d.key for d in dm.status(dm.load(str(project.root))).decisions] == ["value"]
    finally:
        loader.forget_project_code()


def test_tracebacks_of_an_asset_show_the_code_that_ran(project):
    project.pipeline(textwrap.dedent('''
        from datamake import asset
        import lib

        @asset
        def value():
            return lib.explode()
    '''))
    project.write("lib.py", "def explode():\n    raise ValueError('from the imported code')\n")
    proc = project.run("make")
    assert proc.returncode == 1
    assert "from the imported code" in proc.stdout + proc.stderr

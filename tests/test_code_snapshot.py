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
from datamake.define import loader, snapshot
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


def test_helper_edited_in_the_same_second_at_the_same_size_never_runs_stale_bytecode(project, tmp_path_factory):
    project.pipeline(PIPELINE)
    helper = project.write("lib.py", lib_returning(1))
    # as on a user's machine; a cache folder of its own, where no other test compiled the same lib.py before
    # (its bytecode would be taken from there, and none written in the project's __pycache__)
    writes_bytecode = {"PYTHONDONTWRITEBYTECODE": "", "DATAMAKE_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    project.run("make", check=True, env=writes_bytecode)
    assert list((project.root / "__pycache__").glob("lib.*.pyc"))  # lib's bytecode is cached now
    before = os.stat(helper)
    helper.write_text(lib_returning(7))  # same size
    os.utime(helper, ns=(before.st_atime_ns, before.st_mtime_ns))  # same mtime: a timestamp .pyc looks valid
    assert os.stat(helper).st_size == before.st_size
    project.run("make", check=True, env=writes_bytecode)
    assert stored_value(project.root) == 7
    assert project.states() == {"value": "fresh"}


def test_a_fresh_copy_reuses_the_bytecode_of_the_same_source_and_names_its_own_files(project, tmp_path):
    """A copy of a project (no ``__pycache__`` of its own) runs the bytecode compiled from the same bytes
    elsewhere, yet its tracebacks name its own files; an edit in the copy is compiled and run."""
    import shutil

    env = {"PYTHONDONTWRITEBYTECODE": "", "DATAMAKE_CACHE_DIR": str(tmp_path / "cache")}
    failing = "\n@asset\ndef broken():\n    raise ValueError('from here')\n"
    project.pipeline(PIPELINE + failing)
    project.write("lib.py", lib_returning(1))
    project.run("make", "value", check=True, env=env)
    assert list((tmp_path / "cache" / "bytecode").glob("pipeline.*.pyc"))
    copy = tmp_path / "copy"
    shutil.copytree(project.root, copy, ignore=shutil.ignore_patterns(".datamake", "__pycache__", "cache", "copy"))
    proc = subprocess.run([sys.executable, "-m", "datamake", "make", "broken"], cwd=copy, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "from here" in proc.stderr + proc.stdout
    assert str(copy / "pipeline.py") in proc.stderr + proc.stdout
    assert str(project.root / "pipeline.py") not in proc.stderr + proc.stdout
    (copy / "lib.py").write_text(lib_returning(5))
    subprocess.run([sys.executable, "-m", "datamake", "make", "value"], cwd=copy, env={**os.environ, **env},
                   capture_output=True, text=True, timeout=120, check=True)
    assert stored_value(copy) == 5
    assert stored_value(project.root) == 1


def test_a_fresh_copy_of_an_earlier_version_reuses_its_bytecode_and_the_machine_keeps_a_few(tmp_path):
    """Switching a branch back and building in a fresh folder (a CI checkout) compiles nothing that was
    compiled before: the machine keeps the bytecode of the last few versions of each module, not one."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "", "DATAMAKE_CACHE_DIR": str(tmp_path / "cache")}
    shared = tmp_path / "cache" / "bytecode"

    def build(version: int, folder: str) -> None:
        root = tmp_path / folder
        root.mkdir()
        (root / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
        (root / "pipeline.py").write_text(f"from datamake import asset\n\n@asset\ndef value():\n    return {version}\n")
        subprocess.run([sys.executable, "-m", "datamake", "make"], cwd=root, env=env, capture_output=True,
                       timeout=120, check=True)
        assert stored_value(root) == version

    build(1, "main")
    first = set(shared.glob("pipeline.*.pyc"))
    build(2, "branch")
    assert first < set(shared.glob("pipeline.*.pyc")), "the other branch's bytecode replaced the first's"
    before = {p: p.stat().st_mtime_ns for p in shared.glob("pipeline.*.pyc")}
    build(1, "main-again")  # the first version, in a fresh folder: its bytecode is reused, not rewritten
    assert {p: p.stat().st_mtime_ns for p in shared.glob("pipeline.*.pyc")} == before
    for version in range(3, 9):
        build(version, f"v{version}")
    assert len(list(shared.glob("pipeline.*.pyc"))) == snapshot._SHARED_KEPT


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


LIB_READING_A_FILE = '''
import os

with open(os.path.join(os.path.dirname(__file__), "factor.txt")) as f:
    FACTOR = int(f.read())

def compute():
    return FACTOR
'''


def test_a_long_lived_process_loads_again_when_a_file_read_at_import_changes(project, monkeypatch):
    """A global computed from a data file at import holds the old file's value: the next load of a
    long-lived process (the daemon, the web UI) imports the module again instead of calling the
    asset fresh, and planning tells the stored value is stale."""
    project.pipeline(PIPELINE)
    project.write("lib.py", LIB_READING_A_FILE)
    factor = project.write("factor.txt", "1")
    monkeypatch.syspath_prepend(str(project.root))
    # A file changed within this window of its read counts as changed (a write in the same tick of
    # its timestamps would not show): none here, so that only real changes count below.
    monkeypatch.setattr(snapshot, "_SETTLED_SECONDS", 0.0)
    try:
        first = dm.load(str(project.root))
        assert dm.make(first).ok and dm.show(first, "value") == 1
        assert not first.changed_since(first.loaded_at)
        factor.write_text("2")  # same size
        assert first.changed_since(first.loaded_at)  # the daemon and the UI load it again
        second = dm.load(str(project.root))
        assert [d.state for d in dm.status(second).decisions] == ["stale"]
        assert dm.make(second).ok and dm.show(second, "value") == 2
        assert not second.changed_since(second.loaded_at)
        factor.unlink()  # gone: importing again would fail, which the user must hear of
        assert second.changed_since(second.loaded_at)
    finally:
        loader.forget_project_code()


def test_a_long_lived_process_loads_again_when_a_file_a_memoized_helper_read_changes(project, monkeypatch):
    """A helper that keeps what it read (``lru_cache``) holds the old file's value in a long-lived
    process: once the file changes, the next load imports the project again, so the rebuild reads
    the new file instead of the cached value."""
    project.pipeline('''
        import functools
        from datamake import asset

        @functools.lru_cache(maxsize=None)
        def factor():
            with open("factor.txt") as f:
                return int(f.read())

        @asset
        def value():
            return factor()
    ''')
    factor = project.write("factor.txt", "1")
    monkeypatch.chdir(project.root)
    monkeypatch.setattr(snapshot, "_SETTLED_SECONDS", 0.0)
    try:
        first = dm.load(str(project.root))
        assert dm.make(first).ok and dm.show(first, "value") == 1
        assert not first.changed_since(first.loaded_at)
        factor.write_text("2")
        assert first.changed_since(first.loaded_at)
        second = dm.load(str(project.root))
        assert [d.state for d in dm.status(second).decisions] == ["stale"]
        assert dm.make(second).ok and dm.show(second, "value") == 2
        assert [d.state for d in dm.status(dm.load(str(project.root))).decisions] == ["fresh"]
    finally:
        loader.forget_project_code()


def test_a_file_read_at_import_just_after_it_was_written_counts_as_changed(project, monkeypatch):
    """Its timestamps may not move for another write within the same tick: until it has settled,
    the next load imports the module again rather than trust them."""
    project.pipeline(PIPELINE)
    project.write("lib.py", LIB_READING_A_FILE)
    project.write("factor.txt", "1")
    monkeypatch.syspath_prepend(str(project.root))
    monkeypatch.setattr(snapshot, "_SETTLED_SECONDS", 3600.0)
    try:
        loaded = dm.load(str(project.root))
        assert loaded.changed_since(loaded.loaded_at)
    finally:
        loader.forget_project_code()


def test_files_written_or_installed_at_import_are_not_watched(project, monkeypatch):
    project.pipeline(PIPELINE)
    project.write("lib.py", "import os, json, email.mime.text\n"
                  "with open(os.path.join(os.path.dirname(__file__), 'out.log'), 'w') as f:\n"
                  "    f.write('imported')\n"
                  "def compute():\n    return 1\n")
    monkeypatch.syspath_prepend(str(project.root))
    try:
        loaded = dm.load(str(project.root))
        assert snapshot.import_reads() == {}
        (project.root / "out.log").write_text("rewritten")
        assert not loaded.changed_since(loaded.loaded_at)
    finally:
        loader.forget_project_code()

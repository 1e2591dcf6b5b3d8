"""The remembered analyses behind a fast no-op are never trusted wrongly.

A no-op `make` finds each function's analysed source by where it is in the exact bytes of its
module (kept between runs), and takes an asset that reads no global and captures nothing from
that analysis alone. Everything decided at import time (which names a module binds, closures,
values read from the environment) is still looked at in every run: these tests change exactly
that, with the source left alone, and expect the asset to be stale.
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import textwrap

import pytest

from datamake.define import codeversion, snapshot
from datamake.define.codeversion import fingerprint


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Each test starts with no remembered analyses (the cache of the user running the tests is left alone)."""
    monkeypatch.setenv("DATAMAKE_CACHE_DIR", str(tmp_path / "cache"))


def stale(project, *args: str, env: dict = None) -> dict:
    """Asset key -> its reason codes, for the stale ones (``status --json`` in a new process)."""
    proc = project.run("status", "--json", *args, env=env)
    assert proc.returncode == 0, proc.stderr
    return {a["key"]: [r["code"] for r in a["reasons"]] for a in json.loads(proc.stdout)["assets"] if a["reasons"]}


def built(project, env: dict = None) -> None:
    project.run("make", check=True, env=env)
    assert stale(project, env=env) == {}, "a second look (the remembered analyses in use) must agree"


def test_a_helper_edited_in_another_module_makes_its_user_stale(project):
    project.write("helpers.py", "def clean(x):\n    return x + 1\n")
    project.pipeline("""
        from datamake import asset
        from helpers import clean

        @asset
        def raw():
            return 1

        @asset
        def tidy(raw):
            return clean(raw)
    """)
    built(project)
    project.write("helpers.py", "def clean(x):\n    return x + 2\n")
    assert stale(project) == {"tidy": ["code_changed"]}


def test_a_constant_read_from_the_environment_at_import_makes_its_reader_stale(project):
    project.pipeline("""
        import os
        from datamake import asset

        RATE = {"rate": float(os.environ.get("PIPE_RATE", "1"))}

        @asset
        def priced():
            return RATE["rate"] * 10
    """)
    built(project, env={"PIPE_RATE": "1"})
    assert stale(project, env={"PIPE_RATE": "2"}) == {"priced": ["code_changed"]}
    assert stale(project, env={"PIPE_RATE": "1"}) == {}


def test_a_name_bound_only_under_some_environment_is_looked_up_in_every_run(project):
    # The asset's source is the same either way; whether `bonus` is a global is decided at import.
    project.pipeline("""
        import os
        from datamake import asset

        if os.environ.get("PIPE_BONUS"):
            def bonus():
                return 2

        @asset
        def total():
            try:
                return bonus()
            except NameError:
                return 1
    """)
    built(project)
    assert stale(project, env={"PIPE_BONUS": "1"}) == {"total": ["code_changed"]}


def test_a_value_captured_by_an_asset_factory_is_versioned_in_every_run(project):
    project.pipeline("""
        import os
        from datamake import asset

        def scaled(factor):
            @asset(name="scaled")
            def fn():
                return 10 * factor
            return fn

        scaled_asset = scaled(int(os.environ.get("PIPE_FACTOR", "1")))
    """)
    built(project)
    assert stale(project, env={"PIPE_FACTOR": "3"}) == {"scaled": ["code_changed"]}


def test_an_edit_of_the_same_size_and_mtime_is_seen(project):
    path = project.write("datamake.toml", '[project]\ndefinitions = "pipeline.py"\n')
    path = project.write("pipeline.py", "from datamake import asset\n\n@asset\ndef a0():\n    return 1 + 0\n")
    built(project)
    st = os.stat(path)
    path.write_text(path.read_text().replace("1 + 0", "2 + 0"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_size == st.st_size
    assert stale(project) == {"a0": ["code_changed"]}


def test_a_copy_in_a_new_folder_starts_from_the_analyses_of_the_last_new_folder_and_still_sees_edits(project, tmp_path):
    """A fresh clone or copy reads the analyses its first folder left (found by content, not path): the same
    versions, no analysis to redo, and an edit in the copy is still seen."""
    import shutil

    project.write("datamake.toml", '[project]\ndefinitions = "pipeline.py"\n')
    project.write("helpers.py", "def double(x):\n    return 2 * x\n")
    project.write("pipeline.py", "from datamake import asset\nfrom helpers import double\n\n"
                                 "@asset\ndef a0():\n    return double(1)\n\n@asset\ndef a1():\n    return 1 + 0\n")
    built(project)
    cache = tmp_path / "cache"
    assert (cache / "code-seed.json").exists()
    copy = type(project)(tmp_path / "copy")
    shutil.copytree(project.root, copy.root, ignore=shutil.ignore_patterns(".datamake", "__pycache__"))
    own = set(cache.glob("code-*.json"))
    assert stale(copy) == {"a0": ["never_materialized"], "a1": ["never_materialized"]}
    assert set(cache.glob("code-*.json")) == own  # nothing new was analysed: nothing to keep for the copy
    built(copy)
    from datamake.storage.store import Store

    def versions(p):
        manifests = Store(str(p.root / ".datamake")).read_manifests(["a0", "a1"])
        return {k: m.code_version for k, m in manifests.items()}

    assert versions(copy) == versions(project)
    path = copy.root / "helpers.py"
    st = os.stat(path)
    path.write_text(path.read_text().replace("2 * x", "3 * x"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert stale(copy) == {"a0": ["code_changed"]}


# -- the shortcut itself: the same answer as the full walk, or none -----------------------------------

SOURCE = '''
import functools
from datamake import asset

LIMIT = 3

def deco(fn):
    @functools.wraps(fn)
    def wrapper(*args):
        return fn(*args)
    return wrapper

@asset
def closed(up):
    return up + 1

@asset
def reads_global(up):
    return min(up, LIMIT)

@asset
def with_default(up, k=2):
    return up * k

@asset
@deco
def decorated(up):
    return up

@asset
def reads_doc(up):
    return up.__doc__

@asset
def evaluates(up):
    return eval("up + 1")

@asset
def imports_by_name(up):
    return __import__("json").dumps(up)
'''


@pytest.fixture
def snapshotted(tmp_path):
    """``SOURCE`` imported through a source snapshot, as project code is."""
    path = tmp_path / "memo_pipe.py"
    path.write_text(textwrap.dedent(SOURCE))
    spec = snapshot.spec_for_file("memo_pipe", str(path))
    module = sys.modules["memo_pipe"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module, str(tmp_path)
    sys.modules.pop("memo_pipe", None)


def test_the_shortcut_gives_the_full_walks_answer_and_only_for_closed_functions(snapshotted, monkeypatch):
    """The first time a function is seen (analysed now) and later (its analysis remembered), the
    shortcut answers only for a closed function, and with what walking it gives."""
    module, root = snapshotted
    names = ["closed", "reads_global", "with_default", "decorated", "reads_doc", "evaluates", "imports_by_name"]
    with monkeypatch.context() as m:
        m.setattr(codeversion, "_closed_fingerprint", lambda fn: None)
        walked = {n: fingerprint(getattr(module, n).fn, [root]) for n in names}
    for remembered in (False, True):
        if not remembered:
            codeversion._located.clear()
            codeversion._normalized_cache.clear()
        shortcut = {n: codeversion._closed_fingerprint(getattr(module, n).fn) for n in names}
        assert shortcut["closed"] == walked["closed"]
        assert {n for n, fp in shortcut.items() if fp is None} == set(names) - {"closed"}
        assert {n: fingerprint(getattr(module, n).fn, [root]) for n in names} == walked


@pytest.mark.parametrize("body", ["return str(a0.__doc__)", "return eval('a0 + 1')",
                                  "return __import__('settings').RATE * a0"])
def test_one_version_from_the_first_build_on(project, body):
    """A function that reads a docstring, calls eval or imports a module by name had one version when
    first analysed and another once its analysis was remembered: every build after the first found
    it stale (and a module it imports by name was not followed from the second on)."""
    project.write("settings.py", "RATE = 2\n")
    project.pipeline(f"from datamake import asset\n\n@asset\ndef a0():\n    return 1\n\n"
                     f"@asset\ndef a1(a0):\n    {body}\n")
    built(project)
    if "settings" in body:
        project.write("settings.py", "RATE = 3\n")
        assert stale(project) == {"a1": ["code_changed"]}


def test_a_damaged_cache_of_analyses_costs_time_not_correctness(project, tmp_path):
    project.pipeline("from datamake import asset\n\n@asset\ndef a0():\n    return 1\n\n@asset\ndef a1(a0):\n    return a0 + 1\n")
    built(project)
    [cache] = [p for p in (tmp_path / "cache").glob("code-*.json") if p.name != "code-seed.json"]
    data = json.loads(cache.read_text())
    assert data["located"], "the lines of both assets are remembered"
    cache.write_text(json.dumps({**data, "entries": {raw: [1] for raw in data["entries"]}}))
    assert stale(project) == {}
    project.write("pipeline.py", (project.root / "pipeline.py").read_text().replace("a0 + 1", "a0 + 2"))
    assert stale(project) == {"a1": ["code_changed"]}

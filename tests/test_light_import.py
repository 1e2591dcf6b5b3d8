"""Importing datamake stays light: checked in fresh interpreters. (The core's purity is an import-linter
contract: tests/test_architecture.py.)"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("pyarrow", "pandas", "fsspec", "sqlite3", "numpy", "dask", "s3fs")


def modules_after(statement: str) -> set:
    """Top-level names of the modules a fresh interpreter has loaded after ``statement``."""
    code = f"{statement}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in json.loads(out)}


def test_import_datamake_loads_no_heavy_module():
    loaded = modules_after("import datamake\nfrom datamake import asset, Definitions")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_defining_assets_loads_no_heavy_module():
    loaded = modules_after(
        "from datamake import asset, Definitions\n"
        "@asset\ndef a():\n    return 1\n"
        "@asset\ndef b(a):\n    return a\n"
        "Definitions([a, b])"
    )
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_the_cli_help_loads_no_heavy_module():
    code = ("import sys\nfrom click.testing import CliRunner\nfrom datamake.cli.main import main\n"
            "r = CliRunner().invoke(main, ['--help'])\nassert r.exit_code == 0, r.output\n")
    loaded = modules_after(code)
    assert not loaded & {"pyarrow", "pandas", "fsspec", "sqlite3"}


def test_the_web_ui_is_loaded_only_by_its_command():
    code = ("from click.testing import CliRunner\nfrom datamake.cli.main import main\n"
            "r = CliRunner().invoke(main, ['--help'])\nassert r.exit_code == 0 and 'ui' in r.output, r.output\n"
            "import datamake, datamake.api\nassert not any(m.startswith('datamake.ui') for m in sys.modules)\n")
    loaded = modules_after("import sys\n" + code)
    assert not loaded & {"starlette", "uvicorn", "anyio", "httpx"}


def _no_op_make_modules(project, outcome: str = "skipped") -> set:
    """The modules a fresh ``datamake make --json`` process has loaded when it finds everything fresh
    (or, with ``outcome="built"``, when it builds everything); not those the interpreter started with (an
    editable install's import hook loads some of them at start-up), nor those imported lazily that never ran."""
    code = ("import sys\nstarted = set(sys.modules)\nfrom datamake.cli.main import run\n"
            "sys.argv = ['datamake', 'make', '--json']\n"
            "try:\n    run()\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
            "ran = {n for n, m in list(sys.modules.items()) if type(m).__name__ != '_LazyModule'}\n"
            "print(json.dumps(sorted(ran - started)), file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True, text=True,
                          cwd=project.root, check=True)
    assert [a["outcome"] for a in json.loads(proc.stdout)["assets"]] == [outcome, outcome]
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


def test_a_no_op_make_on_a_local_store_loads_no_filesystem_layer_workers_or_remote_cache(project):
    """Nothing stale: no fsspec (the local store opens it on first use), no executor, no remote cache."""
    project.pipeline("from datamake import asset\n\n@asset\ndef a():\n    return 1\n\n@asset\ndef b(a):\n    return a + 1\n")
    assert project.outcomes() == {"a": "built", "b": "built"}
    loaded = _no_op_make_modules(project)
    unwanted = {"fsspec", "concurrent.futures", "datamake.execution.executors", "datamake.execution.tasks",
                "datamake.storage.remote", "datamake.storage.gc"}
    assert not loaded & unwanted, sorted(loaded & unwanted)


def test_a_no_op_make_loads_only_what_its_project_uses(project):
    """No selection, schedule, partitioned or folder asset, no -v: none of their machinery, nor the other
    commands' modules, nor standard modules only an error or another command needs (start-up time)."""
    project.pipeline("from datamake import asset\n\n@asset\ndef a():\n    return 1\n\n@asset\ndef b(a):\n    return a + 1\n")
    assert project.outcomes() == {"a": "built", "b": "built"}
    loaded = _no_op_make_modules(project)
    unwanted = {"datamake.selection", "datamake.jobs.resolve", "datamake.automation.rules.definitions",
                "datamake.bulkstatus.gather", "datamake.core.graphview", "datamake.execution.assetlogs",
                "datamake.core.partitions",
                "datamake.history.lineage", "datamake.history.opevents", "datamake.storage.preview",
                "datamake.cli.jobs", "datamake.cli.metrics", "datamake.cli.graph", "datamake.cli.init",
                "datamake.cli.partitions", "datamake.cli.automation", "datamake.cli.ui",
                "logging", "socket", "tarfile", "zoneinfo", "sysconfig", "difflib", "traceback",
                "pickle", "tempfile", "shutil", "tomli_w",  # only writing or reading values, or pins, needs them
                "tomllib"}  # an unchanged datamake.toml is not parsed again
    assert not loaded & (unwanted | PLAIN_BUILD_UNWANTED), sorted(loaded & (unwanted | PLAIN_BUILD_UNWANTED))


# What a build of plain assets (no checks, file inputs, output paths or partitions) does not need: the checks
# module, and standard modules slow to import that only such assets (or a value of theirs) use.
PLAIN_BUILD_UNWANTED = {"datamake.define.checks", "pathlib", "urllib.parse", "ipaddress", "shutil", "tempfile",
                        "fnmatch", "datamake.storage.gc", "datamake.storage.remote",
                        # nor what only listings of a store, the manifest index, a terminal's status line,
                        # dynamic or mapped partitions or config classes use
                        "datamake.storage.objects", "datamake.storage.manifest_index", "datamake.execution.progress",
                        "datamake.storage.partitionstate", "datamake.project.paramsfile", "datamake.commands",
                        # nor, for functions that read no global (versioned from their analysis alone), what
                        # following a function's reads uses: hashing values, what a class statement binds
                        "datamake.define.valuehash", "datamake.define.classpatches"}


def test_a_cold_build_of_plain_assets_loads_neither_the_checks_module_nor_what_only_other_assets_need(project):
    """The start-up of every first build: a project whose assets have no checks, write no files of their
    own and are not partitioned builds without loading what those need; a check still runs when declared."""
    project.pipeline("from datamake import asset\n\n@asset\ndef a():\n    return 1\n\n@asset\ndef b(a):\n    return a + 1\n")
    loaded = _no_op_make_modules(project, outcome="built")
    assert not loaded & PLAIN_BUILD_UNWANTED, sorted(loaded & PLAIN_BUILD_UNWANTED)
    project.pipeline("from datamake import asset, asset_check\n\n@asset\ndef a():\n    return 1\n\n"
                     "@asset\ndef b(a):\n    return a + 1\n\n"
                     "@asset_check(asset=b, blocking=True)\ndef b_is_big(b):\n    return b > 5\n")
    proc = project.run("make")
    assert proc.returncode == 1 and "b_is_big" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_commands_in_modules_of_their_own_still_run_and_are_listed(project):
    """The commands loaded on demand are in --help and run as before."""
    from click.testing import CliRunner
    from datamake.cli.main import main

    help_text = CliRunner().invoke(main, ["--help"]).output
    for name in ("jobs", "run", "graph", "init", "partitions", "params", "metrics", "plots", "daemon", "schedules",
                 "sensors", "ticks", "ui"):
        assert f"\n  {name} " in help_text, name
    project.pipeline("from datamake import asset\n\n@asset\ndef a():\n    return 1\n")
    result = CliRunner().invoke(main, ["-C", str(project.root), "jobs"])
    assert result.exit_code == 0 and "no jobs defined" in result.output, result.output


def test_a_no_op_answered_by_its_certificate_loads_neither_the_project_nor_click(project):
    """The second identical no-op is answered from the certificate the first one wrote: the launcher
    then imports no CLI framework, no definitions layer and not the project's code."""
    project.pipeline("from datamake import asset\n\n@asset\ndef a():\n    return 1\n")
    code = ("import sys, json\nsys.argv = ['datamake', 'make', '--json']\nfrom datamake.cli.launch import run\n"
            "try:\n    run()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n")
    env = {**os.environ, "DATAMAKE_CACHE_DIR": str(project.root / "cache")}
    env.pop("DATAMAKE_NO_SHORTCUT", None)
    # The first builds (creating the store and bytecode in the project's folder, which a certificate
    # records), the second finds everything fresh and writes the certificate, the third is answered.
    for _ in range(3):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=project.root,
                              env=env, check=True)
    assert [a["outcome"] for a in json.loads(proc.stdout)["assets"]] == ["skipped"]
    # (less what the interpreter's own start-up imports here: on 3.9 an editable install's path hook
    # imports importlib.util, and with it typing, before datamake runs)
    start_up = subprocess.run([sys.executable, "-c", "import sys, json; print(json.dumps(sorted(sys.modules)))"],
                              capture_output=True, text=True, env=env, check=True)
    loaded = set(json.loads(proc.stderr.strip().splitlines()[-1])) - set(json.loads(start_up.stdout))
    unwanted = {"click", "pipeline", "datamake.define", "datamake.api", "datamake.project", "datamake.storage",
                "sqlite3", "fsspec", "typing"}
    assert not loaded & unwanted, sorted(loaded & unwanted)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="the parse is kept only for the standard library's tomllib")
def test_a_fresh_copy_of_a_project_reads_its_unchanged_toml_back_without_the_parser(tmp_path):
    """The parse of a ``datamake.toml`` is kept by its content: a project copied to a new folder (a new
    clone, a CI job) builds without importing the TOML parser; an edited file is parsed again."""
    env = {**os.environ, "DATAMAKE_CACHE_DIR": str(tmp_path / "cache"), "DATAMAKE_NO_SHORTCUT": "1"}
    code = ("import sys, json\nsys.argv = ['datamake', 'make', '--json']\nfrom datamake.cli.launch import run\n"
            "try:\n    run()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n")

    def build_in(folder: str, toml: str) -> set:
        root = tmp_path / folder
        root.mkdir()
        (root / "pipeline.py").write_text("from datamake import asset\n\n@asset\ndef a():\n    return 1\n")
        (root / "datamake.toml").write_text(toml)
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, env=env,
                              check=True)
        assert [a["outcome"] for a in json.loads(proc.stdout)["assets"]] == ["built"]
        return set(json.loads(proc.stderr.strip().splitlines()[-1]))

    toml = '[project]\ndefinitions = "pipeline.py"\n'
    assert "tomllib" in build_in("first", toml)
    assert "tomllib" not in build_in("copy", toml)
    assert "tomllib" in build_in("edited", toml + '\n[execution]\njobs = 1\n')


def test_a_cold_build_started_by_the_launcher_parses_nothing_and_loads_no_dataclasses(tmp_path):
    """A fresh folder (a new clone, a CI job) whose functions' analysis is known from another build: the
    launcher's ``make`` (no CLI framework) imports neither ``dataclasses`` (datamake's records do without
    it) nor ``inspect``, ``ast`` or ``dis``, nor standard modules only a traceback, a pool worker, a
    resource, a cycle or an inline value read back uses (start-up time); building a function never seen
    still works."""
    env = {**os.environ, "DATAMAKE_CACHE_DIR": str(tmp_path / "cache"), "DATAMAKE_NO_SHORTCUT": "1"}
    code = ("import sys, json\nsys.argv = ['datamake', 'make', '--json']\nfrom datamake.cli.launch import run\n"
            "try:\n    run()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "ran = [n for n, m in list(sys.modules.items()) if type(m).__name__ != '_LazyModule']\n"
            "print(json.dumps(sorted(ran)), file=sys.stderr)\n")

    def build_in(folder: str, pipeline: str) -> set:
        root = tmp_path / folder
        root.mkdir()
        (root / "pipeline.py").write_text(pipeline)
        (root / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, env=env,
                              check=True)
        assert {a["outcome"] for a in json.loads(proc.stdout)["assets"]} == {"built"}
        return set(json.loads(proc.stderr.strip().splitlines()[-1]))

    pipeline = "from datamake import asset\n\n@asset\ndef a():\n    return 1\n\n@asset\ndef b(a):\n    return a + 1\n"
    build_in("first", pipeline)
    loaded = build_in("copy", pipeline)
    unwanted = {"dataclasses", "inspect", "ast", "_ast", "dis", "copy", "click", "linecache", "tokenize", "signal",
                "getpass", "termios", "shlex", "weakref", "base64", "struct", "graphlib", "datamake.core.durations",
                "datamake.define.moduleimports", "datamake.define.metricvalues", "datamake.jobs.definition",
                "datamake.core.compat", "datamake.execution.waiting"}
    assert not loaded & unwanted, sorted(loaded & unwanted)
    assert "ast" in build_in("edited", pipeline.replace("a + 1", "a + 2"))  # a new function is parsed


def test_linecache_imported_after_the_project_holds_the_source_as_imported(project):
    """The project's modules are imported before ``linecache`` is: importing it later still gives it
    their snapshots (tracebacks and code versions read the source that runs, not the file on disk)."""
    project.pipeline("from datamake import asset\n\n@asset\ndef a():\n    return 1\n")
    code = ("import os, sys\nimport datamake.api as dm\ndm.load('.')\nassert 'linecache' not in sys.modules\n"
            "import linecache\nsize, mtime, lines, _ = linecache.cache[os.path.abspath('pipeline.py')]\n"
            "print(mtime, ''.join(lines) == open('pipeline.py').read())\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=project.root, check=True)
    assert proc.stdout.split() == ["None", "True"], proc.stdout + proc.stderr

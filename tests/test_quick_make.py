"""A ``make`` command line of plain options runs without loading click, and prints and exits exactly as
click's ``make`` does; every other command line is still parsed by click (its help, its errors).
(Through a terminal the output goes to the same reporters on both paths.)"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

PIPELINE = """\
from datamake import asset


@asset
def a():
    return 1


@asset
def b(a):
    print("b says hello")
    return a + 1


@asset
def c(b):
    raise ValueError("boom \\033[31mred\\033[0m")
"""

# Runs the program's entry point (the launcher) or click's command directly, then says whether click was loaded.
_CODE = """\
import json, sys
sys.argv = ["datamake", *json.loads(sys.argv[1])]
from datamake.cli.{module} import run
try:
    run()
    code = 0
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
print("CLICK-LOADED", "click" in sys.modules, file=sys.stderr)
sys.exit(code)
"""


def _run(root, module: str, argv: list) -> tuple:
    """(exit code, stdout, stderr, click loaded) of ``datamake ARGV`` in a fresh copy of the project at ``root``."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    (root.parent / "empty").mkdir(exist_ok=True)
    (root / "pipeline.py").write_text(PIPELINE)
    (root / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    env = {**os.environ, "DATAMAKE_NO_SHORTCUT": "1"}  # the same work on both paths: no certificate answers
    proc = subprocess.run([sys.executable, "-c", _CODE.format(module=module), json.dumps(argv)], cwd=root,
                          capture_output=True, text=True, env=env, timeout=120)
    *lines, last = proc.stderr.rstrip("\n").split("\n")
    assert last.startswith("CLICK-LOADED "), proc.stderr
    return proc.returncode, _steady(proc.stdout), _steady("\n".join(lines)), last.endswith("True")


def _steady(text: str) -> str:
    """The text without what differs from run to run: run ids, durations, timestamps."""
    text = re.sub(r"\d{8}T\d{6}-[0-9a-f]{8}", "RUN", text)
    text = re.sub(r"\d+\.\d+s\b", "Ts", text)
    return re.sub(r'"(seconds|started|finished|duration)": [0-9.e-]+', r'"\1": T', text)


PLAIN = [
    ["make"],  # c fails: exit 1, its error
    ["make", "-v", "b"],
    ["make", "--json", "-q", "-j", "2", "--executor", "inprocess"],
    ["make", "-k", "--only", "-B", "b", "--verbose"],
    ["make", "nope"],  # an unknown asset: the selection's error, exit 2
    ["make", "no\033[1mpe"],  # its escape sequence dropped, as click.echo drops it off a terminal
    ["-C", "../empty", "make", "--quiet"],  # no project there
    ["--project", ".", "make", "a", "--keep-going", "--jobs", "1"],
]
FOR_CLICK = [
    ["make", "-j", "0"],  # click's range error
    ["make", "--jobs=1", "a"],
    ["make", "-qv", "a"],
    ["make", "--executor", "nowhere"],
    ["make", "--help"],
    ["make", "-n"],
    ["make", "--", "a"],
    ["make", "--config", "a.x=1"],
]


@pytest.mark.parametrize("argv", PLAIN + FOR_CLICK, ids=lambda argv: " ".join(argv))
def test_a_plain_make_runs_without_click_and_says_what_clicks_make_says(tmp_path, argv):
    quick = _run(tmp_path / "project", "launch", argv)
    through_click = _run(tmp_path / "project", "main", argv)
    assert quick[:3] == through_click[:3], (quick, through_click)
    assert through_click[3]
    assert quick[3] == (argv not in PLAIN), "click loaded" if quick[3] else "click not loaded"


def test_the_plain_runs_cover_failures_errors_and_output_to_stderr(tmp_path):
    """What the comparison above compares is what a user sees: a failed asset and its exit code, an
    unknown asset, a folder without a project, and an asset's print kept off the JSON document."""
    code, out, err, click = _run(tmp_path / "project", "launch", ["make"])
    assert (code, click) == (1, False) and "failed   c  ValueError: boom" in out, (out, err)
    code, out, err, click = _run(tmp_path / "project", "launch", ["make", "no\033[1mpe"])
    assert (code, click) == (2, False) and "datamake: error: 'nope' is not an asset key" in err and "hint:" in err, err
    code, out, err, click = _run(tmp_path / "project", "launch", ["-C", "../empty", "make"])
    assert code != 0 and not click and "datamake: error:" in err, err
    code, out, err, click = _run(tmp_path / "project", "launch", ["make", "--json", "b"])
    assert (code, click) == (0, False) and "b says hello" in err, err
    assert out.startswith("{") and out.count('"outcome": "built"') == 2, out

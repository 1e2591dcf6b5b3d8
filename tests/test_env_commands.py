"""Environment variables named on the command line of a command an asset starts (``$SCALE`` in a shell
line, ``${SCALE:-1}`` in a ``bash -c`` script) are inputs, recorded as a read of the asset's own code
would be: a different value makes the asset stale and keeps the action cache from restoring the old
value. A variable a command is given by the asset's code (``env=``, or set in ``os.environ`` first) is
not. Each test runs the real command in new processes, changing only the environment between them."""
from __future__ import annotations

import pytest

from datamake.define.commandvars import named
from datamake.storage.store import Store
from tests.test_env_reads import MESSAGE, outcomes, states, status_reasons
from tests.test_execution_soundness import stored_value

COMMANDS = '''
import os
import subprocess
import sys
from datamake import asset


@asset
def system():  # os.system: the shell expands $SCALE
    return os.waitstatus_to_exitcode(os.system("exit $SCALE"))


@asset
def script():  # a list whose script a shell expands: ${SCALE:-1}
    return subprocess.run(["bash", "-c", "echo $(( ${SCALE:-1} * 10 ))"], capture_output=True, text=True).stdout.strip()


@asset
def quiet():  # names no variable (the command still inherits SCALE)
    return subprocess.run([sys.executable, "-c", "print('hi')"], capture_output=True, text=True).stdout.strip()


@asset
def given():  # the code gives SCALE its own value: not an input
    return subprocess.run("echo $SCALE", shell=True, env={**os.environ, "SCALE": "7"},
                          capture_output=True, text=True).stdout.strip()


@asset
def copied():  # a copy of the environment with a change of its own: SCALE comes from the environment
    return subprocess.run("echo $SCALE", shell=True, env={**os.environ, "OTHER": "x"},
                          capture_output=True, text=True).stdout.strip()


@asset
def own():  # set by the asset before the command reads it: its own value
    had = os.environ.copy().get("SCALE")  # (a copy: no read)
    os.environ["SCALE"] = "5"
    try:
        return subprocess.run("echo $SCALE", shell=True, capture_output=True, text=True).stdout.strip()
    finally:  # (the next asset runs in this process: the executor below)
        if had is None:
            del os.environ["SCALE"]
        else:
            os.environ["SCALE"] = had
'''

NAMING = {"system", "script", "copied"}  # the assets whose command reads SCALE from the environment
COMMANDS_KEYS = ("system", "script", "quiet", "given", "copied", "own")
SEQUENTIAL = '[execution]\nexecutor = "inprocess"\n'  # one asset at a time: "own" changes os.environ for a while


def reads(project, key):
    return [name for name, _ in Store(str(project.root / ".datamake")).read_manifests([key])[key].reads]


def test_a_variable_a_command_line_names_makes_the_asset_stale_when_it_changes(project):
    project.pipeline(COMMANDS, SEQUENTIAL)
    assert set(outcomes(project, SCALE="2").values()) == {"built"}
    assert [stored_value(project, k) for k in ("system", "script", "given", "copied")] == [2, "20", "7", "2"]
    assert {k for k in COMMANDS_KEYS if "env:SCALE" in reads(project, k)} == NAMING
    assert reads(project, "quiet") == []
    assert set(states(project, SCALE="2").values()) == {"fresh"}
    assert set(outcomes(project, SCALE="2").values()) == {"skipped"}  # unchanged: nothing rebuilt
    assert states(project, SCALE="3") == {k: "stale" if k in NAMING else "fresh" for k in COMMANDS_KEYS}
    assert status_reasons(project, "system", SCALE="3") == [("source_changed", MESSAGE.format("SCALE"))]
    dry = project.run("make", "-n", env={"SCALE": "3"})
    assert MESSAGE.format("SCALE") in dry.stdout + dry.stderr
    assert outcomes(project, SCALE="3") == {k: "built" if k in NAMING else "skipped" for k in COMMANDS_KEYS}
    assert [stored_value(project, k) for k in ("system", "script", "copied")] == [3, "30", "3"]
    assert set(states(project, SCALE="3").values()) == {"fresh"}


def test_a_variable_unset_at_the_build_and_set_now_makes_the_asset_stale_quietly(project):
    project.pipeline(COMMANDS, SEQUENTIAL)
    assert outcomes(project)["script"] == "built"  # SCALE unset: recorded as missing
    assert stored_value(project, "script") == "10"
    assert states(project)["script"] == "fresh"
    assert status_reasons(project, "script", SCALE="s3cr3t-v4lue") == [("source_changed", MESSAGE.format("SCALE"))]
    proc = project.run("make", env={"SCALE": "4"})
    assert proc.returncode == 0, proc.stderr
    assert "env:" not in proc.stderr and "SCALE" not in proc.stderr  # versioned quietly, as a read in Python
    assert stored_value(project, "script") == "40"


def test_the_action_cache_does_not_restore_a_value_built_with_another_value_of_the_variable(project):
    project.pipeline(COMMANDS, SEQUENTIAL)
    assert outcomes(project, SCALE="2")["system"] == "built"
    assert outcomes(project, SCALE="3")["system"] == "built"  # same code, same inputs: only SCALE differs
    assert stored_value(project, "system") == 3
    assert outcomes(project, SCALE="2")["system"] in ("built", "cached")  # (cached: the value built with 2)
    assert stored_value(project, "system") == 2


CHILD = '''
import multiprocessing
import os
from datamake import asset


def run(_):
    return os.popen("echo $SCALE").read().strip()


@asset
def child():  # the command is started by a child process
    with multiprocessing.get_context("{method}").Pool(1) as pool:
        return pool.map(run, [0])[0]
'''


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_command_a_child_process_starts_counts_for_the_asset(project, method):
    project.pipeline(CHILD.format(method=method))
    assert outcomes(project, SCALE="2") == {"child": "built"}
    assert stored_value(project, "child") == "2"
    assert reads(project, "child") == ["env:SCALE"]
    assert states(project, SCALE="2") == {"child": "fresh"}
    assert status_reasons(project, "child", SCALE="3") == [("source_changed", MESSAGE.format("SCALE"))]


def test_a_command_asset_is_stale_when_a_variable_its_command_names_changes(project):
    project.pipeline('from datamake import command_asset\n\n'
                     'greet = command_asset("echo ${GREETING:-hello} > out.txt", outputs=["out.txt"])\n')
    assert outcomes(project, GREETING="hi") == {"out": "built"}
    assert (project.root / "out.txt").read_text() == "hi\n"
    assert states(project, GREETING="hi") == {"out": "fresh"}
    assert states(project, GREETING="bye") == {"out": "stale"}
    assert outcomes(project, GREETING="bye") == {"out": "built"}
    assert (project.root / "out.txt").read_text() == "bye\n"


@pytest.mark.parametrize("line, names", [
    ("tool --scale $SCALE --out ${OUT}/x ${MODE:-fast} ${#LEN} ${!REF}", ["SCALE", "OUT", "MODE", "LEN", "REF"]),
    ("sh -c 'echo $QUOTED' && echo \\$ESCAPED $(printf $INNER)", ["QUOTED", "ESCAPED", "INNER"]),
    ("echo $(( (ROWS + 1) * $COLS )) $((N))", ["COLS", "ROWS", "N"]),
    ("cat ~/data.csv", ["HOME"]),
    ("echo $$ $1 $@ $* $# $? $! $- $0 HEAD~1 ~user price=5$", []),
])
def test_what_a_command_line_names(line, names):
    assert sorted(named(["/bin/sh", "-c", line])) == sorted(names)

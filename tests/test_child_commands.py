"""A command started by a process the asset started (``multiprocessing.Process``, a process pool made in
the asset or at import, a thread of such a process): the files its command line names (the script it
runs, the data it is given) are inputs of the asset, as they are for a command the asset starts itself."""
from __future__ import annotations

import json
import textwrap

import pytest

from tests.test_execution_soundness import stored_value

HELPERS = '''
    import multiprocessing, os, subprocess, sys, threading


    def context(method):
        """A start method's context."""
        return multiprocessing.get_context(method)


    def transform(_=None):
        """Runs transform.py on input.csv in this process's folder."""
        data = ".".join(("input", "csv"))  # (a name no string of the code holds: only the command line names it)
        out = subprocess.run([sys.executable, "transform.py", data], capture_output=True, text=True, check=True)
        return out.stdout.strip()


    def into(queue):
        queue.put(transform())


    def in_a_thread(queue):
        thread = threading.Thread(target=into, args=(queue,))
        thread.start()
        thread.join()
'''

PROCESS = '''
    started = context("{method}")
    queue = started.Queue()
    process = started.Process(target={target}, args=(queue,))
    process.start()
    value = queue.get()
    process.join()
    return value
'''
EXECUTOR = '''
    with ProcessPoolExecutor(1, mp_context=context("{method}")) as pool:
        return pool.submit(transform).result()
'''
AT_IMPORT = "return POOL.submit(transform).result()"
STARTS = {
    "process_fork": PROCESS.format(method="fork", target="into"),
    "process_spawn": PROCESS.format(method="spawn", target="into"),
    "process_forkserver": PROCESS.format(method="forkserver", target="into"),
    "thread_of_a_forked_process": PROCESS.format(method="fork", target="in_a_thread"),
    "executor_fork": EXECUTOR.format(method="fork"),
    "executor_spawn": EXECUTOR.format(method="spawn"),
    "executor_at_import_fork": AT_IMPORT,
    "executor_at_import_spawn": AT_IMPORT,
}


def _pipeline(project, kind: str, script: str = "print(open(sys.argv[1]).read().strip())") -> None:
    project.write("helpers.py", HELPERS)
    project.write("transform.py", f"import sys\n{script}\n")
    project.write("input.csv", "1")
    method = "spawn" if kind.endswith("spawn") else "fork"
    project.pipeline(f'''
import os
from concurrent.futures import ProcessPoolExecutor
from datamake import asset
from helpers import context, in_a_thread, into, transform

if {kind.startswith("executor_at_import")!r}:
    POOL = ProcessPoolExecutor(1, mp_context=context("{method}"))
    POOL.submit(os.getpid).result()  # warmed at import: its worker runs before any asset does


@asset
def transformed():
{_body(STARTS[kind])}
''')


def _body(text: str) -> str:
    """Lines of code as the body of a function defined at the top of a module."""
    return textwrap.indent(textwrap.dedent(text).strip(), "    ")


def _warnings(stderr: str) -> list:
    return [line for line in stderr.splitlines() if "warning" in line]


@pytest.mark.parametrize("kind", sorted(STARTS))
def test_the_files_named_by_a_command_a_child_process_starts_are_inputs(project, kind):
    _pipeline(project, kind)
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    warned = _warnings(proc.stderr)
    assert len(warned) == 2, proc.stderr  # nothing but the two files: no process or pool warning
    assert "asset 'transformed' read transform.py" in warned[0] + warned[1], proc.stderr
    assert "asset 'transformed' read input.csv" in warned[0] + warned[1], proc.stderr
    again = project.run("make", "--json")  # unchanged: fresh, and nothing to warn about
    assert again.returncode == 0 and not _warnings(again.stderr), again.stderr
    assert {a["key"]: a["outcome"] for a in json.loads(again.stdout)["assets"]} == {"transformed": "skipped"}
    project.write("input.csv", "2")  # the data file named on the child's command line
    assert project.states() == {"transformed": "stale"}
    assert project.outcomes() == {"transformed": "built"}
    assert stored_value(project, "transformed") == "2"
    project.write("transform.py", "import sys\nprint(open(sys.argv[1]).read().strip() * 3)\n")  # the script
    assert project.states() == {"transformed": "stale"}
    assert project.outcomes() == {"transformed": "built"}
    assert stored_value(project, "transformed") == "222"
    assert project.states() == {"transformed": "fresh"}


def test_paths_relative_to_the_folder_a_child_runs_in_are_its_folder_s(project):
    """A forked child that moved to another folder names ``input.csv`` and ``transform.py`` there."""
    project.write("stage/input.csv", "5")
    project.write("stage/transform.py", "import sys\nprint(open(sys.argv[1]).read().strip())\n")
    project.write("helpers.py", HELPERS + '''
    def staged(queue):
        os.chdir("stage")
        into(queue)
    ''')
    project.pipeline('''
from datamake import asset
from helpers import context, staged

@asset
def transformed():
''' + _body(PROCESS.format(method="fork", target="staged")))
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert "read stage/input.csv" in proc.stderr and "read stage/transform.py" in proc.stderr, proc.stderr
    assert stored_value(project, "transformed") == "5"
    assert project.states() == {"transformed": "fresh"}
    project.write("stage/input.csv", "6")
    assert project.states() == {"transformed": "stale"}


def test_a_folder_a_child_s_command_names_counts_as_every_file_in_it(project):
    _pipeline(project, "process_spawn",
              "import os\nprint(sum(int(open(os.path.join(sys.argv[1], n)).read()) for n in os.listdir(sys.argv[1])))")
    project.write("helpers.py", HELPERS.replace('".".join(("input", "csv"))', '"parts"'))
    project.write("parts/a.txt", "1")
    project.write("parts/b.txt", "2")
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert stored_value(project, "transformed") == "3"
    assert project.outcomes() == {"transformed": "skipped"}
    project.write("parts/b.txt", "5")
    assert project.states() == {"transformed": "stale"}
    assert project.outcomes() == {"transformed": "built"}
    assert stored_value(project, "transformed") == "6"


WRITTEN = {  # what the child's command line names, what is there before, the file the asset reads back
    "rewritten": ("result.txt", "stale bytes of an earlier run", "result.txt"),
    "made": ("result.txt", None, "result.txt"),
    "made_in_a_folder_it_makes": ("out", None, "out/result.txt"),
}


@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.parametrize("case", sorted(WRITTEN))
def test_a_file_a_child_s_command_writes_and_the_asset_reads_back_is_not_an_input(project, method, case):
    """The child's command writes a file (over one left by an earlier run, where none was, in a folder
    it makes); the asset reads it once the child is done: its own file, not an input."""
    named, earlier, read_back = WRITTEN[case]
    project.write("helpers.py", HELPERS + f'''
    def write_result(queue):
        subprocess.run([sys.executable, "transform.py", "input.csv", {named!r}], check=True)
        queue.put(None)
    ''')
    project.write("transform.py", "import os, sys\n"
                  "target = sys.argv[2] if sys.argv[2].endswith('.txt') else os.path.join(sys.argv[2], 'result.txt')\n"
                  "os.makedirs(os.path.dirname(target) or '.', exist_ok=True)\n"
                  "open(target, 'w').write(open(sys.argv[1]).read())\n")
    project.write("input.csv", "1")
    if earlier is not None:
        project.write(read_back, earlier)
    project.pipeline('''
from datamake import asset
from helpers import context, write_result

@asset
def transformed():
''' + _body(PROCESS.format(method=method, target="write_result"))
                     .replace("return value", f"return open({read_back!r}).read()"))
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert "result.txt" not in proc.stderr, proc.stderr
    assert stored_value(project, "transformed") == "1"
    again = project.run("make", "--json")  # unchanged: fresh, and nothing to warn about
    assert again.returncode == 0 and not _warnings(again.stderr), again.stderr
    assert {a["key"]: a["outcome"] for a in json.loads(again.stdout)["assets"]} == {"transformed": "skipped"}
    project.write("input.csv", "2")
    assert project.outcomes() == {"transformed": "built"}
    assert stored_value(project, "transformed") == "2"
    assert project.outcomes() == {"transformed": "skipped"}

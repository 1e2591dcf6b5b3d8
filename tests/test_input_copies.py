"""File and folder values reach each consumer as a private copy, removed when the consumer ends.

A consumer (an asset, a check re-run on a stored value, an op) may write to the path it is
handed; nothing it does reaches the store, and no copy is left behind in the temporary folder
after the run: a project built every few minutes would otherwise fill the disk.
"""
from __future__ import annotations

import os

import pytest

from tests.test_execution_soundness import stored_value

FOLDER_AND_READER = '''
    import os
    from datamake import asset

    @asset
    def parts(context):
        os.makedirs(context.output_path)
        for name in ("a", "b"):
            with open(os.path.join(context.output_path, name + ".txt"), "w") as f:
                f.write(name)
        {returns}

    @asset
    def report(context):
        with open(context.output_path, "w") as f:
            f.write("report")

    @asset
    def joined(parts, report):
        text = "".join(open(os.path.join(parts, n)).read() for n in sorted(os.listdir(parts)))
        return text + "+" + open(report).read()
'''


def private_tmp(project):
    """A temporary folder of the run's own (``TMPDIR``), so that other tests' copies do not count."""
    tmp = project.root.parent / (project.root.name + "-tmp")
    tmp.mkdir(exist_ok=True)
    return tmp


def left_in(tmp) -> list:
    return sorted(os.listdir(tmp))


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_no_copy_of_a_file_or_folder_input_is_left_after_the_run(project, executor):
    project.pipeline(FOLDER_AND_READER.replace("{returns}", "return None"))
    tmp = private_tmp(project)
    proc = project.run("make", "--executor", executor, env={"TMPDIR": str(tmp)})
    assert proc.returncode == 0, proc.stderr
    assert stored_value(project, "joined") == "ab+report"
    assert left_in(tmp) == []
    proc = project.run("make", "--force", "joined", "--executor", executor, env={"TMPDIR": str(tmp)})
    assert proc.returncode == 0, proc.stderr
    assert left_in(tmp) == []


def test_returning_context_output_path_stores_what_was_written_there(project):
    """``return context.output_path`` after writing it is the same as returning None: the folder is
    the value, not the string of a temporary path that is gone once the asset ends."""
    project.pipeline(FOLDER_AND_READER.replace("{returns}", "return context.output_path"))
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert stored_value(project, "joined") == "ab+report"
    assert project.json("status")["assets"][0]["state"] == "fresh"


def test_returning_context_output_path_with_nothing_written_there_fails_saying_so(project):
    project.pipeline('''
        from datamake import asset

        @asset
        def model(context):
            return context.output_path
    ''')
    proc = project.run("make")
    assert proc.returncode == 1
    assert "returned" in proc.stdout + proc.stderr and "wrote nothing there" in proc.stdout + proc.stderr
    assert project.states()["model"] != "fresh"


def test_a_check_run_again_on_a_stored_folder_leaves_no_copy(project):
    project.pipeline(FOLDER_AND_READER.replace("{returns}", "return None"))
    tmp = private_tmp(project)
    assert project.run("make", env={"TMPDIR": str(tmp)}).returncode == 0
    with open(project.root / "pipeline.py", "a") as f:  # a new check: make runs it on the kept value
        f.write("\nfrom datamake import asset_check\n\n"
                "@asset_check(asset=parts)\n"
                "def two_parts(parts):\n"
                "    return sorted(os.listdir(parts)) == ['a.txt', 'b.txt']\n")
    proc = project.run("make", env={"TMPDIR": str(tmp)})
    assert proc.returncode == 0, proc.stderr
    assert "two_parts passed" in proc.stdout + proc.stderr
    assert left_in(tmp) == []


def test_a_file_read_that_became_a_folder_makes_its_reader_stale_without_a_crash(project):
    """``x.txt`` read at build time is a folder now: status says stale, and make rebuilds."""
    project.pipeline('''
        from datamake import asset

        @asset
        def text():
            try:
                with open("x.txt") as f:
                    return f.read()
            except OSError:
                return "no file"
    ''')
    project.write("x.txt", "hello")
    assert project.run("make").returncode == 0
    (project.root / "x.txt").unlink()
    (project.root / "x.txt").mkdir()
    proc = project.run("status")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert project.states() == {"text": "stale"}
    assert project.run("make").returncode == 0
    assert stored_value(project, "text") == "no file"

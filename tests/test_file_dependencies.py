"""Assets chained through a project file (one writes ``out/w.txt``, another reads it) without declaring the
dependency: ``make`` never reports the reader up to date with a value built from the file's old bytes."""
from __future__ import annotations

import json

import pytest

WRITER = '''
    @asset
    def {writer}():
        text = open("data/a.csv").read()
        os.makedirs("out", exist_ok=True)
        with open("out/w.txt", "w") as f:
            f.write(text.upper())
        return len(text)
'''
READER = '''
    @asset
    def {reader}():
        return open("out/w.txt").read()
'''


def _chain(project, writer: str, reader: str) -> None:
    """A writer and a reader, defined in that order (datamake runs assets without dependencies in key order)."""
    project.write("data/a.csv", "x,1\n")
    project.pipeline("\n    import os\n    from datamake import asset\n" + WRITER.format(writer=writer)
                     + READER.format(reader=reader))
    project.write("out/w.txt", "X,1\n")  # as the writer would make it: the reader may run first
    project.run("make", check=True)


def _make(project):
    proc = project.run("make", "--json")
    return proc, {a["key"]: a for a in json.loads(proc.stdout)["assets"]}


def _value(project, key: str) -> str:
    return project.run("show", key, check=True).stdout


@pytest.mark.parametrize("writer, reader", [("a_writer", "b_reader"),  # the reader waits in the ready queue
                                            ("z_writer", "b_reader")])  # the reader was kept before the writer ran
def test_a_reader_of_a_file_rewritten_in_the_run_is_rebuilt_after_the_writer(project, writer, reader):
    _chain(project, writer, reader)
    project.write("data/a.csv", "y,2\n")
    proc, outcomes = _make(project)
    assert proc.returncode == 0, proc.stderr
    assert outcomes[writer]["outcome"] == "built"
    assert outcomes[reader]["outcome"] == "built", proc.stderr
    assert "Y,2" in _value(project, reader)
    status = json.loads(project.run("status", "--json", check=True).stdout)
    assert all(a["state"] == "fresh" for a in status["assets"]), status


def test_a_reader_rebuilt_after_the_writer_says_why(project):
    _chain(project, "z_writer", "b_reader")
    project.write("data/a.csv", "y,2\n")
    proc = project.run("make")
    assert "out/w.txt" in proc.stderr and "z_writer" in proc.stderr, proc.stderr


def test_the_undeclared_read_warning_names_the_asset_that_writes_the_file(project):
    _chain(project, "a_writer", "b_reader")
    project.write("data/a.csv", "y,2\n")
    proc = project.run("make", "-B")
    warning = proc.stderr.split("out/w.txt, which is not a declared source", 1)[1].split("\nwarning:")[0]
    assert "written by asset 'a_writer'" in warning and 'deps=["a_writer"]' in warning, proc.stderr


def test_a_dependent_of_the_reader_waits_for_it_to_run_again(project):
    _chain(project, "z_writer", "b_reader")
    project.write("pipeline.py", (project.root / "pipeline.py").read_text() + '''
@asset
def c_user(b_reader):
    return "used " + b_reader
''')
    project.run("make", check=True)
    project.write("data/a.csv", "y,2\n")
    proc, outcomes = _make(project)
    assert proc.returncode == 0, proc.stderr
    assert outcomes["b_reader"]["outcome"] == outcomes["c_user"]["outcome"] == "built", proc.stdout
    assert "used Y,2" in _value(project, "c_user")


def test_a_reader_running_while_the_file_is_rewritten_runs_again(project):
    # (threads of one process: the reader reads the old bytes, then the writer rewrites them while it runs)
    project.write("data/a.csv", "x,1\n")
    project.write("out/w.txt", "X,1\n")
    project.write("sync.py", '''
        import threading
        READ, WRITTEN = threading.Event(), threading.Event()
    ''')
    project.pipeline('''
        import sync
        from datamake import asset

        @asset
        def b_reader():
            text = open("out/w.txt").read()
            sync.READ.set()
            sync.WRITTEN.wait(20)
            return text

        @asset
        def z_writer():
            text = open("data/a.csv").read()
            sync.READ.wait(20)  # (rewrites the file while the reader runs)
            with open("out/w.txt", "w") as f:
                f.write(text.upper())
            sync.WRITTEN.set()
            return len(text)
    ''', toml_extra="[execution]\njobs = 2\nexecutor = \"thread\"\n")
    proc = project.run("make", "-B")
    assert proc.returncode == 0, proc.stderr
    assert "X,1" in _value(project, "b_reader")
    project.write("data/a.csv", "y,2\n")
    proc = project.run("make", "-B")
    assert proc.returncode == 0, proc.stderr
    assert "Y,2" in _value(project, "b_reader"), proc.stderr
    status = json.loads(project.run("status", "--json", check=True).stdout)
    assert all(a["state"] == "fresh" for a in status["assets"]), status


def test_assets_that_rewrite_each_others_inputs_stop_and_say_so(project):
    project.write("out/one.txt", "0")
    project.write("out/two.txt", "0")
    project.pipeline('''
        from datamake import asset

        def bump(read, write):
            n = int(open(read).read()) + 1
            with open(write, "w") as f:
                f.write(str(n))
            return n

        @asset
        def one():
            return bump("out/two.txt", "out/one.txt")

        @asset
        def two():
            return bump("out/one.txt", "out/two.txt")
    ''')
    proc, outcomes = _make(project)
    assert proc.returncode == 1, proc.stderr
    failed = [a for a in outcomes.values() if a["outcome"] == "failed"]
    assert failed and "was rewritten by" in failed[0]["error"] and "run make again" in failed[0]["error"], outcomes

"""Never fresh with a value built from older data, and no rebuild for what an asset only wrote: more
shapes of data-team code, each built with the real ``datamake`` command, then changed once.

Each test builds a small project, changes one file (or none), and checks what ``status`` says and what
``make`` does against what a full rebuild would give.
"""
from __future__ import annotations

import os

import pytest

from tests.test_execution_soundness import stored_value
from tests.test_soundness_probes_data import stale_because


@pytest.fixture
def project(inprocess_project):
    return inprocess_project


@pytest.mark.parametrize("mode", ["r+", "a+"])
def test_a_file_an_asset_updates_in_place_is_its_own_and_not_rebuilt_for(project, mode):
    # a counter read and rewritten through one "r+" handle, a log appended to through "a+": what the asset
    # wrote there is its own, not an input, as when it reads the file and then writes it with "w"
    project.pipeline(f'''
        import os
        from datamake import asset

        @asset
        def runs():
            with open(os.path.join(os.path.dirname(__file__), "counter.txt"), "{mode}") as f:
                f.seek(0)
                seen = f.read()
                f.write("x")
            return 1
    ''')
    project.write("counter.txt", "x")
    assert project.outcomes() == {"runs": "built"}
    assert project.states() == {"runs": "fresh"}
    assert project.outcomes() == {"runs": "skipped"}


def test_a_file_an_asset_opened_to_update_and_left_as_it_was_is_an_input(project):
    project.pipeline('''
        import os
        from datamake import asset

        @asset
        def settings():
            with open(os.path.join(os.path.dirname(__file__), "settings.txt"), "r+") as f:
                return f.read()
    ''')
    project.write("settings.txt", "1")
    assert project.outcomes() == {"settings": "built"}
    project.write("settings.txt", "2")
    assert stale_because(project, "settings") == [
        "file settings.txt, which it read without declaring it, changed since it was built"]
    assert project.outcomes() == {"settings": "built"}
    assert stored_value(project, "settings") == "2"


def write_at(project, relpath: str, text: str, mtime: float) -> None:
    project.write(relpath, text)
    os.utime(project.root / relpath, (mtime, mtime))


# how data code asks for a file's modification time, to pick the newest export of a folder
NEWEST = {
    "os.path.getmtime": "max(glob.glob(os.path.join(INBOX, '*.csv')), key=os.path.getmtime)",
    "Path.stat": "max(Path(INBOX).glob('*.csv'), key=lambda p: p.stat().st_mtime)",
    "os.stat": "max((os.path.join(INBOX, n) for n in os.listdir(INBOX)), key=lambda p: os.stat(p).st_mtime)",
}


@pytest.mark.parametrize("ask", sorted(NEWEST))
def test_a_file_an_asset_asked_the_modification_time_of_is_an_input(project, ask):
    # the asset reads the newest export only: an older one exported again (new bytes, newest now) changes
    # which file it reads, though the names in the folder and the bytes of the file it read stay the same
    project.pipeline(f'''
        import glob
        import os
        from pathlib import Path
        from datamake import asset

        INBOX = os.path.join(os.path.dirname(__file__), "inbox")

        @asset
        def latest():
            with open({NEWEST[ask]}) as f:
                return f.read()
    ''')
    write_at(project, "inbox/a.csv", "a", 1_700_000_000)
    write_at(project, "inbox/b.csv", "b", 1_700_000_100)
    assert project.outcomes() == {"latest": "built"}
    assert stored_value(project, "latest") == "b"
    write_at(project, "inbox/a.csv", "a again", 1_700_000_200)
    assert stale_because(project, "latest") == [
        "file inbox/a.csv, which it read without declaring it, changed since it was built"]
    assert project.outcomes() == {"latest": "built"}
    assert stored_value(project, "latest") == "a again"


def test_a_file_an_asset_asked_the_size_of_is_an_input(project):
    project.pipeline('''
        import os
        from datamake import asset

        INBOX = os.path.join(os.path.dirname(__file__), "inbox")

        @asset
        def not_empty():
            return sorted(n for n in os.listdir(INBOX) if os.path.getsize(os.path.join(INBOX, n)))
    ''')
    project.write("inbox/a.csv", "a")
    project.write("inbox/b.csv", "")
    assert project.outcomes() == {"not_empty": "built"}
    project.write("inbox/b.csv", "b")
    assert stale_because(project, "not_empty") == [
        "file inbox/b.csv, which it read without declaring it, changed since it was built"]
    assert project.outcomes() == {"not_empty": "built"}
    assert stored_value(project, "not_empty") == ["a.csv", "b.csv"]



def test_the_files_a_glob_pattern_of_a_shell_line_matches_are_inputs(project):
    # the shell expands data/*.csv: a file it matched edited, or one added that it now matches, changes
    # what the command reads; a file it does not match, in a folder the pattern does not list, does not
    project.pipeline('''
        import os
        import subprocess
        from datamake import asset

        @asset
        def joined():
            return subprocess.run("cat data/*.csv", shell=True, cwd=os.path.dirname(__file__),
                                  capture_output=True, text=True, check=True).stdout
    ''')
    project.write("data/a.csv", "a\n")
    project.write("notes/n.csv", "n\n")
    assert project.outcomes() == {"joined": "built"}
    project.write("notes/n.csv", "m\n")
    assert project.states() == {"joined": "fresh"}
    project.write("data/a.csv", "A\n")
    assert stale_because(project, "joined") == [
        "file data/a.csv, which it read without declaring it, changed since it was built"]
    assert project.outcomes() == {"joined": "built"}
    project.write("data/b.csv", "b\n")
    assert stale_because(project, "joined") == [
        "folder data/, which it listed without declaring it, gained or lost files since it was built"]
    assert project.outcomes() == {"joined": "built"}
    assert stored_value(project, "joined") == "A\nb\n"


def test_a_file_named_in_code_a_command_hands_an_interpreter_is_an_input(project):
    project.pipeline('''
        import os
        import subprocess
        import sys
        from datamake import asset

        @asset
        def total():
            code = "import pandas as pd; print(int(pd.read_csv('data/a.csv')['x'].sum()))"
            return subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(__file__),
                                  capture_output=True, text=True, check=True).stdout.strip()
    ''')
    project.write("data/a.csv", "x\n1\n")
    assert project.outcomes() == {"total": "built"}
    project.write("data/a.csv", "x\n1\n2\n")
    assert stale_because(project, "total") == [
        "file data/a.csv, which it read without declaring it, changed since it was built"]
    assert project.outcomes() == {"total": "built"}
    assert stored_value(project, "total") == "3"


@pytest.mark.parametrize("move", ["os.replace(tmp, path)", "Path(tmp).rename(path)"])
def test_a_state_file_an_asset_replaces_atomically_is_its_own_and_not_rebuilt_for(project, move):
    # read, then a new version written to a temporary file and moved over it: as a file written in place
    project.pipeline(f'''
        import json
        import os
        import tempfile
        from pathlib import Path
        from datamake import asset

        HERE = os.path.dirname(__file__)

        @asset
        def runs():
            path = os.path.join(HERE, "state.json")
            with open(path) as f:
                state = json.load(f)
            fd, tmp = tempfile.mkstemp(dir=HERE)
            with os.fdopen(fd, "w") as f:
                json.dump({{"runs": state["runs"] + 1}}, f)
            {move}
            return 1
    ''')
    project.write("state.json", '{"runs": 0}')
    assert project.outcomes() == {"runs": "built"}
    assert project.states() == {"runs": "fresh"}
    assert project.outcomes() == {"runs": "skipped"}


def test_what_a_forked_worker_checks_for_or_asks_the_size_of_is_an_input(project):
    project.pipeline('''
        import multiprocessing
        import os
        from datamake import asset

        INBOX = os.path.join(os.path.dirname(__file__), "inbox")

        def size(name):
            path = os.path.join(INBOX, name)
            return os.path.getsize(path) if os.path.exists(path) else None

        @asset
        def sizes():
            with multiprocessing.get_context("fork").Pool(1) as pool:
                return pool.map(size, ["a.csv", "b.csv"])
    ''')
    project.write("inbox/a.csv", "a")
    assert project.outcomes() == {"sizes": "built"}
    assert stored_value(project, "sizes") == [1, None]
    project.write("inbox/a.csv", "aa")
    assert stale_because(project, "sizes") == [
        "file inbox/a.csv, which it read without declaring it, changed since it was built"]
    assert project.outcomes() == {"sizes": "built"}
    project.write("inbox/b.csv", "b")
    assert stale_because(project, "sizes") == [
        "file inbox/b.csv, which it read without declaring it, changed since it was built"]
    assert project.outcomes() == {"sizes": "built"}
    assert stored_value(project, "sizes") == [2, 1]
    assert project.outcomes() == {"sizes": "skipped"}


def test_a_file_a_module_imported_in_the_assets_read_at_import_counts_for_each_of_them(project):
    # the first asset to run imports lookup.py, which reads lookup.json; the second gets the module as it
    # is, opening nothing, yet its value comes from that file all the same
    project.pipeline('''
        from datamake import asset

        @asset
        def first():
            import lookup
            return lookup.TABLE["k"]

        @asset
        def second():
            import lookup
            return lookup.TABLE["k"] + 1
    ''')
    project.write("lookup.py", '''
        import json
        import os

        with open(os.path.join(os.path.dirname(__file__), "lookup.json")) as f:
            TABLE = json.load(f)
    ''')
    project.write("lookup.json", '{"k": 1}')
    assert project.outcomes() == {"first": "built", "second": "built"}
    project.write("lookup.json", '{"k": 5}')
    reason = "file lookup.json, which it read without declaring it, changed since it was built"
    assert stale_because(project, "first") == [reason]
    assert stale_because(project, "second") == [reason]
    assert project.outcomes() == {"first": "built", "second": "built"}
    assert stored_value(project, "second") == 6


def test_a_file_a_module_read_at_import_counts_for_an_asset_that_waited_for_the_import_and_ended_first(
        project, gate):
    # -j 2: 'slow' imports lookup (which reads lookup.json); 'quick' gets the module once imported and
    # ends while 'slow' still runs, before 'slow' records what it read
    import threading

    from datamake.storage.store import Store
    from tests.polling import wait_for

    project.pipeline(gate.code('''
from datamake import asset


@asset
def slow():
    import lookup
    wait_at_gate(GATE_PORT, "slow")
    return lookup.TABLE["k"]


@asset
def quick():
    wait_at_gate(GATE_PORT, "quick")
    import lookup
    return lookup.TABLE["k"] + 1
'''))
    project.write("lookup.py", '''
        import json
        import os

        with open(os.path.join(os.path.dirname(__file__), "lookup.json")) as f:
            TABLE = json.load(f)
    ''')
    project.write("lookup.json", '{"k": 1}')

    def conduct():
        gate.arrived("slow")  # (lookup is imported)
        gate.release("quick")
        store = Store(str(project.root / ".datamake"))
        wait_for(lambda: store.read_manifests(["quick"])["quick"], what="quick's manifest")
        gate.release("slow")

    conductor = threading.Thread(target=conduct, daemon=True)
    conductor.start()
    assert project.outcomes("-j", "2") == {"slow": "built", "quick": "built"}
    conductor.join()
    project.write("lookup.json", '{"k": 5}')
    assert stale_because(project, "quick") == [
        "file lookup.json, which it read without declaring it, changed since it was built"]

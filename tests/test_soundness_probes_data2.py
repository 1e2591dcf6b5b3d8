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

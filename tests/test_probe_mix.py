"""Today's soundness fixes where they meet each other: import-time settings, remote caches, checks."""
from __future__ import annotations

import json
import random

import pytest

from tests.conftest import InProcessProjectDir


@pytest.fixture
def project(inprocess_project: InProcessProjectDir) -> InProcessProjectDir:
    return inprocess_project


def _build_drawing_with(project) -> None:
    """Build ``draw``, which returns ``random.random()`` in a project whose definitions import ``settings``
    (already written), and see it fresh."""
    project.pipeline('''
        import random

        import settings
        from datamake import asset

        @asset
        def draw():
            return random.random()
    ''')
    assert project.outcomes() == {"draw": "built"}
    assert project.states() == {"draw": "fresh"}


@pytest.mark.parametrize("settings, old, new", [
    ("import random\n\nSEED = 1\nrandom.seed(SEED)\n", "SEED = 1", "SEED = 2"),
    ("import random\n\ndef configure():\n    random.seed(1)\n\nconfigure()\n", "seed(1)", "seed(2)"),
], ids=["constant", "function"])
def test_an_import_time_setting_made_through_the_module_own_names_counts(project, settings, old, new):
    """``random.seed(SEED)`` with ``SEED = 1`` above it, or ``configure()`` whose body seeds: editing the
    constant or the function's body changes what every asset draws, so the asset is stale and
    rebuilds to a first build's value."""
    project.write("settings.py", settings)
    _build_drawing_with(project)
    project.write("settings.py", settings.replace(old, new))
    status = project.json("status")["assets"]
    assert status[0]["state"] == "stale", status
    assert project.outcomes() == {"draw": "built"}
    assert project.run("show", "draw", check=True).stdout.strip() == repr(random.Random(2).random())


def test_a_teammate_newer_action_cache_entry_is_ignored_with_one_clear_warning(tmp_path):
    """An action-cache entry on the remote that a newer datamake wrote is not restored: the asset is
    built, and the warning says once that a newer datamake wrote it and what to do."""
    from tests.conftest import teammates

    remote, (a, b) = teammates(tmp_path, '''
        from datamake import asset

        @asset
        def total():
            return 41 + 1
    ''', kind=InProcessProjectDir)
    assert a.outcomes() == {"total": "built"}
    entries = list((remote / "actions").rglob("*.json"))
    assert entries
    for entry in entries + list((remote / "manifests").rglob("*.json")):
        data = json.loads(entry.read_text())
        entry.write_text(json.dumps(dict(data, format=99)))
    proc = b.run("make", check=True)
    assert proc.stdout.split()[0] == "built", proc.stdout
    said = [line for line in proc.stderr.splitlines() if "action-cache entry" in line]
    assert said and all(line.count("newer datamake") == 1 and "upgrade datamake" in line for line in said), said


def test_an_import_time_setting_in_the_package_of_the_definitions_counts(project):
    """``definitions = "pkg.defs"``: importing it runs ``pkg/__init__.py`` first, so a seed set there is
    counted like one the definitions set, from the project folder, a subfolder or ``-C``."""
    project.write("pkg/__init__.py", "import random\nrandom.seed(1)\n")
    project.write("pkg/defs.py", '''
        import random

        from datamake import asset

        @asset
        def draw():
            return random.random()
    ''')
    project.write("datamake.toml", '[project]\ndefinitions = "pkg.defs"\n')
    (project.root / "sub").mkdir()
    assert project.outcomes() == {"draw": "built"}
    project.write("pkg/__init__.py", "import random\nrandom.seed(2)\n")
    for where in ([], ["-C", str(project.root)]):
        status = json.loads(project.run(*where, "status", "--json", check=True, cwd=project.root / "sub").stdout)
        assert [a["state"] for a in status["assets"]] == ["stale"], status
    assert project.outcomes() == {"draw": "built"}
    assert project.run("show", "draw", check=True).stdout.strip() == repr(random.Random(2).random())


def test_a_library_setting_stored_through_an_alias_counts(project):
    """``opts = pd.options.display`` then ``opts.precision = 2`` at import: editing the store changes
    how every frame prints, as ``pd.options.display.precision = 2`` does."""
    pytest.importorskip("pandas")
    project.write("settings.py", "import pandas as pd\n\nopts = pd.options.display\nopts.precision = 2\n")
    project.pipeline('''
        import pandas as pd

        import settings
        from datamake import asset

        @asset
        def shown():
            return repr(pd.DataFrame({"x": [1.123456]}))
    ''')
    assert project.outcomes() == {"shown": "built"}
    project.write("settings.py", "import pandas as pd\n\nopts = pd.options.display\nopts.precision = 4\n")
    assert project.states() == {"shown": "stale"}
    assert project.outcomes() == {"shown": "built"}
    assert "1.1235" in project.run("show", "shown", check=True).stdout


def test_an_import_time_setting_made_by_a_function_of_another_module_counts(project):
    """``from conf import configure`` then ``configure()`` at import: editing the function's body in
    ``conf.py`` changes what every asset draws; a comment in it changes nothing."""
    project.write("conf.py", "import random\n\ndef configure():\n    random.seed(1)\n")
    project.write("settings.py", "from conf import configure\n\nconfigure()\n")
    project.pipeline('''
        import random

        import settings
        from datamake import asset

        @asset
        def draw():
            return random.random()
    ''')
    assert project.outcomes() == {"draw": "built"}
    project.write("conf.py", "import random\n\ndef configure():\n    random.seed(1)  # the seed\n")
    assert project.states() == {"draw": "fresh"}
    project.write("conf.py", "import random\n\ndef configure():\n    random.seed(2)\n")
    status = project.json("status")["assets"]
    assert status[0]["state"] == "stale" and "conf.configure" in status[0]["reasons"][0]["message"], status
    assert project.outcomes() == {"draw": "built"}
    assert project.run("show", "draw", check=True).stdout.strip() == repr(random.Random(2).random())


def test_an_import_time_setting_made_from_a_file_or_a_variable_counts_what_it_read(process_project):
    """``random.seed(int(open("seed.txt").read()))`` or ``random.seed(int(os.environ["SEED"]))`` at import:
    editing the file, or setting the variable to another value, changes what every asset draws, so the
    asset is stale (the reason names the file or the variable) and rebuilds to a first build's value."""
    project = process_project
    project.write("seed.txt", "1\n")
    project.write("settings.py", "import os\nimport random\n\n"
                  "random.seed(int(open('seed.txt').read()) + int(os.environ.get('SEED', '0')))\n")
    _build_drawing_with(project)
    project.write("seed.txt", "2\n")
    status = project.json("status")["assets"]
    assert status[0]["state"] == "stale" and "seed.txt" in json.dumps(status[0]["reasons"]), status
    assert project.outcomes() == {"draw": "built"}
    assert project.run("show", "draw", check=True).stdout.strip() == repr(random.Random(2).random())
    status = json.loads(project.run("status", "--json", check=True, env={"SEED": "5"}).stdout)["assets"]
    assert status[0]["state"] == "stale" and "SEED" in json.dumps(status[0]["reasons"]), status

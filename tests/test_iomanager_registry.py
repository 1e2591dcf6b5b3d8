"""An IO manager a project registers belongs to that project's load: in a long-lived process that loads
several projects (the web UI, the automation daemon, ``datamake.api.load`` called twice) another project's
values are not stored by it, and reloaded code that no longer registers it no longer has it."""
import os
import sys
import textwrap

import pytest

from datamake import api
from datamake.define.loader import forget_project_code
from tests.test_soundness_probes_code2 import ROUNDED_MANAGER

_ROUNDED = ROUNDED_MANAGER.replace("auto=AUTO", "auto=True")

_PRICES = """
    @asset
    def prices():
        return [1.234, 2.345]
"""
_PLAIN = "\n    from datamake import asset\n" + _PRICES


@pytest.fixture
def projects(tmp_path):
    """A function writing the project ``name`` with ``source``; the process is left as it was found."""
    saved_path = list(sys.path)

    def write(name, source):
        folder = tmp_path / name
        folder.mkdir(exist_ok=True)
        (folder / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
        path = folder / "pipeline.py"
        text = textwrap.dedent(source)
        if path.exists():  # an edit a reload notices even within the file system's clock tick
            stat = path.stat()
            path.write_text(text)
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        else:
            path.write_text(text)
        return str(folder)

    forget_project_code([str(tmp_path)])
    yield write
    forget_project_code([str(tmp_path)])
    sys.path[:] = saved_path


def _made(folder):
    """The project in ``folder``, loaded and brought up to date in this process."""
    project = api.load(folder)
    api.make(project, history=False)
    return project


def test_another_project_s_values_are_not_stored_by_a_project_s_io_manager(projects):
    a = _made(projects("a", _ROUNDED + _PRICES))
    assert api.show_value(a, "prices")[0] == [1.2, 2.3]
    b = _made(projects("b", _PLAIN))
    assert api.show_value(b, "prices")[0] == [1.234, 2.345]


def test_a_project_loaded_again_after_another_reads_its_values_with_its_own_io_manager(projects):
    """Project B registers another manager under the same name: A's stored values were read by B's."""
    folder = projects("a", _ROUNDED + _PRICES)
    _made(folder)
    tens = _ROUNDED.replace("return json.loads(f.read())", "return [x * 10 for x in json.loads(f.read())]")
    b = _made(projects("b", tens + _PRICES))
    assert api.show_value(b, "prices")[0] == [12.0, 23.0]
    a = api.load(folder)
    assert api.show_value(a, "prices")[0] == [1.2, 2.3]


def test_an_io_manager_removed_from_the_definitions_is_gone_after_the_reload(projects):
    folder = projects("a", _ROUNDED + _PRICES)
    _made(folder)
    projects("a", _PLAIN)
    a = _made(folder)
    assert api.show_value(a, "prices")[0] == [1.234, 2.345]


def test_a_project_loaded_before_another_still_reads_its_values_with_its_own_io_manager(projects):
    """A program holding both projects reads the values of the first after loading the second."""
    a = _made(projects("a", _ROUNDED.replace("round(x, 1)", "round(x, 1) * 10") + _PRICES))
    b = _made(projects("b", _PLAIN))
    assert api.show_value(b, "prices")[0] == [1.234, 2.345]
    assert api.show_value(a, "prices") == ([12.0, 23.0], "rounded")

"""Code edits that change what an asset computes, in shapes data code is written in, each driven
through real ``datamake`` processes: after the edit ``status`` says the asset is stale, naming what
changed, and ``make`` rebuilds it to the value a first build of the edited project gives.
"""
from __future__ import annotations

import json
from typing import Dict, List, Tuple

import pytest

from tests.test_soundness_shapes import Edit, _apply


def _stale_reasons(project) -> Dict[str, str]:
    """Each stale asset's reason messages, joined."""
    proc = project.run("status", "--json", env={"DATAMAKE_NO_SHORTCUT": "1"})
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc.get("warnings", []) == []
    return {a["key"]: "; ".join(r["message"] for r in a["reasons"]) for a in doc["assets"] if a["state"] == "stale"}


def _value(project, key: str) -> str:
    proc = project.run("show", key)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def assert_edit_rebuilds(project, files: Dict[str, str], edits: List[Edit], expected: Dict[str, Tuple[str, str]],
                         dedent: bool = True) -> None:
    """Make ``files`` (``dedent``: written dedented); after ``edits`` each asset of ``expected`` (key ->
    (what the reason names, the value after the rebuild)) is stale for its own edit, and ``make``
    rebuilds it to that value."""
    for relpath, text in files.items():
        if dedent:
            project.write(relpath, text)
        else:
            (project.root / relpath).write_text(text)
    project.write("datamake.toml", '[project]\ndefinitions = "pipeline.py"\n')
    assert set(project.outcomes().values()) == {"built"}
    _apply(project, edits)
    reasons = _stale_reasons(project)
    assert sorted(reasons) == sorted(expected)
    for key, (named, _value_after) in expected.items():
        assert "code version" in reasons[key] and named in reasons[key], reasons[key]
    outcomes = project.outcomes()
    assert {key: outcomes[key] for key in expected} == {key: "built" for key in expected}
    for key, (_named, value_after) in expected.items():
        assert _value(project, key) == value_after


def test_a_method_parameter_or_local_named_like_a_global_hides_it_in_that_method_only(project):
    """``def __init__(self, normalize=True)`` in one method does not make the global helper
    ``normalize`` that another method calls a local name; nor does a local ``RATE = 10`` in one method,
    or a class attribute ``LIMIT = LIMIT`` (which reads the global), hide the module's constant."""
    files = {"pipeline.py": """
        from datamake import asset

        RATE = 2
        LIMIT = 5

        def normalize(x):
            return x + 1

        class Cleaner:
            def __init__(self, normalize=True):
                self.normalize = normalize

            def run(self, rows):
                return [normalize(r) for r in rows]

        class Pricer:
            LIMIT = LIMIT

            def setup(self):
                RATE = 10
                return RATE

            def price(self, x):
                return min(x * RATE, self.LIMIT)

        class Capped:
            LIMIT = LIMIT

            def cap(self, x):
                return min(x, self.LIMIT)

        @asset
        def cleaned():
            return Cleaner().run([1, 2])

        @asset
        def priced():
            return Pricer().price(1)

        @asset
        def capped():
            return Capped().cap(30)
    """}
    edits = [("pipeline.py", "x + 1", "x + 2"), ("pipeline.py", "RATE = 2", "RATE = 3"),
             ("pipeline.py", "LIMIT = 5", "LIMIT = 6")]
    assert_edit_rebuilds(project, files, edits, {
        "cleaned": ("normalize", "[3, 4]"),
        "priced": ("RATE", "3"),
        "capped": ("LIMIT", "6"),
    })


def test_a_class_attribute_computed_at_import_counts_by_its_content(project):
    """``COLUMNS = json.load(open("schema.json"))`` in a class body (or an enum member's value read
    from a file, or a constant a project function reads from a file) is data the class statement's
    text does not show: editing the file makes the assets that read it stale, as it does for the
    same line at module level."""
    files = {
        "pipeline.py": """
            import enum
            import json

            import lib
            from datamake import asset

            class Schema:
                COLUMNS = json.load(open("schema.json"))

                def width(self):
                    return len(self.COLUMNS)

            class Pricer:
                RATE = lib.load_rate()

            class Level(enum.Enum):
                LOW = json.load(open("levels.json"))["low"]

            @asset
            def width():
                return Schema().width()

            @asset
            def price():
                return Pricer.RATE * 2

            @asset
            def level():
                return Level.LOW.value
        """,
        "lib.py": """
            def load_rate():
                with open("rate.txt") as f:
                    return int(f.read())
        """,
        "schema.json": '["a", "b"]',
        "rate.txt": "3",
        "levels.json": '{"low": 1}',
    }
    edits = [("schema.json", '"b"]', '"b", "c"]'), ("rate.txt", "3", "4"), ("levels.json", "1", "2")]
    assert_edit_rebuilds(project, files, edits, {
        "width": ("pipeline.Schema.COLUMNS changed", "3"),
        "price": ("pipeline.Pricer.RATE changed", "8"),
        "level": ("pipeline.Level.LOW changed", "2"),
    })


def test_a_project_in_a_folder_whose_name_holds_site_packages_is_followed(tmp_path):
    """Only a folder named ``site-packages`` holds installed packages: the helpers of a project kept
    in ``site-packages-audit/`` are project code, and editing one makes its users stale."""
    from tests.conftest import ProjectDir

    project = ProjectDir(tmp_path / "site-packages-audit")
    files = {
        "pipeline.py": """
            import helpers
            from datamake import asset

            @asset
            def total():
                return helpers.f(1)
        """,
        "helpers.py": """
            def f(x):
                return x + 1
        """,
    }
    assert_edit_rebuilds(project, files, [("helpers.py", "x + 1", "x + 2")], {"total": ("helpers.f", "3")})


def test_what_a_method_imports_or_reads_by_a_computed_name_counts(project):
    """A method runs what it imports (``import plugins``, ``importlib.import_module("plugins")``) and
    may read any global through ``globals()``, as a function does; ``import pkg.sub`` runs
    ``pkg/__init__.py`` as well, whose functions the code may call through ``pkg``."""
    files = {
        "pipeline.py": """
            import importlib

            from datamake import asset

            RATE = 2

            class Plugins:
                def run(self):
                    import plugins
                    return plugins.p()

                def run_named(self):
                    return importlib.import_module("named").p()

                def setting(self, name):
                    return globals()[name]

            @asset
            def imported():
                return Plugins().run()

            @asset
            def imported_by_name():
                return Plugins().run_named()

            @asset
            def rate():
                return Plugins().setting("RATE")

            @asset
            def package():
                import pkg.sub
                return pkg.sub.f() + pkg.base()
        """,
        "plugins.py": "def p():\n    return 1\n",
        "named.py": "def p():\n    return 1\n",
        "pkg/__init__.py": "def base():\n    return 10\n",
        "pkg/sub.py": "def f():\n    return 1\n",
    }
    edits = [("plugins.py", "1", "2"), ("named.py", "1", "3"), ("pipeline.py", "RATE = 2", "RATE = 4"),
             ("pkg/__init__.py", "10", "20")]
    assert_edit_rebuilds(project, files, edits, {
        "imported": ("import:plugins", "2"),
        "imported_by_name": ("import:named", "3"),
        "rate": ("RATE", "4"),
        "package": ("import:pkg", "21"),
    })


def test_what_a_method_captures_counts(project):
    """A class made by a factory (``Cleaner = make_cleaner(5)``) holds the factory's argument in its
    methods' closures, and a method's default computed at import (``cols=json.load(...)``) is not in
    its text: changing either makes the assets that use the class stale."""
    files = {
        "pipeline.py": """
            import json

            from datamake import asset

            def make_cleaner(threshold):
                class Cleaner:
                    def run(self, xs):
                        return [x for x in xs if x > threshold]
                return Cleaner

            Cleaner = make_cleaner(5)

            class Reader:
                def columns(self, wanted=json.load(open("cols.json")), sep=","):
                    return sep.join(wanted)

            @asset
            def kept():
                return Cleaner().run([4, 5, 6, 7])

            @asset
            def columns():
                return Reader().columns()
        """,
        "cols.json": '["a"]',
    }
    edits = [("pipeline.py", "make_cleaner(5)", "make_cleaner(6)"), ("cols.json", '["a"]', '["a", "b"]')]
    assert_edit_rebuilds(project, files, edits, {
        "kept": ("Cleaner", "[7]"),
        "columns": ("pipeline.Reader", "a,b"),
    })


def test_data_a_nested_class_computes_counts(project):
    """``class Config: class Paths: COLS = json.load(...)``: the nested class's computed data counts
    as the outer one's does."""
    files = {
        "pipeline.py": """
            import json

            from datamake import asset

            class Config:
                class Paths:
                    COLS = json.load(open("cols.json"))

            @asset
            def columns():
                return Config.Paths.COLS
        """,
        "cols.json": '["a"]',
    }
    assert_edit_rebuilds(project, files, [("cols.json", '["a"]', '["b"]')], {
        "columns": ("pipeline.Config.Paths.COLS changed", "['b']"),
    })


def test_a_line_of_only_blanks_inside_a_string_counts(project):
    """An editor that trims trailing blanks on save changes a string whose blank line held spaces:
    another value, in a function at module level and in one nested in a factory alike."""
    pipeline = (
        "from datamake import asset\n"
        "\n"
        "def report_text():\n"
        '    return """total\n'
        "    \n"
        'end"""\n'
        "\n"
        "def make_footer():\n"
        "    def footer():\n"
        '        return """done\n'
        "        \n"
        '        end"""\n'
        "    return footer\n"
        "\n"
        "footer = make_footer()\n"
        "\n"
        "@asset\n"
        "def report():\n"
        "    return report_text()\n"
        "\n"
        "@asset\n"
        "def closing():\n"
        "    return footer()\n"
    )
    edits = [("pipeline.py", "total\n    \nend", "total\n\nend"), ("pipeline.py", "done\n        \n", "done\n\n")]
    assert_edit_rebuilds(project, {"pipeline.py": pipeline}, edits, {
        "report": ("pipeline.report_text changed", "total\n\nend"),
        "closing": ("footer changed", "done\n\n        end"),
    }, dedent=False)


def test_a_computed_default_of_a_pydantic_model_or_an_attrs_class_counts(project):
    """pydantic and attrs take a field's default out of the class into records of their own: a default
    read from a file at import (``cols: list = json.load(...)``) counts there by its content."""
    pytest.importorskip("pydantic")
    pytest.importorskip("attrs")
    files = {
        "pipeline.py": """
            import json

            import attrs
            import pydantic
            from datamake import asset

            class Settings(pydantic.BaseModel):
                cols: list = json.load(open("cols.json"))
                sep: str = pydantic.Field(default=",")

            @attrs.define
            class Limits:
                top: int = json.load(open("top.json"))
                names: list = attrs.field(factory=list)

            @asset
            def header():
                return Settings().sep.join(Settings().cols)

            @asset
            def top():
                return Limits().top
        """,
        "cols.json": '["a"]',
        "top.json": "1",
    }
    edits = [("cols.json", '["a"]', '["a", "b"]'), ("top.json", "1", "2")]
    assert_edit_rebuilds(project, files, edits, {
        "header": ("pipeline.Settings.cols changed", "a,b"),
        "top": ("pipeline.Limits.top changed", "2"),
    })


def test_a_function_numpy_vectorizes_counts(project):
    """``np.vectorize(h)`` (or ``@np.vectorize``) calls the project function ``h``: it counts as ``h``
    does, not as installed code."""
    pytest.importorskip("numpy")
    files = {
        "pipeline.py": """
            import numpy as np
            from datamake import asset

            def h(x):
                return x + 1

            V = np.vectorize(h)

            @np.vectorize
            def g(x):
                return x * 2

            @asset
            def shifted():
                return int(V(1))

            @asset
            def doubled():
                return int(g(3))
        """,
    }
    edits = [("pipeline.py", "x + 1", "x + 2"), ("pipeline.py", "x * 2", "x * 3")]
    assert_edit_rebuilds(project, files, edits, {
        "shifted": ("pipeline.h", "3"),
        "doubled": ("pipeline.g", "9"),
    })


def test_a_ufunc_made_from_a_project_function_is_named_in_a_warning(project):
    """``np.frompyfunc(h, 1, 1)`` does not give ``h`` back: datamake cannot version it, and says so."""
    pytest.importorskip("numpy")
    project.pipeline("""
        import numpy as np
        from datamake import asset

        def h(x):
            return x + 1

        U = np.frompyfunc(h, 1, 1)

        @asset
        def shifted():
            return int(U(1))
    """)
    doc = project.json("status")
    assert any("reads global U of type numpy.ufunc" in w for w in doc.get("warnings", [])), doc


def test_data_a_module_imported_inside_a_function_computed_at_import_counts(project):
    """``import lookup`` inside the asset, where ``lookup`` was imported already (by the definitions,
    for another use): the import does not run again, so ``lookup.TABLE``, read from a file when it
    first ran, counts by its content, as a global of the asset's own module would."""
    files = {
        "pipeline.py": """
            import importlib

            import lookup  # imported here too, for another use
            from datamake import asset

            @asset
            def value():
                import lookup as lk
                return lk.TABLE["x"]

            @asset
            def named():
                return importlib.import_module("lookup").TABLE["y"]
        """,
        "lookup.py": """
            import json

            with open("table.json") as f:
                TABLE = json.load(f)
        """,
        "table.json": '{"x": 1, "y": 10}',
    }
    edits = [("table.json", '"x": 1, "y": 10', '"x": 2, "y": 20')]
    assert_edit_rebuilds(project, files, edits, {
        "value": ("lookup.TABLE changed", "2"),
        "named": ("lookup.TABLE changed", "20"),
    })


def test_a_computed_default_of_a_named_tuple_counts(project):
    """``typing.NamedTuple`` keeps a field's default apart from the class too (``b: int = load()``)."""
    files = {
        "pipeline.py": """
            import json
            import typing

            from datamake import asset

            class Row(typing.NamedTuple):
                a: int
                b: int = json.load(open("b.json"))

            @asset
            def second():
                return Row(1).b
        """,
        "b.json": "1",
    }
    assert_edit_rebuilds(project, files, [("b.json", "1", "2")], {"second": ("pipeline.Row.b changed", "2")})

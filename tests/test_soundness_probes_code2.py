"""More code edits in shapes data code is written in, driven through the ``datamake`` command: after an
edit that changes what an asset computes, ``status`` says it is stale and ``make`` rebuilds it to the
value a first build of the edited project gives; after a cosmetic edit, nothing is rebuilt.
"""
from __future__ import annotations

import json
from typing import Dict

import pytest

from tests.test_soundness_shapes import _apply


@pytest.fixture
def project(inprocess_project):
    return inprocess_project


def _states(project) -> Dict[str, str]:
    proc = project.run("status", "--json", env={"DATAMAKE_NO_SHORTCUT": "1"})
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc.get("warnings", []) == []
    return {a["key"]: a["state"] for a in doc["assets"]}


def _value(project, key: str) -> str:
    proc = project.run("show", key)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


# An upstream value that holds project code by name (pickle keeps a class, a function or an enum by its
# module and name, not its code): the consumer calls that code. Each: (files, the edit of that code, the
# consumer's value before and after it).
_BY_NAME = {
    "an instance whose property the consumer reads": ({
        "model.py": """
            from dataclasses import dataclass

            @dataclass
            class Basket:
                prices: list

                @property
                def total(self):
                    return sum(self.prices)
            """,
        "pipeline.py": """
            from datamake import asset
            from model import Basket

            @asset
            def basket():
                return Basket([1, 2, 3])

            @asset
            def total(basket):
                return basket.total
            """}, ("model.py", "return sum(self.prices)", "return sum(self.prices) * 10"), ("6", "60")),
    "a function in a dict the consumer calls": ({
        "pipeline.py": """
            from datamake import asset

            def rule(x):
                return x * 2

            @asset
            def rules():
                return {"double": rule}

            @asset
            def applied(rules):
                return rules["double"](5)
            """}, ("pipeline.py", "return x * 2", "return x * 3"), ("10", "15")),
    "an enum member whose method the consumer calls": ({
        "pipeline.py": """
            import enum
            from datamake import asset

            class Level(enum.Enum):
                LOW = 1

                def factor(self):
                    return 10

            @asset
            def level():
                return Level.LOW

            @asset
            def factor(level):
                return level.factor()
            """}, ("pipeline.py", "return 10", "return 20"), ("10", "20")),
}


@pytest.mark.parametrize("shape", list(_BY_NAME))
def test_code_an_upstream_value_names_counts_for_its_consumers(project, shape):
    """The producer is rebuilt for the edit and stores the very same bytes; its consumer, which runs the
    edited code, is rebuilt too (it stayed fresh with the old result)."""
    files, edit, (before, after) = _BY_NAME[shape]
    for relpath, text in files.items():
        project.write(relpath, text)
    project.write("datamake.toml", '[project]\ndefinitions = "pipeline.py"\n')
    outcomes = project.outcomes()
    producer, consumer = list(outcomes)
    assert _value(project, consumer) == before
    _apply(project, [edit])
    assert project.outcomes() == {producer: "built", consumer: "built"}
    assert _value(project, consumer) == after
    assert set(_states(project).values()) == {"fresh"}


_THING = """
    from datamake import asset

    N = 3

    class Thing:
        def __init__(self, xs):
            self.xs = xs

        def total(self):
            return sum(self.xs)

    def count():
        return N

    @asset
    def thing():
        return Thing(list(range(count())))

    @asset
    def total(thing):
        return thing.total()
    """


def test_code_an_upstream_value_names_counts_with_the_process_executor_and_keeps_the_early_cutoff(process_project):
    """The value is stored by a worker process, where the class is versioned as the planner does: a
    second run finds everything fresh, a comment in the class rebuilds nothing, an edit that changes only
    how the producer computes the same value rebuilds the producer alone, and an edit of the class rebuilds
    the consumer."""
    project = process_project
    project.pipeline(_THING)
    make = ("--executor", "process")
    assert set(project.outcomes(*make).values()) == {"built"}
    assert set(project.states().values()) == {"fresh"}
    _apply(project, [("pipeline.py", "return sum(self.xs)", "return sum(self.xs)  # every one")])
    assert set(_states(project).values()) == {"fresh"}
    _apply(project, [("pipeline.py", "return N", "return N + 0")])
    assert project.outcomes(*make) == {"thing": "built", "total": "skipped"}
    _apply(project, [("pipeline.py", "return sum(self.xs)", "return sum(self.xs) + 100")])
    assert project.outcomes(*make) == {"thing": "built", "total": "built"}
    assert _value(project, "total") == "103"


def test_pandas_offsets_intervals_periods_and_dtypes_kept_at_module_level_count_by_content(project):
    """A month-end offset, an interval, a period, a date offset and a dtype mapping kept as module constants
    are versioned by their content (they were named in a warning), so editing one makes the asset that
    reads it stale, and only that one."""
    pytest.importorskip("pandas")
    project.pipeline("""
        import pandas as pd
        from datamake import asset

        OFFSET = pd.offsets.MonthEnd(1)
        WINDOW = pd.Interval(0, 5, closed="left")
        MONTH = pd.Period("2024-01", freq="M")
        SHIFT = pd.DateOffset(months=1)
        DTYPES = {"size": pd.CategoricalDtype(["S", "M"]), "name": pd.StringDtype(), "n": pd.Int64Dtype()}

        @asset
        def month_end():
            return str(pd.Timestamp("2024-01-01") + OFFSET)

        @asset
        def inside():
            return 5 in WINDOW

        @asset
        def month():
            return str(MONTH)

        @asset
        def shifted():
            return str(pd.Timestamp("2024-01-31") + SHIFT)

        @asset
        def sizes():
            return list(DTYPES["size"].categories)
        """)
    assert set(project.outcomes().values()) == {"built"}
    assert set(_states(project).values()) == {"fresh"}
    _apply(project, [("pipeline.py", "MonthEnd(1)", "MonthEnd(2)"), ("pipeline.py", 'closed="left"', 'closed="both"'),
                     ("pipeline.py", '"2024-01", freq', '"2024-02", freq'), ("pipeline.py", "months=1", "months=2"),
                     ("pipeline.py", '["S", "M"]', '["S", "M", "L"]')])
    assert _states(project) == {"month_end": "stale", "inside": "stale", "month": "stale", "shifted": "stale",
                                "sizes": "stale"}
    project.outcomes()
    assert [_value(project, key) for key in ("month_end", "inside", "month", "sizes")] == [
        "2024-02-29 00:00:00", "true", "2024-02", "['S', 'M', 'L']"]


def test_the_categories_of_a_module_level_frame_count_though_no_row_shows_them(project):
    """A category no row holds yet, and whether the categories are ordered, are part of a frame's
    content: editing them made no asset stale (the rows hash the same)."""
    pytest.importorskip("pandas")
    project.pipeline("""
        import pandas as pd
        from datamake import asset

        SIZES = pd.Series(["S", "S"], dtype=pd.CategoricalDtype(["S", "M"]))
        GRADES = pd.DataFrame({"grade": pd.Categorical(["a"], categories=["a", "b"], ordered=False)})

        @asset
        def size_names():
            return list(SIZES.cat.categories)

        @asset
        def graded_in_order():
            return bool(GRADES["grade"].cat.ordered)
        """)
    assert set(project.outcomes().values()) == {"built"}
    _apply(project, [("pipeline.py", '["S", "M"]', '["S", "M", "L"]'), ("pipeline.py", "ordered=False", "ordered=True")])
    assert _states(project) == {"size_names": "stale", "graded_in_order": "stale"}
    project.outcomes()
    assert (_value(project, "size_names"), _value(project, "graded_in_order")) == ("['S', 'M', 'L']", "true")


ROUNDED_MANAGER = """
    import json
    import datamake
    from datamake import asset

    class Rounded:
        name = "rounded"

        def handles(self, value):
            return isinstance(value, list)

        def dump(self, value, f):
            f.write(json.dumps([round(x, 1) for x in value]).encode())

        def load(self, f):
            return json.loads(f.read())

    datamake.register_io_manager(Rounded(), auto=AUTO)
"""  # (a project's own IO manager; tests/test_iomanager_registry.py registers it too)
_ROUNDED = ROUNDED_MANAGER + """
    @asset(IO_MANAGER)
    def prices():
        return [1.234, 2.345]

    @asset
    def total(prices):
        return round(sum(prices), 3)
    """


@pytest.mark.parametrize("named", [True, False], ids=["named", "automatic"])
@pytest.mark.parametrize("edit, after", [
    (("round(x, 1)", "round(x, 2)"), "3.58"),
    (("return json.loads(f.read())", "return [x * 10 for x in json.loads(f.read())]"), "35.0"),
], ids=["dump", "load"])
def test_editing_the_project_s_own_io_manager_rebuilds_what_it_stores_and_what_reads_it(process_project, named, edit,
                                                                                         after):
    """The IO manager's ``dump`` decides the stored bytes and its ``load`` what consumers receive: editing
    either left every asset fresh with values the old code wrote or read. (Commands in processes of their
    own: a registered IO manager stays registered in the process that imported the project.)"""
    project = process_project
    source = _ROUNDED.replace("AUTO", "False" if named else "True")
    project.pipeline(source.replace("IO_MANAGER", 'io_manager="rounded"' if named else ""))
    assert set(project.outcomes().values()) == {"built"}
    assert _value(project, "total") == "3.5"
    _apply(project, [("pipeline.py", *edit)])
    assert _states(project)["prices"] == "stale"
    project.outcomes()
    assert _value(project, "total") == after
    assert set(_states(project).values()) == {"fresh"}


def test_an_op_that_calls_code_the_output_of_another_op_names_runs_again_when_it_changes(project):
    """In a graph asset, the op that made the object is run again for the edit and stores the same bytes;
    the op that calls the object's method ran again too (its cached output was the old result)."""
    project.pipeline("""
        from datamake import graph_asset, op

        class Basket:
            def __init__(self, prices):
                self.prices = prices

            def total(self):
                return sum(self.prices)

        @op
        def basket():
            return Basket([1, 2, 3])

        @op
        def total(basket):
            return basket.total()

        @graph_asset
        def basket_total():
            return total(basket())
        """)
    assert project.outcomes() == {"basket_total": "built"}
    _apply(project, [("pipeline.py", "return sum(self.prices)", "return sum(self.prices) * 10")])
    assert project.outcomes() == {"basket_total": "built"}
    assert _value(project, "basket_total") == "60"


@pytest.mark.parametrize("package", ["__package__", '"pkg"', 'package="pkg"'])
def test_a_module_imported_by_a_relative_name_counts_by_its_source(project, package):
    """``importlib.import_module(".helpers", __package__)`` in a package's asset: editing ``pkg/helpers.py``
    left the asset fresh, without a warning."""
    project.write("pkg/__init__.py", "")
    project.write("pkg/helpers.py", "def scale(x):\n    return x * 2\n")
    project.write("pkg/defs.py", f"""
        import importlib
        from datamake import asset

        @asset
        def scaled():
            return importlib.import_module(".helpers", {package}).scale(5)
        """)
    project.pipeline("from pkg.defs import *\n")
    assert project.outcomes() == {"scaled": "built"}
    _apply(project, [("pkg/helpers.py", "x * 2", "x * 3")])
    assert _states(project) == {"scaled": "stale"}
    assert project.outcomes() == {"scaled": "built"}
    assert _value(project, "scaled") == "15"


def test_a_module_imported_by_a_relative_name_in_a_computed_package_is_named_in_a_warning(project):
    project.write("pkg/__init__.py", "")
    project.write("pkg/helpers.py", "def scale(x):\n    return x * 2\n")
    project.write("pkg/defs.py", """
        import importlib
        from datamake import asset

        @asset
        def scaled():
            return importlib.import_module(".helpers", __name__.rpartition(".")[0]).scale(5)
        """)
    project.pipeline("from pkg.defs import *\n")
    proc = project.run("status")
    assert "imports a module by a computed name in its own body" in proc.stderr


def test_a_project_function_an_installed_function_like_object_keeps_counts(project):
    """``toolz.curry`` keeps the function it curries (in a ``functools.partial``) without ``__wrapped__``:
    the curried helper, and the argument a partly applied one holds, counted by name only."""
    pytest.importorskip("toolz")
    project.pipeline("""
        from toolz import curry
        from datamake import asset

        @curry
        def scale(k, x):
            return k * x

        DOUBLE = scale(2)

        @asset
        def scaled():
            return scale(3)(5)

        @asset
        def doubled():
            return DOUBLE(5)
        """)
    assert set(project.outcomes().values()) == {"built"}
    _apply(project, [("pipeline.py", "return k * x", "return k * x  # times")])
    assert set(_states(project).values()) == {"fresh"}
    _apply(project, [("pipeline.py", "return k * x", "return k * x + 1")])
    assert _states(project) == {"scaled": "stale", "doubled": "stale"}
    project.outcomes()
    assert (_value(project, "scaled"), _value(project, "doubled")) == ("16", "11")
    _apply(project, [("pipeline.py", "DOUBLE = scale(2)", "DOUBLE = scale(4)")])
    assert _states(project) == {"scaled": "fresh", "doubled": "stale"}


@pytest.mark.parametrize("writer", ["pickle", "joblib"])
def test_a_pickle_an_asset_writes_itself_counts_the_project_code_it_names(project, writer):
    """``joblib.dump(Model(2), context.output_path)``: the model file holds the class by name, so editing
    ``Model.predict`` rebuilt the model to the same bytes and left the scores fresh with the old result;
    a comment in the class rebuilds nothing."""
    pytest.importorskip(writer)
    project.pipeline(f"""
        import {writer}
        from datamake import asset

        class Model:
            def __init__(self, weight):
                self.weight = weight

            def predict(self, x):
                return self.weight * x

        @asset
        def model(context):
            with open(context.output_path, "wb") as f:
                {writer}.dump(Model(2), f)

        @asset
        def scores(model):
            with open(model, "rb") as f:
                return {writer}.load(f).predict(5)
        """)
    assert set(project.outcomes().values()) == {"built"}
    _apply(project, [("pipeline.py", "return self.weight * x", "return self.weight * x  # linear")])
    assert set(_states(project).values()) == {"fresh"}
    _apply(project, [("pipeline.py", "return self.weight * x", "return self.weight * x + 1")])
    assert project.outcomes() == {"model": "built", "scores": "built"}
    assert _value(project, "scores") == "11"



_ON_ONE_LINE = """
    from datamake import asset

    OPS = {"inc": lambda x: x + 1, "dbl": lambda x: x * 2}
    inc, dbl = lambda x: x + 1, lambda x: x * 2

    @asset
    def ops():
        return OPS["inc"](10) + OPS["dbl"](10)

    @asset
    def incremented():
        return inc(10)

    @asset
    def doubled():
        return dbl(10)
    """


def test_lambdas_with_the_same_arguments_on_one_line_count_each_on_its_own(project):
    """Two lambdas with the same arguments on one line counted together: putting them on lines of their
    own rebuilt their users, and editing one rebuilt the users of the other too."""
    project.pipeline(_ON_ONE_LINE)
    assert set(project.outcomes().values()) == {"built"}
    _apply(project, [("pipeline.py", '{"inc": lambda x: x + 1, "dbl": lambda x: x * 2}',
                      '{\n        "inc": lambda x: x + 1,\n        "dbl": lambda x: x * 2,\n    }')])
    assert set(_states(project).values()) == {"fresh"}
    _apply(project, [("pipeline.py", "inc, dbl = lambda x: x + 1, lambda x: x * 2",
                      "inc, dbl = (lambda x: x + 1,\n            lambda x: x * 2)")])
    assert set(_states(project).values()) == {"fresh"}
    _apply(project, [("pipeline.py", "lambda x: x + 1,\n            lambda x: x * 2)",
                      "lambda x: x + 1, lambda x: x * 3)")])
    assert project.outcomes() == {"ops": "skipped", "incremented": "skipped", "doubled": "built"}
    assert _value(project, "doubled") == "30"

"""More code shapes whose edits must change an asset's code version (or must not), each driven through
real ``datamake`` processes: after a real edit ``status`` says the asset is stale, naming what changed,
and ``make`` rebuilds it to the value a first build of the edited project gives; after a cosmetic one
the asset stays fresh.
"""
from __future__ import annotations

import textwrap

import pytest

from tests.test_soundness_probes_code import _stale_reasons, _value, assert_edit_rebuilds
from tests.test_soundness_shapes import _apply


def test_reindenting_a_function_changes_the_value_of_its_multiline_strings_only(project):
    """A function defined indented (here in a factory) is parsed on its own: re-indenting it with its
    block re-indents the inner lines of its triple-quoted string, another value, so the asset is stale;
    the same re-indent of a function without such a string changes nothing it computes."""
    def factory(indent: str) -> str:
        body = textwrap.indent(textwrap.dedent('''
            @asset
            def note():
                return """x
            y"""

            @asset
            def plain():
                return "x" + "y"

            return note, plain
        '''), indent)
        return f"from datamake import asset\n\ndef factory():{body}\nnote, plain = factory()\n"

    before, after = factory("    "), factory("        ")
    assert_edit_rebuilds(project, {"pipeline.py": before}, [("pipeline.py", before, after)],
                         {"note": ("the function itself changed", "x\n        y")}, dedent=False)
    assert _stale_reasons(project) == {}


def test_editing_a_registered_pandas_accessor_makes_its_users_stale(project):
    """``df.clean.total()`` runs the class registered with ``register_dataframe_accessor("clean")``
    (a series accessor likewise), though the asset names no part of it: editing the class makes the
    assets that read ``.clean`` stale, also one that gets its frame from an upstream asset."""
    pytest.importorskip("pandas")
    files = {
        "pipeline.py": """
            import pandas as pd

            import accessors
            from datamake import asset

            @asset
            def frame():
                return pd.DataFrame({"a": [1, 2]})

            @asset
            def total(frame):
                return int(frame.clean.total())

            @asset
            def series_total():
                return int(pd.Series([1, 2]).sclean.total())
        """,
        "accessors.py": """
            import pandas as pd

            @pd.api.extensions.register_dataframe_accessor("clean")
            class Clean:
                def __init__(self, df):
                    self.df = df

                def total(self):
                    return self.df["a"].sum() * 2

            @pd.api.extensions.register_series_accessor("sclean")
            class SeriesClean:
                def __init__(self, series):
                    self.series = series

                def total(self):
                    return self.series.sum() * 2
        """,
    }
    assert_edit_rebuilds(project, files, [("accessors.py", "sum() * 2", "sum() * 3")], {
        "total": ("accessors.Clean changed", "9"),
        "series_total": ("accessors.SeriesClean changed", "9"),
    })


def test_a_function_wrapped_by_joblib_memory_or_dask_delayed_counts_as_itself(project):
    """``joblib.Memory(...).cache(f)`` and ``dask.delayed(f)`` call ``f``: editing ``f`` makes the assets
    that call the wrapper stale, with no warning that the wrapper cannot be versioned."""
    pytest.importorskip("joblib")
    pytest.importorskip("dask")
    files = {"pipeline.py": """
        import dask
        import joblib

        from datamake import asset

        def slow(x):
            return x + 1

        def scaled(x):
            return x * 10

        uncached = joblib.Memory(None, verbose=0).cache(slow)
        cached = joblib.Memory("joblib-cache", verbose=0).cache(scaled)
        lazy = dask.delayed(scaled)

        @asset
        def memoized():
            return uncached(1) + cached(1)

        @asset
        def delayed():
            return lazy(2).compute(scheduler="sync")
    """}
    edits = [("pipeline.py", "x + 1", "x + 2"), ("pipeline.py", "x * 10", "x * 20")]
    assert_edit_rebuilds(project, files, edits, {
        "memoized": ("pipeline.slow", "23"),
        "delayed": ("pipeline.scaled changed", "40"),
    })


def test_a_library_setting_made_when_the_definitions_are_imported_counts_for_every_asset(project):
    """``pd.options.display.precision = 2`` in a settings module the definitions import,
    ``np.set_printoptions(...)`` at the top of the definitions: editing either makes stale the assets
    whose output they change, also one in another module that imports neither and names no library.
    Comments, docstrings, formatting and what runs under ``if __name__ == "__main__":`` still change
    nothing."""
    pd = pytest.importorskip("pandas")
    np = pytest.importorskip("numpy")
    files = {
        "pipeline.py": '''
            """Tables."""
            import numpy as np

            import settings
            from datamake import asset
            from tables import frame, table

            np.set_printoptions(precision=3)  # digits of arrays

            @asset
            def array():
                return str(np.array([1.123456]))

            if __name__ == "__main__":
                print("run datamake make")
        ''',
        "tables.py": '''
            import pandas as pd

            from datamake import asset

            @asset
            def frame():
                return pd.DataFrame({"a": [1.123456]})

            @asset
            def table(frame):
                return frame.to_string()
        ''',
        "settings.py": '''
            import pandas as pd

            pd.options.display.precision = 2
        ''',
    }
    for relpath, text in files.items():
        project.write(relpath, text)
    project.write("datamake.toml", '[project]\ndefinitions = "pipeline.py"\n')
    assert set(project.outcomes().values()) == {"built"}
    _apply(project, [("pipeline.py", '"""Tables."""', '"""Tables of numbers."""'),
                     ("pipeline.py", "# digits of arrays", "# how arrays print"),
                     ("pipeline.py", "precision=3)", "precision = 3)"),
                     ("pipeline.py", '"run datamake make"', '"run: datamake make"')])
    assert _stale_reasons(project) == {}

    _apply(project, [("pipeline.py", "precision = 3", "precision=5"), ("settings.py", "precision = 2", "precision = 4")])
    reasons = _stale_reasons(project)
    assert "<top level of settings>" in reasons["table"] and "<top level of pipeline>" in reasons["array"]
    assert project.outcomes()["table"] == "built"
    with pd.option_context("display.precision", 4):
        assert _value(project, "table") == pd.DataFrame({"a": [1.123456]}).to_string().strip()
    assert _value(project, "array") == np.array2string(np.array([1.123456]), precision=5)

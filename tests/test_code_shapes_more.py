"""More code shapes whose edits must change an asset's code version (or must not), each driven through
real ``datamake`` processes: after a real edit ``status`` says the asset is stale, naming what changed,
and ``make`` rebuilds it to the value a first build of the edited project gives; after a cosmetic one
the asset stays fresh.
"""
from __future__ import annotations

import textwrap

from tests.test_soundness_probes_code import _stale_reasons, _value, assert_edit_rebuilds


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

"""What ``make`` reports as it goes, for library users who capture the output."""
from __future__ import annotations

import contextlib
import io
import sys

from datamake import api
from datamake.define.loader import forget_project_code
from datamake.execution.reporters import LineReporter


def test_a_reporter_made_under_redirect_stdout_writes_there(project, monkeypatch):
    """A notebook or a caller capturing output (``redirect_stdout``) sees the per-asset lines."""
    project.pipeline('''
        from datamake import asset

        @asset
        def numbers():
            return [1, 2]
    ''')
    monkeypatch.setattr(sys, "path", list(sys.path))  # loading the project prepends its folder
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            result = api.make(api.load(str(project.root)), reporter=LineReporter(), history=False)
    finally:
        forget_project_code([str(project.root)])
    assert result.ok
    assert "built    numbers" in out.getvalue()
    assert "done: 1 built" in out.getvalue()

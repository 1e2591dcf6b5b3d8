"""What a first-time user meets when following the docs, mistakes included: each message names the
command and the fix, with the documented exit code."""
from __future__ import annotations

PIPELINE = '''
from datamake import asset


@asset
def orders():
    return [1, 2, 3]
'''


def test_unpin_without_assets_asks_for_assets_to_unpin(inprocess_project):
    inprocess_project.pipeline(PIPELINE)
    result = inprocess_project.run("unpin")
    assert result.returncode == 2
    assert "name the assets to unpin (or pass --all)" in result.stderr


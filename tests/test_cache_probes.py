"""Probes of the action cache and the shared remote cache for wrong restores.

Two teammates are two project folders with the same pipeline sharing a folder as their
remote cache; each test sets them up, changes one thing, and checks that ``make`` restores
(``cached``) only a value that building the asset here and now would give.
"""
from __future__ import annotations

import json

import pytest

from tests.conftest import InProcessProjectDir, teammates

CONFIGURED = '''
from dataclasses import dataclass

from datamake import asset


@dataclass
class Factor:
    n: int = 1


@asset(config=Factor)
def scaled(config):
    return config.n * 10
'''


def _remote_entries(remote) -> dict:
    """The remote's action-cache entry files, by the config value ``n`` of the value each holds."""
    return {json.loads(path.read_text())["config"]["n"]: path for path in (remote / "actions").rglob("*.json")}


@pytest.mark.parametrize("provenance_edited", [False, True], ids=["misfiled", "provenance-edited"])
def test_an_entry_built_from_other_inputs_is_not_restored(tmp_path, provenance_edited):
    """An action-cache entry filed under the provenance B computes, whose manifest was built with
    another config (copied there, its provenance field perhaps edited to match), is not B's value."""
    remote, (a, b) = teammates(tmp_path, CONFIGURED, kind=InProcessProjectDir)
    assert a.outcomes("--config", "scaled.n=1") == {"scaled": "built"}
    assert a.outcomes("--config", "scaled.n=2") == {"scaled": "built"}
    entries = _remote_entries(remote)
    ours, theirs = json.loads(entries[1].read_text()), json.loads(entries[2].read_text())
    if provenance_edited:
        theirs["provenance"] = ours["provenance"]
    entries[1].write_text(json.dumps(theirs))

    made = b.run("make", "--json")
    assert {x["key"]: x["outcome"] for x in json.loads(made.stdout)["assets"]} == {"scaled": "built"}
    assert "built from other inputs" in made.stderr
    assert b.run("show", "scaled", check=True).stdout.strip() == "10"
    assert b.states() == {"scaled": "fresh"}


def test_a_current_manifest_with_an_edited_provenance_is_not_restored(tmp_path):
    """The remote's current manifest of an asset, built with another config and its provenance edited to
    the one B computes, is not taken for B's value (make predicts restores from current manifests)."""
    remote, (a, b) = teammates(tmp_path, CONFIGURED, kind=InProcessProjectDir)
    assert a.outcomes("--config", "scaled.n=1") == {"scaled": "built"}
    ours = json.loads(_remote_entries(remote)[1].read_text())
    assert a.outcomes("--config", "scaled.n=2") == {"scaled": "built"}
    current = remote / "manifests" / "scaled.json"
    theirs = json.loads(current.read_text())
    assert theirs["config"] == {"n": 2}
    current.write_text(json.dumps({**theirs, "provenance": ours["provenance"]}))

    assert b.outcomes() == {"scaled": "built"}
    assert b.run("show", "scaled", check=True).stdout.strip() == "10"

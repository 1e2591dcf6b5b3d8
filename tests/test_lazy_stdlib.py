"""Standard modules that are slow to import are loaded only when a value needs them; the results are the
same as with the modules themselves (a store's file names, a config's hash)."""
from __future__ import annotations

import pathlib
import urllib.parse

from hypothesis import given, strategies as st

from datamake.core.urlquote import quote, unquote
from datamake.project.assetconfig import canonical_value

KEYS = st.text(st.sampled_from("az09_.-~/%?#[]@!$&'()*+,;= éü€\\\t"), max_size=20)


@given(KEYS)
def test_partition_file_names_and_log_paths_are_quoted_as_urllib_quotes_them(text):
    assert quote(text, safe="") == urllib.parse.quote(text, safe="")
    assert quote(text) == urllib.parse.quote(text)
    assert unquote(text) == urllib.parse.unquote(text)
    assert unquote(urllib.parse.quote(text, safe="")) == text


def test_a_path_in_an_assets_config_is_versioned_by_its_text():
    assert canonical_value({"out": pathlib.PurePosixPath("data/x.csv")}) == {"out": {"__path__": "data/x.csv"}}
    assert canonical_value(pathlib.Path("data") / "y.csv") != canonical_value(pathlib.Path("data") / "x.csv")


def test_each_edit_of_datamake_toml_is_read_and_checked_though_an_unchanged_one_is_not_parsed_again(project):
    """The parse of an unchanged datamake.toml is kept between commands; any edit is parsed and validated anew."""
    source = "from datamake import asset\n\n@asset\ndef a():\n    return 1\n"
    project.pipeline(source, '[execution]\nexecutor = "thread"\n')
    assert project.outcomes() == {"a": "built"}
    project.pipeline(source, '[execution]\nexecutor = "threads"\n')
    proc = project.run("make")
    assert proc.returncode == 2 and "threads" in proc.stderr, proc.stderr
    project.pipeline(source, '[execution]\nexecutor = \n')
    proc = project.run("make")
    assert proc.returncode == 2 and "not valid TOML" in proc.stderr, proc.stderr
    project.pipeline(source, '[execution]\nexecutor = "thread"\n')
    assert project.outcomes() == {"a": "skipped"}
    project.pipeline(source, 'when = 2024-01-31\n[execution]\nexecutor = "thread"\n')  # a date: parsed each time
    proc = project.run("make")
    assert proc.returncode == 2 and "when" in proc.stderr, proc.stderr

"""What people read: `make` lines, `log --run`, `status`, `lineage`, `show`, check lines.

Driven through the real ``datamake`` command in-process (click's runner) on real
projects in a temporary folder; one test draws the live status line on a real
pseudo-terminal.
"""
from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from datamake.cli.main import main

PIPELINE = """\
from datamake import DailyPartitions, asset, asset_check

daily = DailyPartitions(start="2024-01-01", end="{end}")


@asset
def orders():
    return "o1"


@asset
def customers():
    return "c1"


@asset(partitions=daily, io_manager="json")
def sales(context, orders, customers):
    day = context.partition_key
    if day >= "{fail_from}":
        raise ValueError("no file for " + day)
    context.log.info("read %s", day)
    return [day, orders, customers]


@asset_check(asset=sales)
def not_empty(value):
    return len(value) > 0


@asset(io_manager="json")
def total(sales):
    return len(sales)
"""


def make_project(root: Path, end: str = "2024-01-04", fail_from: str = "9999") -> Path:
    (root / "pipeline.py").write_text(PIPELINE.format(end=end, fail_from=fail_from))
    (root / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    return root


def edit(root: Path, old: str, new: str) -> None:
    path = root / "pipeline.py"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def run(root: Path, *args: str, expect: int = 0):
    result = CliRunner().invoke(main, ["-C", str(root), *args])
    assert result.exit_code == expect, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture(autouse=True)
def _no_bytecode(monkeypatch):
    monkeypatch.setattr("sys.dont_write_bytecode", True)


def test_make_verbose_and_log_run_name_the_partition_and_each_changed_input(tmp_path):
    root = make_project(tmp_path)
    run(root, "make", "-q")
    edit(root, '"o1"', '"o2"')
    edit(root, '"c1"', '"c2"')
    out = run(root, "make", "-v").output
    assert "start    sales[2024-01-01]  (input_changed: orders, customers)" in out, out
    assert "  sales[2024-01-02] | read 2024-01-02" in out, out  # the line it logged, with its partition

    run_id = json.loads(run(root, "log", "--json").output)["runs"][0]["run_id"]
    events = run(root, "log", "--run", run_id).output
    assert re.search(r"started  sales\[2024-01-03\] +input_changed: orders, customers$", events, re.M), events
    assert re.search(r"built    sales\[2024-01-03\] +data ", events, re.M), events
    assert re.search(r"log      sales\[2024-01-03\] +INFO read 2024-01-03$", events, re.M), events
    assert re.search(r"check    sales\[2024-01-03\] +not_empty: passed$", events, re.M), events


def test_check_lines_name_the_partition_when_checks_rerun_on_kept_values(tmp_path):
    root = make_project(tmp_path)
    run(root, "make", "-q")
    edit(root, "len(value) > 0", "len(value) >= 1")  # only the check changed: it re-runs on the kept values
    out = run(root, "make").output
    assert "check    sales[2024-01-02]:not_empty passed" in out, out
    assert "check    sales:not_empty" not in out, out


def test_a_blocked_asset_summarises_the_missing_upstream_partitions(tmp_path):
    root = make_project(tmp_path, end="2024-03-01", fail_from="2024-01-03")
    result = run(root, "make", "-k", expect=1)
    line = next(x for x in result.output.splitlines() if x.startswith("blocked  total"))
    assert line == "blocked  total  upstream sales[2024-01-03…2024-02-29] (58 partitions) did not materialize"
    doc = json.loads(run(root, "make", "-k", "--json", expect=1).output)
    total = next(a for a in doc["assets"] if a["key"] == "total")
    assert total["error"] == "upstream sales[2024-01-03…2024-02-29] (58 partitions) did not materialize"


def test_status_footer_says_what_it_left_out(tmp_path):
    root = make_project(tmp_path, end="2024-03-01")  # 60 partitions: too many to list every fresh asset
    run(root, "make", "-q", "orders", "customers")
    out = run(root, "status").output.splitlines()
    assert out[-1] == "61 stale, 2 fresh (2 fresh assets not listed; --all lists them)", out
    run(root, "make", "-q")
    out = run(root, "status").output.splitlines()
    assert "fresh  sales      2024-01-01…2024-02-29: 60 fresh" in out, out  # fresh partitions are summarised...
    assert out[-1] == "0 stale, 63 fresh (3 fresh assets not listed; --all lists them)", out
    edit(root, "return [day, orders, customers]", "return [day, customers, orders]")
    run(root, "make", "-q", "-p", "2024-01-01...2024-01-10", "sales")
    out = run(root, "status", "--only", "sales").output.splitlines()
    assert out[-1] == "50 stale, 10 fresh", out  # ...so with no fresh asset left out, the footer says nothing more


def test_lineage_calls_a_partition_current_when_it_is(tmp_path):
    root = make_project(tmp_path)
    run(root, "make", "-q")
    text = run(root, "lineage", "total").output
    assert re.search(r"├── sales\[2024-01-01\] @\w+  \(current\)", text), text
    assert "older version" not in text, text
    upstream = json.loads(run(root, "lineage", "total", "--json").output)["upstream"]
    assert {(n["key"], n["current"]) for n in upstream} == {
        ("sales[2024-01-01]", True), ("sales[2024-01-02]", True), ("sales[2024-01-03]", True),
        ("orders", True), ("customers", True)}

    edit(root, '"o1"', '"o2"')
    run(root, "make", "-q", "-p", "2024-01-01", "sales")  # one partition moves on; total was built from the old one
    down = json.loads(run(root, "lineage", "orders", "--json").output)["downstream"]
    assert [(d["key"], d["from_current"]) for d in down] == [
        ("sales[2024-01-01]", True), ("sales[2024-01-02]", False), ("sales[2024-01-03]", False), ("total", False)]
    text = run(root, "lineage", "orders").output
    assert "  sales[2024-01-01] @" in text and "(built from the current value; inputs" in text, text
    assert "  sales[2024-01-02…2024-01-03] (2 partitions)  (built from an older version)" in text, text


WRONG_TYPES = """\
from datamake import asset

@asset(io_manager="text")
def report():
    return {report}

@asset(io_manager="arrow")
def table():
    return {{"a": [1, 2]}}

@asset(io_manager="json")
def tags():
    return {{"x", "y"}}

@asset(io_manager="json")
def nested():
    return {{"tags": {{"x"}}}}
"""


def test_a_value_of_the_wrong_type_for_its_io_manager_fails_the_asset_with_a_plain_message(tmp_path):
    (tmp_path / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    (tmp_path / "pipeline.py").write_text(WRONG_TYPES.format(report='"all good"'))
    run(tmp_path, "make", "-q", "report")
    (tmp_path / "pipeline.py").write_text(WRONG_TYPES.format(report="2.5"))
    result = run(tmp_path, "make", "-k", expect=1)
    assert "File " not in result.output and "Error" not in result.output, result.output  # no library traceback
    errors = {a["key"]: a["error"] for a in json.loads(run(tmp_path, "make", "-k", "--json", expect=1).output)["assets"]}
    assert "io_manager 'text' stores str; asset `report` returned float" in errors["report"]
    assert "io_manager 'arrow' stores pyarrow.Table; asset `table` returned dict" in errors["table"]
    assert "io_manager 'json' stores JSON values" in errors["tags"] and "asset `tags` returned set" in errors["tags"]
    assert "the value holds what JSON cannot: a set" in errors["nested"]
    assert all("drop io_manager=" in e for e in errors.values()), errors
    assert run(tmp_path, "show", "report").output == "all good\n"  # the last good value stays


SHOWN = """\
from datamake import asset

@asset(io_manager="json")
def counts():
    return {f"k{i:03}": [i, i * 2] for i in range(500)}

@asset(io_manager="json")
def rows():
    return [{"id": i, "name": "ü" * 3} for i in range(50)]

@asset
def report():
    return "\\n".join(f"line {i}" for i in range(1000))
"""


def test_show_prints_json_as_json_and_cuts_big_values_to_n(tmp_path):
    (tmp_path / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    (tmp_path / "pipeline.py").write_text(SHOWN)
    run(tmp_path, "make", "-q")
    out = run(tmp_path, "show", "counts", "-n", "3").output
    shown, note = out.rstrip("\n").rsplit("\n", 1)
    assert json.loads(shown) == {"k000": [0, 0], "k001": [1, 2], "k002": [2, 4]}, out  # JSON, not a Python repr
    assert note == "… 497 more keys (-n shows more)"
    out = run(tmp_path, "show", "rows").output  # -n defaults to 10
    shown, note = out.rstrip("\n").rsplit("\n", 1)
    assert json.loads(shown) == [{"id": i, "name": "üüü"} for i in range(10)] and note.startswith("… 40 more items")
    out = run(tmp_path, "show", "report", "-n", "2").output
    assert out == "line 0\nline 1\n… 998 more lines (-n shows more)\n"


PRINTS = """\
import time

from datamake import asset

@asset(code_version="1")
def slow():
    time.sleep(0.3)  # the status line is up, naming the running asset
    return 1

@asset(code_version="1")
def chatty(slow):
    import sys

    print("said on stderr", file=sys.stderr, flush=True)
    print("said on stdout", flush=True)
    print("half a line", end="", file=sys.stderr, flush=True)
    time.sleep(0.8)  # the status line is redrawn meanwhile
    print(" and the rest", file=sys.stderr, flush=True)
    return 2
"""


def terminal_lines(raw: bytes) -> list:
    """What a terminal shows for ``raw``: carriage returns, erase-to-end-of-line and newlines applied."""
    lines, line, col = [], [], 0
    for token in re.split(r"(\r|\n|\x1b\[K)", raw.decode("utf-8", "replace")):
        if token == "\r":
            col = 0
        elif token == "\n":
            lines.append("".join(line))
            line, col = [], 0
        elif token == "\x1b[K":
            del line[col:]
        else:
            line[col:col + len(token)] = list(token)
            col += len(token)
    return lines + ["".join(line)]


@pytest.mark.parametrize("executor", ["inprocess", "process"])
def test_what_an_asset_prints_on_the_terminal_is_not_glued_to_the_status_line(tmp_path, executor):
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    (tmp_path / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    (tmp_path / "pipeline.py").write_text(PRINTS)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))  # 200 columns
    proc = subprocess.Popen([sys.executable, "-m", "datamake", "make", "--executor", executor], cwd=tmp_path,
                            stdin=follower, stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    raw = b""
    while True:
        try:
            chunk = os.read(leader, 1 << 16)
        except OSError:  # the terminal closed: every process holding it has exited
            break
        if not chunk:
            break
        raw += chunk
    assert proc.wait(timeout=60) == 0, raw
    os.close(leader)
    assert b"running: slow" in raw  # the status line was drawn
    shown = [line.rstrip() for line in terminal_lines(raw)]
    assert "said on stderr" in shown and "said on stdout" in shown, shown  # each on a line of its own
    assert shown.index("said on stderr") < shown.index("said on stdout"), shown  # in the order written
    assert "half a line" in shown and " and the rest" in shown, shown  # the status line went below, not into it
    assert any(line.startswith("done: 2 built") for line in shown), shown

"""Ops and graphs, content-addressed: an unchanged graph runs nothing, an edit reruns only
what its provenance reaches, a dynamic fan-out caches each chunk on its own.

Each op appends its invocation to ``runs.log`` beside the pipeline, so a test sees what
actually ran, not only what datamake reports.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import datamake.api as dm
from datamake.core.errors import ConfigError, DefinitionError
from datamake.define.loader import forget_project_code
from datamake.ops import run_graph

HEADER = '''
from dataclasses import dataclass
from pathlib import Path

from datamake import DynamicOut, DynamicOutput, Out, asset, graph, graph_asset, op

LOG = Path(__file__).parent / "runs.log"


def ran(name):
    with open(LOG, "a") as f:
        f.write(name + "\\n")
'''

GRAPH = HEADER + '''

@op
def numbers():
    ran("numbers")
    return [1, 2, 3, 4]


@op(out={"evens": Out(), "odds": Out(io_manager="json")})
def split(values):
    ran("split")
    return [v for v in values if v % 2 == 0], [v for v in values if v % 2]


@op
def total(values):
    ran("total")
    return sum(values)


@dataclass
class ScaleConfig:
    factor: int = 10


@op(config=ScaleConfig)
def scale(value, config):
    ran("scale")
    return value * config.factor


@graph
def report():
    evens, odds = split(numbers())
    return {"evens": scale(total(evens)), "odds": total(odds)}
'''


def load(root: Path):
    forget_project_code([str(root)])
    return dm.load(str(root))


def ran(root: Path) -> list:
    log = root / "runs.log"
    names = log.read_text().split() if log.exists() else []
    log.write_text("")
    return sorted(names)


def statuses(result: dict) -> dict:
    return {o["invocation"]: o["status"] for o in result["ops"]}


def edit(root: Path, old: str, new: str) -> None:
    path = root / "pipeline.py"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


@pytest.fixture
def graph_project(inprocess_project):
    inprocess_project.pipeline(GRAPH)
    return inprocess_project


def test_a_graph_runs_each_op_once_then_nothing_until_an_op_changes(graph_project):
    root = graph_project.root
    first = run_graph(load(root), "report")
    assert first["graph"] == "report" and first["status"] == "ok"
    assert statuses(first) == {"numbers": "ran", "split": "ran", "total": "ran", "total_2": "ran", "scale": "ran"}
    assert ran(root) == ["numbers", "scale", "split", "total", "total"]

    again = run_graph(load(root), "report")
    assert set(statuses(again).values()) == {"cached"} and ran(root) == []

    edit(root, "return sum(values)", "return sum(values) + 1")  # total changes: both invocations, then scale
    assert statuses(run_graph(load(root), "report")) == {
        "numbers": "cached", "split": "cached", "total": "ran", "total_2": "ran", "scale": "ran"}
    assert ran(root) == ["scale", "total", "total"]


def test_an_edit_that_keeps_the_output_stops_there(graph_project):
    root = graph_project.root
    run_graph(load(root), "report")
    ran(root)
    edit(root, "return [1, 2, 3, 4]", "return [1, 2] + [3, 4]")  # new code, same value: early cutoff
    assert statuses(run_graph(load(root), "report")) == {
        "numbers": "ran", "split": "cached", "total": "cached", "total_2": "cached", "scale": "cached"}
    assert ran(root) == ["numbers"]


def test_a_reverted_edit_is_restored_from_the_action_cache(graph_project):
    root = graph_project.root
    run_graph(load(root), "report")
    edit(root, "return sum(values)", "return sum(values) * 2")
    run_graph(load(root), "report")
    ran(root)
    edit(root, "return sum(values) * 2", "return sum(values)")
    assert set(statuses(run_graph(load(root), "report")).values()) == {"cached"}
    assert ran(root) == []


def test_op_config_is_part_of_the_provenance_and_is_checked(graph_project):
    root = graph_project.root
    run_graph(load(root), "report")
    ran(root)
    result = run_graph(load(root), "report", config={"scale": {"factor": 3}})
    assert statuses(result)["scale"] == "ran" and ran(root) == ["scale"]
    with pytest.raises(ConfigError, match="'scal'.*not an op of graph 'report'"):
        run_graph(load(root), "report", config={"scal": {"factor": 3}})
    with pytest.raises(ConfigError, match="op 'total'.*takes no config"):
        run_graph(load(root), "report", config={"total": {"x": 1}})
    with pytest.raises(ConfigError, match="config of op 'scale', field 'factor': expected int"):
        run_graph(load(root), "report", config={"scale": {"factor": "ten"}})


def test_a_failing_op_skips_what_depends_on_it_and_keeps_the_rest(graph_project):
    root = graph_project.root
    edit(root, 'ran("total")\n',
         'ran("total")\n    if values and values[0] == 1:\n        raise ValueError("odd one")\n')
    result = run_graph(load(root), "report")
    assert result["status"] == "failed"
    by_id = {o["invocation"]: o for o in result["ops"]}
    assert by_id["total_2"]["status"] == "failed" and "ValueError: odd one" in by_id["total_2"]["error"]
    assert by_id["total"]["status"] == "ran" and by_id["scale"]["status"] == "ran"
    ran(root)
    assert statuses(run_graph(load(root), "report"))["scale"] == "cached"  # what succeeded was kept


def test_dry_run_reports_what_would_run_and_runs_nothing(graph_project):
    root = graph_project.root
    run_graph(load(root), "report")
    edit(root, "return sum(values)", "return sum(values) + 1")
    ran(root)
    result = run_graph(load(root), "report", dry_run=True)
    assert ran(root) == []
    would = {o["invocation"] for o in result["ops"] if o.get("would_run")}
    assert {"total", "total_2"} <= would and statuses(result)["numbers"] == "cached"


@pytest.mark.parametrize("executor", ["thread", "process", "dask"])
def test_executors_run_ops_with_the_same_caching(graph_project, executor, request):
    root = graph_project.root
    if executor == "dask":
        address = request.getfixturevalue("dask_address")
        graph_project.write("datamake.toml", f'[project]\ndefinitions = "pipeline.py"\n'
                                             f'[execution]\naddress = "{address}"\n')
    result = run_graph(load(root), "report", executor=executor, jobs=2)
    assert set(statuses(result).values()) == {"ran"}, result
    assert set(statuses(run_graph(load(root), "report", executor=executor, jobs=2)).values()) == {"cached"}


def test_retries_rerun_a_flaky_op(inprocess_project):
    inprocess_project.pipeline(HEADER + '''
@op(retries=2, retry_delay=0.01)
def flaky():
    ran("flaky")
    if len(LOG.read_text().split()) < 2:
        raise OSError("try again")
    return 1


@graph
def g():
    return flaky()
''')
    result = run_graph(load(inprocess_project.root), "g")
    assert statuses(result) == {"flaky": "ran"} and ran(inprocess_project.root) == ["flaky", "flaky"]


def test_resources_reach_ops(inprocess_project):
    inprocess_project.pipeline(HEADER + '''
from datamake import resource

greeting = resource("greeting", lambda word="hi": word)


@op(resources=["greeting"])
def hello(greeting):
    return greeting + "!"


@op
def keep(text):
    ran(text)
    return text


@graph
def g():
    return keep(hello())
''', '[resources.greeting]\nword = "hey"\n')
    run_graph(load(inprocess_project.root), "g")
    assert ran(inprocess_project.root) == ["hey!"]


# -- dynamic fan-out -------------------------------------------------------------------------------

FAN_OUT = HEADER + '''

@asset
def numbers():
    return list(range(100))


@op(out=DynamicOut())
def chunks(values):
    ran("chunks")
    for i, v in enumerate(values):
        yield DynamicOutput([v], mapping_key=f"c{i}")


@op
def square(chunk):
    ran("square")
    return [x * x for x in chunk]


@op
def join(parts):
    ran("join")
    return sum(sum(p) for p in parts)


@graph_asset
def squares(numbers):
    return join(chunks(numbers).map(square).collect())
'''


def test_fan_out_over_100_chunks_reruns_one_mapped_op_and_the_collect_step(inprocess_project):
    inprocess_project.pipeline(FAN_OUT)
    root = inprocess_project.root
    assert inprocess_project.outcomes() == {"numbers": "built", "squares": "built"}
    assert ran(root) == ["chunks", "join", *["square"] * 100]
    assert json.loads(inprocess_project.run("show", "squares").stdout) == sum(x * x for x in range(100))

    edit(root, "return list(range(100))", "return [v if v != 42 else 1000 for v in range(100)]")
    assert inprocess_project.states() == {"numbers": "stale", "squares": "stale"}
    assert inprocess_project.outcomes() == {"numbers": "built", "squares": "built"}
    assert ran(root) == ["chunks", "join", "square"]  # one chunk changed: one mapped invocation
    log = inprocess_project.json("log")["runs"][0]
    ops = {o["invocation"]: o["status"] for o in inprocess_project.json("log", "--run", log["run_id"])["ops"]}
    assert ops["square[c42]"] == "ran" and ops["join"] == "ran" and ops["chunks"] == "ran"
    assert sum(1 for s in ops.values() if s == "cached") == 99


def test_graph_asset_is_stale_when_one_of_its_ops_changes(inprocess_project):
    inprocess_project.pipeline(FAN_OUT)
    root = inprocess_project.root
    inprocess_project.outcomes()
    assert inprocess_project.states() == {"numbers": "fresh", "squares": "fresh"}
    ran(root)
    edit(root, "return sum(sum(p) for p in parts)", "return sum(sum(p) for p in parts) - 1")
    status = inprocess_project.json("status")["assets"]
    squares = next(a for a in status if a["key"] == "squares")
    assert squares["state"] == "stale" and squares["reasons"][0]["code"] == "code_changed"
    why = inprocess_project.run("why", "squares").stdout
    assert "join" in why
    assert inprocess_project.outcomes() == {"numbers": "skipped", "squares": "built"}
    assert ran(root) == ["join"]  # the 100 squares and the chunks come from the action cache
    assert inprocess_project.outcomes() == {"numbers": "skipped", "squares": "skipped"}


# -- definition errors -----------------------------------------------------------------------------

def test_definition_errors_name_the_op_and_the_fix():
    from datamake import DynamicOut, Out, graph, op
    from datamake.ops.trace import trace

    with pytest.raises(DefinitionError, match="out= must be"):
        op(out=["a"])(lambda: 1)

    @op
    def one(x):
        return x

    @op(out={"a": Out(), "b": Out()})
    def two():
        return 1, 2

    @graph
    def missing_input():
        one()

    with pytest.raises(DefinitionError, match="without its input 'x'"):
        trace(missing_input)

    @graph
    def unpacked():
        a, b = one(1)

    with pytest.raises(DefinitionError, match="cannot unpack"):
        trace(unpacked)

    @graph
    def not_json():
        one(object())

    with pytest.raises(DefinitionError, match="not JSON-serializable"):
        trace(not_json)

    @op(out=DynamicOut())
    def dyn():
        yield 1

    @graph
    def dynamic_as_plain():
        one(dyn())

    with pytest.raises(DefinitionError, match="is a dynamic output"):
        trace(dynamic_as_plain)
    assert one(3) == 3 and two() == (1, 2)  # outside a graph an op is its function
    with pytest.raises(DefinitionError, match="run by datamake, not called directly"):
        missing_input()


def test_a_graph_run_is_in_the_event_log_with_its_tags_and_invocations(graph_project, monkeypatch):
    root = graph_project.root
    monkeypatch.setenv("DATAMAKE_RUN_TAGS", '{"origin": "ui"}')
    result = run_graph(load(root), "report", run_tags={"job": "nightly"})
    monkeypatch.delenv("DATAMAKE_RUN_TAGS")
    run = graph_project.json("log")["runs"][0]
    assert run["run_id"] == result["run_id"] and run["status"] == "ok"
    assert run["tags"] == {"job": "nightly", "origin": "ui"}
    text = graph_project.run("log", "--run", result["run_id"]).stdout
    assert "op invocations:" in text and "total_2" in text
    pruned = graph_project.json("log", "--prune", "2999-01-01")
    assert pruned["pruned_runs"] == 1 and pruned["pruned_events"] == 5  # the run's five op invocations


MULTI = HEADER + '''
from datamake import AssetOut, graph_multi_asset


@asset
def raw():
    return list(range(10))


@op
def clean(values):
    ran("clean")
    return [v for v in values if v != 3]


@op(out={"train": Out(), "test": Out()})
def split(values):
    ran("split")
    return values[:6], values[6:]


@op
def label(values):
    ran("label")
    return [v * 10 for v in values]


@graph_multi_asset(outs={"train": {}, "test": AssetOut(io_manager="json")})
def splits(raw):
    train, test = split(clean(raw))
    return {"train": train, "test": label(test)}


@asset
def train_size(train):
    ran("train_size")
    return len(train)
'''


def test_graph_multi_asset_builds_several_assets_and_shares_its_ops(inprocess_project):
    inprocess_project.pipeline(MULTI)
    root = inprocess_project.root
    assert inprocess_project.outcomes() == {"raw": "built", "train": "built", "test": "built", "train_size": "built"}
    assert ran(root) == ["clean", "label", "split", "train_size"]  # shared ops ran once
    assert json.loads(inprocess_project.run("show", "test").stdout) == [70, 80, 90]

    edit(root, "return [v * 10 for v in values]", "return [v * 100 for v in values]")
    assert inprocess_project.states()["test"] == "stale"
    outcomes = inprocess_project.outcomes()
    assert outcomes["test"] == "built" and outcomes["train_size"] == "skipped"  # train's value did not change
    assert ran(root) == ["label"]


@pytest.mark.parametrize("body, config, fragments", [
    ("return split(raw)", None, ("graph asset 'bad' must return exactly one op output, it returns 2",
                                 "@graph_multi_asset")),
    ("total(raw)\n    return raw", None, ("graph asset 'bad' must return an op's output",)),
    ("return 3", None, ("graph 'bad' calls no op",)),
    ("return total(raw)", {"totl": {"x": 1}}, ("config given for 'totl', which is not an op of graph 'bad'",
                                               "did you mean")),
])
def test_a_wrong_graph_asset_is_a_definition_error_naming_it(inprocess_project, body, config, fragments):
    inprocess_project.pipeline(GRAPH + f'''

@asset
def raw():
    return [1, 2]


@graph_asset(config={config!r})
def bad(raw):
    {body}
''')
    proc = inprocess_project.run("status")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr


def test_what_an_op_reads_that_cannot_be_versioned_is_named_in_a_warning(inprocess_project):
    inprocess_project.pipeline(HEADER + '''
import threading

LOCK = threading.Lock()


@op
def guarded():
    with LOCK:
        return 1


@graph
def g():
    return guarded()
''')
    result = run_graph(load(inprocess_project.root), "g")
    assert any("op guarded" in w and "LOCK" in w for w in result["warnings"]), result["warnings"]


def test_a_job_over_a_graph_runs_it_from_the_command_line(inprocess_project):
    inprocess_project.pipeline(GRAPH + '''
from datamake import job

nightly = job("nightly", graph=report, config={"scale": {"factor": 2}})
not_a_graph = job("broken", graph=total)
''')
    first = inprocess_project.run("run", "nightly")
    assert first.returncode == 0 and "ran      total_2" in first.stdout, first.stderr
    assert "cached   total_2" in inprocess_project.run("run", "nightly").stdout
    bad = inprocess_project.run("run", "nightly", "--config", "scale.factor=many")
    assert bad.returncode == 2 and "config of op 'scale', field 'factor'" in bad.stderr
    broken = inprocess_project.run("run", "broken")
    assert broken.returncode == 2 and "takes a @graph" in broken.stderr and "Traceback" not in broken.stderr
    edit(inprocess_project.root, 'ran("total")\n', 'ran("total")\n    raise ValueError("no")\n')
    failed = inprocess_project.run("run", "nightly")
    assert failed.returncode == 1 and "failed   total" in failed.stdout and "ValueError: no" in failed.stdout


def test_a_fan_out_of_no_chunks_is_cached_too(inprocess_project):
    inprocess_project.pipeline(HEADER + '''
@op(out=DynamicOut())
def nothing():
    ran("nothing")
    return []


@op
def count(parts):
    ran("count")
    return len(parts)


@graph
def g():
    return count(nothing().map(lambda chunk: count(chunk)).collect())
''')
    root = inprocess_project.root
    assert statuses(run_graph(load(root), "g")) == {"nothing": "ran", "count_2": "ran"}
    assert set(statuses(run_graph(load(root), "g")).values()) == {"cached"}

"""Table tests for the pure planner: every reason code, decide() and plan()."""
from __future__ import annotations

from typing import Dict, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamake.core.manifest import Manifest
from datamake.core.planner import (
    REASON_CODES, UPSTREAM_STALE, AssetFacts, CheckFact, Reason, _reasons, current_data_version, decide, fresh, plan,
    provenance,
)
from datamake.execution.results import AssetOutcome, RunResult


def manifest(key: str, code: str = "1", inputs: Optional[Dict[str, str]] = None, config: Optional[str] = None,
             data: str = "d0") -> Manifest:
    """A recorded materialization of ``key``."""
    inputs = inputs or {}
    return Manifest(
        key=key, code_version=code, provenance=provenance(key, code, inputs, config), data_version=data,
        artifact=data * 8, size=10, io_manager="json", inputs=tuple(sorted(inputs.items())), config_hash=config,
    )


def codes(reasons) -> list:
    return [r.code for r in reasons]


# -- decide(): one row per reason code -----------------------------------------------------

RECORDED = manifest("b", code="1", inputs={"a": "va"})
CASES = [
    # (id, facts, upstream status, sources, expected reason codes)
    ("fresh", AssetFacts("b", "1", ("a",), manifest=RECORDED), {"a": "va"}, (), []),
    ("never_materialized", AssetFacts("b", "1", ("a",)), {"a": "va"}, (), ["never_materialized"]),
    ("code_changed", AssetFacts("b", "2", ("a",), manifest=RECORDED), {"a": "va"}, (), ["code_changed"]),
    ("config_changed", AssetFacts("b", "1", ("a",), config_hash="c1", manifest=RECORDED), {"a": "va"}, (),
     ["config_changed"]),
    ("deps_changed (added)", AssetFacts("b", "1", ("a", "x"), manifest=RECORDED), {"a": "va", "x": "vx"}, (),
     ["deps_changed"]),
    ("deps_changed (removed)", AssetFacts("b", "1", (), manifest=RECORDED), {}, (), ["deps_changed"]),
    ("input_changed", AssetFacts("b", "1", ("a",), manifest=RECORDED), {"a": "va2"}, (), ["input_changed"]),
    ("upstream_stale", AssetFacts("b", "1", ("a",), manifest=RECORDED), {"a": UPSTREAM_STALE}, (),
     ["upstream_stale"]),
    ("upstream without value", AssetFacts("b", "1", ("a",), manifest=RECORDED), {}, (), ["upstream_stale"]),
    ("source_changed", AssetFacts("b", "1", ("a",), manifest=RECORDED), {"a": "va2"}, ("a",), ["source_changed"]),
    ("source_changed (a file read undeclared)", AssetFacts("b", "1", ("a",), manifest=RECORDED,
                                                         reads_changed=("queries/b.sql",)), {"a": "va"}, (),
     ["source_changed"]),
    ("artifact_missing", AssetFacts("b", "1", ("a",), manifest=RECORDED, artifact_ok=False), {"a": "va"}, (),
     ["artifact_missing"]),
    ("forced", AssetFacts("b", "1", ("a",), manifest=RECORDED, forced=True), {"a": "va"}, (), ["forced"]),
    ("forced and never materialized", AssetFacts("b", "1", ("a",), forced=True), {"a": "va"}, (),
     ["forced", "never_materialized"]),
    ("check_failed",
     AssetFacts("b", "1", ("a",), manifest=RECORDED, checks=(CheckFact("c", "v1", True),),
                recorded_checks=(CheckFact("c", "v1", True, passed=False),)), {"a": "va"}, (), ["check_failed"]),
    ("checks_changed", AssetFacts("b", "1", ("a",), manifest=RECORDED, checks=(CheckFact("c", "v2", True),),
                                  recorded_checks=(CheckFact("c", "v1", True, passed=False),)), {"a": "va"}, (),
     ["checks_changed"]),
    ("a passing blocking check", AssetFacts("b", "1", ("a",), manifest=RECORDED, checks=(CheckFact("c", "v1", True),),
                                            recorded_checks=(CheckFact("c", "v1", True, passed=True),)),
     {"a": "va"}, (), []),
    ("everything at once",
     AssetFacts("b", "2", ("a", "x"), config_hash="c", manifest=RECORDED, artifact_ok=False, forced=True),
     {"a": "va2", "x": UPSTREAM_STALE}, (),
     ["forced", "artifact_missing", "code_changed", "config_changed", "deps_changed", "input_changed",
      "upstream_stale"]),
]


@pytest.mark.parametrize("facts, upstream, sources, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decide(facts, upstream, sources, expected):
    assert codes(decide(facts, upstream, sources)) == expected


def test_every_reason_code_is_covered_by_the_table():
    covered = {code for case in CASES for code in case[-1]}
    assert covered == set(REASON_CODES)


@pytest.mark.parametrize("facts, upstream, sources, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_reasons_carry_a_known_code_and_a_message(facts, upstream, sources, expected):
    for reason in decide(facts, upstream, sources):
        assert reason.code in REASON_CODES
        assert reason.message.strip()
        assert reason.to_dict() == {"code": reason.code, "message": reason.message}


def test_messages_name_what_changed():
    (code,) = decide(AssetFacts("b", "2", ("a",), manifest=RECORDED), {"a": "va"})
    assert "1" in code.message and "2" in code.message
    (deps,) = decide(AssetFacts("b", "1", ("x",), manifest=manifest("b", inputs={"a": "va"})), {"x": "vx"})
    assert "added x" in deps.message and "removed a" in deps.message
    (inp,) = decide(AssetFacts("b", "1", ("a",), manifest=RECORDED), {"a": "vb"})
    assert "a" in inp.message
    (up,) = decide(AssetFacts("b", "1", ("a",), manifest=RECORDED), {"a": UPSTREAM_STALE})
    assert up.message == "a will be rebuilt first"


def test_the_files_an_asset_read_undeclared_round_trip_and_leave_other_manifests_unchanged():
    read = RECORDED.replace(reads=(("queries/b.sql", "v1"),))
    assert Manifest.from_json(read.to_json()) == read
    assert b"reads" not in RECORDED.to_json()  # a manifest without such reads keeps its bytes
    (reason,) = decide(AssetFacts("b", "1", ("a",), manifest=read, reads_changed=("queries/b.sql",)), {"a": "va"})
    assert "queries/b.sql" in reason.message
    bad = read.to_data()
    bad["reads"] = [["queries/b.sql"]]
    with pytest.raises(ValueError, match="reads holds"):
        Manifest.from_data(bad)


def test_decide_is_pure_and_repeatable():
    facts = AssetFacts("b", "2", ("a",), manifest=RECORDED)
    assert decide(facts, {"a": "va2"}) == decide(facts, {"a": "va2"})
    assert all(isinstance(r, Reason) for r in decide(facts, {"a": "va2"}))


# -- early cutoff through decide() ------------------------------------------------------------

def test_early_cutoff_upstream_rebuilt_to_the_same_value_means_fresh():
    facts = AssetFacts("b", "1", ("a",), manifest=RECORDED)
    assert codes(decide(facts, {"a": UPSTREAM_STALE})) == ["upstream_stale"]  # at planning time
    assert decide(facts, {"a": "va"}) == ()  # a finished with its old data version: no rebuild
    assert codes(decide(facts, {"a": "new"})) == ["input_changed"]  # a really changed


# -- plan() ---------------------------------------------------------------------------------

def chain_facts(**overrides) -> Dict[str, AssetFacts]:
    """a -> b -> c, all materialized and fresh unless overridden."""
    ma = manifest("a", data="va")
    mb = manifest("b", inputs={"a": "va"}, data="vb")
    mc = manifest("c", inputs={"b": "vb"}, data="vc")
    facts = {
        "a": AssetFacts("a", "1", (), manifest=ma),
        "b": AssetFacts("b", "1", ("a",), manifest=mb),
        "c": AssetFacts("c", "1", ("b",), manifest=mc),
    }
    facts.update(overrides)
    return facts


ORDER = ("a", "b", "c")


def test_plan_all_fresh():
    p = plan(chain_facts(), ORDER)
    assert p.stale == []
    assert [d.key for d in p.decisions] == list(ORDER)
    assert all(d.state == "fresh" and d.reasons == () for d in p.decisions)


def test_plan_propagates_upstream_stale_down_the_chain():
    p = plan(chain_facts(a=AssetFacts("a", "2", (), manifest=manifest("a", data="va"))), ORDER)
    assert p.stale == ["a", "b", "c"]
    assert codes(p["a"].reasons) == ["code_changed"]
    assert codes(p["b"].reasons) == ["upstream_stale"]
    assert codes(p["c"].reasons) == ["upstream_stale"]
    assert p["c"].reasons[0].message == "b will be rebuilt first"


def test_plan_change_in_the_middle_leaves_upstream_fresh():
    p = plan(chain_facts(b=AssetFacts("b", "9", ("a",), manifest=manifest("b", inputs={"a": "va"}, data="vb"))), ORDER)
    assert [d.state for d in p.decisions] == ["fresh", "stale", "stale"]


def test_plan_uses_data_versions_of_fresh_upstream():
    # a's manifest says "va2" but b recorded "va": b sees input_changed, c sees upstream_stale
    p = plan(chain_facts(a=AssetFacts("a", "1", (), manifest=manifest("a", data="va2"))), ORDER)
    assert codes(p["b"].reasons) == ["input_changed"]
    assert codes(p["c"].reasons) == ["upstream_stale"]


def test_plan_artifact_missing_in_the_middle():
    p = plan(chain_facts(b=AssetFacts("b", "1", ("a",), manifest=manifest("b", inputs={"a": "va"}, data="vb"),
                                      artifact_ok=False)), ORDER)
    assert codes(p["b"].reasons) == ["artifact_missing"]
    assert codes(p["c"].reasons) == ["upstream_stale"]


def test_plan_with_outside_dependencies_only():
    facts = {"c": chain_facts()["c"]}
    assert plan(facts, ("c",), outside={"b": "vb"}).stale == []
    assert codes(plan(facts, ("c",), outside={"b": "other"})["c"].reasons) == ["input_changed"]
    assert codes(plan(facts, ("c",), outside={"b": None})["c"].reasons) == ["upstream_stale"]


def test_plan_source_dependency():
    # observed sources are not planned: their observed version comes in through `outside`
    user = AssetFacts("user", "1", ("raw",), manifest=manifest("user", inputs={"raw": "s1"}))
    assert plan({"user": user}, ("user",), outside={"raw": "s1"}, sources=["raw"]).stale == []
    p = plan({"user": user}, ("user",), outside={"raw": "s2"}, sources=["raw"])
    assert codes(p["user"].reasons) == ["source_changed"]
    assert "source raw changed" in p["user"].reasons[0].message


def test_plan_does_not_depend_on_mapping_order():
    facts = chain_facts(a=AssetFacts("a", "2", (), manifest=manifest("a", data="va")))
    reordered = {k: facts[k] for k in reversed(list(facts))}
    assert plan(facts, ORDER) == plan(reordered, ORDER)


def test_plan_to_dict_shape():
    p = plan(chain_facts(a=AssetFacts("a", "1", ())), ORDER)
    assert p["a"].to_dict() == {
        "key": "a", "partition": None, "state": "stale",
        "reasons": [{"code": "never_materialized", "message": "never materialized"}],
    }
    with pytest.raises(KeyError):
        p["nope"]


def test_plan_and_run_result_look_up_by_key_and_node_id_and_name_an_unknown_key():
    facts = {"a": AssetFacts("a", "1"),
             "p[d1]": AssetFacts("p", "1", ("a",), partition="d1"),
             "p[d2]": AssetFacts("p", "1", ("a",), partition="d2", manifest=manifest("p"))}
    p = plan(facts, list(facts))
    assert p["a"].key == "a" and p["p[d2]"].partition == "d2" and p["p"].partition == "d1"
    run = RunResult("r1", tuple(AssetOutcome(d.key, "built" if d.stale else "skipped", d.partition)
                                for d in p.decisions))
    assert run["p[d1]"].partition == "d1" and run["p[d2]"].partition == "d2" and run["p"].partition == "d1"
    for lookup, where in ((p, "plan"), (run, "run")):
        with pytest.raises(KeyError, match=f"'p\\[d3\\]' is not in this {where}"):
            lookup["p[d3]"]


def test_current_data_version():
    assert current_data_version(AssetFacts("a", "1")) is None
    assert current_data_version(AssetFacts("a", "1", manifest=manifest("a", data="dv"))) == "dv"


def test_code_changed_names_the_changed_code_parts():
    recorded = manifest("b", code="1").replace(code_parts={"<self>": "h1", "helper": "h2"})
    facts = AssetFacts("b", "2", (), manifest=recorded, code_parts={"<self>": "h1", "helper": "h3"})
    (reason,) = decide(facts, {})
    assert reason.code == "code_changed"
    assert "helper" in reason.message and "the function itself" not in reason.message


# -- provenance -------------------------------------------------------------------------------

def test_provenance_is_pinned():
    # A change here changes every cache key users have: make it deliberately.
    assert provenance("clean", "1", {"raw": "abc"}) == "3d71f31dd24c2c1c1b9df8fd21c71518"


def test_provenance_depends_on_everything_that_determines_the_value():
    base = provenance("k", "1", {"a": "x", "b": "y"})
    assert base == provenance("k", "1", {"b": "y", "a": "x"})  # input order does not matter
    assert base != provenance("j", "1", {"a": "x", "b": "y"})
    assert base != provenance("k", "2", {"a": "x", "b": "y"})
    assert base != provenance("k", "1", {"a": "x", "b": "z"})
    assert base != provenance("k", "1", {"a": "x"})
    assert base != provenance("k", "1", {"a": "x", "b": "y"}, config_hash="c")
    assert base != provenance("k", "1", {"a": "x", "b": "y"}, partition="2024-01-01")


def test_the_dependency_order_is_by_layers_each_sorted_whatever_the_declaration_order():
    from datamake.core.graph import AssetGraph

    deps = {"report": ("clean", "raw"), "clean": ("raw",), "raw": (), "b_side": (), "a_side": ("b_side",),
            "zz": ()}
    expected = ("b_side", "raw", "zz", "a_side", "clean", "report")
    assert AssetGraph(deps).order == expected
    assert AssetGraph(dict(reversed(list(deps.items())))).order == expected


def test_a_cycle_below_assets_that_are_fine_is_named():
    from datamake.core.errors import CycleError
    from datamake.core.graph import AssetGraph

    with pytest.raises(CycleError) as err:
        AssetGraph({"raw": (), "first": ("raw", "third"), "second": ("first",), "third": ("second",),
                    "report": ("first",)})
    assert {"first", "second", "third"} <= set(err.value.message.replace(" -> ", " ").split()[2:])


# -- fresh(): decide()'s fast answer agrees with the reasons it would gather -----------------

_VERSIONS = st.sampled_from(["va", "vb"])
_STATUS = st.one_of(_VERSIONS, st.just(UPSTREAM_STALE), st.none())


@given(deps=st.lists(st.sampled_from("axyz"), max_size=3, unique=True), recorded=st.dictionaries(st.sampled_from("axyz"), _VERSIONS,
       max_size=3), upstream=st.dictionaries(st.sampled_from("axyz"), _STATUS), code=st.sampled_from("12"),
       config=st.sampled_from([None, "c"]), has_manifest=st.booleans(), ok=st.booleans(), forced=st.booleans(),
       checked=st.booleans(), reads_changed=st.sampled_from([(), ("notes.txt",)]))
def test_fresh_is_true_exactly_when_decide_finds_no_reason(deps, recorded, upstream, code, config, has_manifest, ok,
                                                           forced, checked, reads_changed):
    m = manifest("b", inputs=recorded) if has_manifest else None
    checks = (CheckFact("c", "v1", True),) if checked else ()
    facts = AssetFacts("b", code, tuple(deps), config_hash=config, manifest=m, artifact_ok=ok, forced=forced,
                       checks=checks, recorded_checks=tuple(CheckFact(c.name, c.version, True, True) for c in checks),
                       reads_changed=reads_changed)
    no_reason = _reasons(facts, upstream, ()) == ()
    assert fresh(facts, m, ok, upstream) == (no_reason and not checked)
    assert (decide(facts, upstream) == ()) == no_reason


def test_every_planner_fact_is_known_to_fresh():
    """A new fact the planner decides by must be one fresh() looks at too (or leaves to the reasons):
    this list is the reminder, kept in step with fresh() and the property test above."""
    from dataclasses import fields

    assert {f.name for f in fields(AssetFacts)} == {
        "key", "code_version", "deps", "config_hash", "partition", "manifest", "artifact_ok", "forced", "code_parts",
        "code_pinned", "checks", "recorded_checks", "reads_changed",
        "unreadable",  # (only said of an asset with no manifest: never fresh)
    }, "a new planner fact: teach fresh() about it"

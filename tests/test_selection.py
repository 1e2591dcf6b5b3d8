"""The selection language: one pure parser and evaluator, checked against a brute-force model on random
graphs (hypothesis), its algebra (union, intersection, double negation, de Morgan), the forms that
existed before it, and errors that point at the column of the bad token."""
from __future__ import annotations

import fnmatch
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamake.core.errors import SelectionError
from datamake.selection import Universe, parse, select
from datamake.selection.nodes import And, Attr, Everything, Key, Not, Or, Traverse

POOL = ["a", "b", "c.d", "e-f", "sales/g", "sales/h", "sales/eu/i", "ops/j"]


# -- a brute-force model ----------------------------------------------------------------------------

def distances(keys, deps):
    """dist[(x, y)]: the fewest dependency edges from x up to y (Floyd-Warshall: another algorithm than BFS)."""
    inf = float("inf")
    dist = {(x, y): 0 if x == y else (1 if y in deps[x] else inf) for x in keys for y in keys}
    for k, i, j in itertools.product(keys, keys, keys):
        if dist[(i, k)] + dist[(k, j)] < dist[(i, j)]:
            dist[(i, j)] = dist[(i, k)] + dist[(k, j)]
    return dist


def brute(tree, world):
    keys, deps, groups, tags, kinds, dist = world
    kind = tree[0]
    if kind == "key":
        return {tree[1]}
    if kind == "glob":
        return {k for k in keys if fnmatch.fnmatchcase(k, tree[1])}
    if kind == "group":
        return {k for k in keys if groups[k] == tree[1]}
    if kind == "kind":
        return {k for k in keys if kinds[k] == tree[1]}
    if kind == "tag":
        name, value = tree[1], tree[2]
        return {k for k in keys if name in tags[k] and (value is None or tags[k][name] == value)}
    if kind == "not":
        return set(keys) - brute(tree[1], world)
    if kind in ("and", "or", "side"):
        left, right = brute(tree[1], world), brute(tree[2], world)
        return left & right if kind == "and" else left | right
    if kind == "trav":
        inner, up, down = brute(tree[1], world), tree[2], tree[3]
        def near(d, n):
            return n != 0 and d != float("inf") and (n is None or d <= n)

        return inner | {x for x in keys for s in inner if near(dist[(s, x)], up) or near(dist[(x, s)], down)}
    raise AssertionError(tree)


def text_of(tree):
    """The tree as a selection string, fully parenthesized."""
    kind = tree[0]
    if kind in ("key", "glob"):
        return tree[1]
    if kind in ("group", "kind"):
        return f"{kind}:{tree[1]}"
    if kind == "tag":
        return f"tag:{tree[1]}" + ("" if tree[2] is None else f"={tree[2]}")
    if kind == "not":
        return f"(not {text_of(tree[1])})"
    if kind in ("and", "or"):
        return f"({text_of(tree[1])} {kind} {text_of(tree[2])})"
    if kind == "side":
        return f"({text_of(tree[1])} {text_of(tree[2])})"
    up, down = tree[2], tree[3]
    before = "" if up == 0 else ("+" if up is None else f"{up}+")
    after = "" if down == 0 else ("+" if down is None else f"+{down}")
    return f"{before}({text_of(tree[1])}){after}"


@st.composite
def worlds(draw):
    n = draw(st.integers(1, len(POOL)))
    keys = POOL[:n]
    deps = {k: tuple(sorted(d for j, d in enumerate(keys[:i]) if draw(st.booleans()))) for i, k in enumerate(keys)}
    groups = {k: draw(st.sampled_from(["g1", "g2"])) for k in keys}
    tags = {k: draw(st.dictionaries(st.sampled_from(["tier", "slow"]), st.sampled_from(["gold", "true"]), max_size=2))
            for k in keys}
    kinds = {k: draw(st.sampled_from(["auto", "json", "source"])) for k in keys}
    return keys, deps, groups, tags, kinds, distances(keys, deps)


def leaves(world):
    keys, deps, groups, tags, kinds, _ = world
    out = [st.sampled_from([("key", k) for k in keys]),
           st.sampled_from([("glob", k.split("/")[0] + "/*") for k in keys if "/" in k] or [("glob", "*")]),
           st.sampled_from([("group", g) for g in sorted(set(groups.values()))]),
           st.sampled_from([("kind", c) for c in sorted(set(kinds.values()))])]
    pairs = sorted({(n, v) for t in tags.values() for n, v in t.items()})
    if pairs:
        out.append(st.sampled_from([("tag", n, v) for n, v in pairs] + [("tag", n, None) for n, _ in pairs]))
    return st.one_of(out)


def trees(world):
    depth = st.sampled_from([0, 1, 2, None])
    return st.recursive(leaves(world), lambda inner: st.one_of(
        st.tuples(st.just("not"), inner),
        st.tuples(st.sampled_from(["and", "or", "side"]), inner, inner),
        st.tuples(st.just("trav"), inner, depth, depth)), max_leaves=6)


def universe_of(world):
    keys, deps, groups, tags, kinds, _ = world
    return Universe(deps, groups, tags, kinds)


@given(st.data())
def test_evaluation_agrees_with_a_brute_force_model_on_random_graphs(data):
    world = data.draw(worlds())
    tree = data.draw(trees(world))
    assert select(universe_of(world), text_of(tree)) == brute(tree, world), text_of(tree)


@given(st.data())
def test_the_algebra_of_and_or_not(data):
    world = data.draw(worlds())
    universe, everything = universe_of(world), set(world[0])
    a, b = text_of(data.draw(trees(world))), text_of(data.draw(trees(world)))
    A, B = select(universe, a), select(universe, b)
    assert select(universe, f"{a} or {b}") == A | B == select(universe, [a, b])  # arguments side by side: a union
    assert select(universe, f"{a} and {b}") == A & B
    assert select(universe, f"not not {a}") == A
    assert select(universe, f"not ({a} or {b})") == select(universe, f"not {a} and not {b}") == everything - (A | B)
    assert select(universe, f"not ({a} and {b})") == select(universe, f"not {a} or not {b}") == everything - (A & B)


# -- precedence and the forms users already type ----------------------------------------------------

CHAIN = Universe({"raw": (), "clean": ("raw",), "report": ("clean",), "other": ()},
                 groups={"raw": "ingest", "clean": "ingest", "report": "reports", "other": "reports"},
                 tags={"clean": {"slow": "true"}, "report": {"tier": "gold"}},
                 kinds={"raw": "auto", "clean": "json", "report": "text", "other": "auto"})


@pytest.mark.parametrize("text, expected", [
    ("", {"raw", "clean", "report", "other"}),                  # nothing: every asset, as before
    ("clean", {"clean"}),
    ("raw other", {"raw", "other"}),                            # several keys: a union, as before
    ("group:ingest", {"raw", "clean"}),
    ("clean+", {"clean", "report"}),                            # KEY+: downstream, as before
    ("+clean", {"raw", "clean"}),
    ("1+report", {"clean", "report"}),
    ("raw+1", {"raw", "clean"}),
    ("+clean+", {"raw", "clean", "report"}),
    ("group:ingest and not tag:slow=true", {"raw"}),
    ("raw or clean and report", {"raw"}),                       # and binds tighter than or
    ("not raw and not other", {"clean", "report"}),             # not binds tighter than and
    ("(raw or clean) and +clean", {"raw", "clean"}),
    ("(raw or other)+", {"raw", "clean", "report", "other"}),
    ("tag:tier", {"report"}),
    ('tag:tier="gold"', {"report"}),
    ("kind:auto", {"raw", "other"}),
    ("*", {"raw", "clean", "report", "other"}),
    ("r*", {"raw", "report"}),
    ("key:clean", {"clean"}),
    ("NOT raw AND NOT other", {"clean", "report"}),
])
def test_selections(text, expected):
    assert select(CHAIN, text) == expected


def test_keys_that_are_keywords_and_prefix_globs():
    universe = Universe({"not": (), "sales/a": (), "sales/eu/b": ("sales/a",), "salesx": ()})
    assert select(universe, "key:not") == select(universe, '"not"') == {"not"}
    assert select(universe, "sales/*") == {"sales/a", "sales/eu/b"}
    assert select(universe, "key:sales/* and not sales/a+") == set()


def test_a_list_of_exact_keys_means_what_the_language_says():
    universe = Universe({"not": (), "sales/a": (), "sales/eu/b": ("sales/a",), "x-1.v2": ()})
    assert select(universe, ["sales/a", "x-1.v2"]) == select(universe, "sales/a x-1.v2") == {"sales/a", "x-1.v2"}
    assert select(universe, ["sales/a+"]) == {"sales/a", "sales/eu/b"}  # not mistaken for a key
    with pytest.raises(SelectionError, match="needs a selection|unexpected"):
        select(universe, ["not"])  # a keyword stays a keyword, as typed on the command line
    with pytest.raises(SelectionError, match="unknown asset 'sales/b'"):
        select(universe, ["sales/a", "sales/b"])


def test_the_tree_of_a_selection():
    assert parse("a or b and not c") == Or((Key("a", 0, 1), And((Key("b", 5, 6), Not(Key("c", 15, 16))))))
    assert parse(["2+a+", "group:g"]) == Or((Traverse(Key("a", 2, 3), 2, None), Attr("group", "g", None, 5, 12)))
    assert parse("  ") == Everything()


# -- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message, column, width", [
    ("group:ingest and clena", "unknown asset 'clena'", 18, 5),
    ("group:ingset", "no asset is in group 'ingset'", 1, 12),
    ("raw and (clean or", "'or' needs a selection after it", 16, 2),
    ("raw and (clean", "'(' is never closed", 9, 1),
    ("raw)", "')' without a '(' before it", 4, 1),
    ("raw +", "'+' must touch the selection it extends", 5, 1),
    ("and raw", "'and' needs a selection before it", 1, 3),
    ("grup:ingest", "unknown filter 'grup:'", 1, 5),
    ("tag:tier=silver", "no asset has the tag tier=silver", 1, 15),
    ("tag:owner", "no asset has the tag 'owner'", 1, 9),
    ("kind:parquet", "no asset is of kind 'parquet'", 1, 12),
    ("raw or rpt/*", "no asset matches 'rpt/*'", 8, 5),
    ('tag:team="data', "this quote is never closed", 10, 5),
    ("raw@home", "'raw@home' is not an asset key", 1, 8),
    ("group:", "'group:' needs a value", 1, 6),
])
def test_errors_name_the_problem_and_point_at_its_column(text, message, column, width):
    with pytest.raises(SelectionError) as info:
        select(CHAIN, text)
    first, shown, caret = info.value.message.splitlines()
    assert first == f"{message} (column {column} of the selection)"
    assert shown.strip() == text and caret.index("^") - shown.index(text[0]) == column - 1
    assert caret.count("^") == width and info.value.hint


def test_did_you_mean_hints():
    with pytest.raises(SelectionError) as info:
        select(CHAIN, "claen")
    assert info.value.hint == "did you mean 'clean'?"
    with pytest.raises(SelectionError) as info:
        select(CHAIN, "group:report")
    assert info.value.hint == "did you mean 'reports'?"



# -- through the commands -------------------------------------------------------------------------

PIPELINE = """
    from datamake import asset

    @asset(group="ingest", key_prefix="sales")
    def orders():
        return [1, 2, 3]

    @asset(group="ingest", io_manager="json", tags={"slow": True})
    def clean(orders):
        return [x * 2 for x in orders]

    @asset(group="reports", io_manager="text", tags={"tier": "gold"})
    def report(clean):
        return str(sum(clean))

    @asset(name="and")
    def oddly_named(report):
        return report + "!"
"""


def test_commands_take_the_language(inprocess_project):
    project = inprocess_project
    project.pipeline(PIPELINE)
    rows = project.json("ls", "+report and not kind:auto")["assets"]
    assert [(r["key"], r["tags"]) for r in rows] == [("clean", {"slow": "true"}), ("report", {"tier": "gold"})]
    assert [line.split()[0] for line in project.run("ls", "sales/*", "or", "key:and", check=True).stdout.splitlines()] \
        == ["sales/orders", "and"]
    assert project.run("ls", "tag:tier", check=True).stdout.rstrip().endswith("deps: clean  tags: tier=gold")

    assert project.states("group:ingest and not tag:slow=true") == {"sales/orders": "stale"}
    assert project.outcomes("tag:tier=gold", "--only", expect=1) == {"report": "blocked"}  # its inputs were never built
    assert project.outcomes("2+report") == {"sales/orders": "built", "clean": "built", "report": "built"}
    assert project.outcomes("key:and") == {"sales/orders": "skipped", "clean": "skipped", "report": "skipped",
                                           "and": "built"}
    assert project.json("why", "and")["state"] == "fresh"  # an asset named like a keyword: `why` takes a key


def test_command_line_errors_point_at_the_column(inprocess_project):
    project = inprocess_project
    project.pipeline(PIPELINE)
    for args, message in [(["make", "group:ingest", "and", "not", "tag:slow=false"],
                           "no asset has the tag slow=false (column 22 of the selection)"),
                          (["ls", "+(report"], "'(' is never closed (column 2 of the selection)"),
                          (["status", "reprot+"], "unknown asset 'reprot' (column 1 of the selection)")]:
        proc = project.run(*args)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert f"datamake: error: {message}" in proc.stderr and "hint:" in proc.stderr, proc.stderr
        assert "^" in proc.stderr


def test_bad_tags_are_a_definition_error(inprocess_project):
    project = inprocess_project
    project.pipeline("""
        from datamake import asset

        @asset(tags={"tier gold": "x"})
        def a():
            return 1
    """)
    proc = project.run("ls")
    assert proc.returncode == 2 and "asset 'a': the tag name 'tier gold' holds a character" in proc.stderr


def test_an_empty_argument_is_refused_not_taken_for_every_asset(tmp_path):
    """``datamake make "$UNSET"`` would otherwise build the whole project."""
    import subprocess
    import sys

    (tmp_path / "pipeline.py").write_text("from datamake import asset\n\n@asset\ndef one():\n    return 1\n")
    (tmp_path / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    for args in (["make", ""], ["status", "", "one"]):
        proc = subprocess.run([sys.executable, "-m", "datamake", *args], cwd=tmp_path, capture_output=True, text=True)
        assert proc.returncode == 2 and 'empty argument ("")' in proc.stderr, proc.stderr
    assert not (tmp_path / ".datamake" / "packs").exists()  # nothing was built

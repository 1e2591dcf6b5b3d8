"""Evaluating a parsed selection over the assets of a project: plain sets, no IO."""
from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Union

from datamake.core.errors import SelectionError, did_you_mean
from datamake.selection.errors import located
from datamake.selection.nodes import And, Attr, Everything, Expr, Key, Not, Or, Traverse
from datamake.selection.parser import KEYWORDS, parse

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.\-/]+")  # a word the parser can only read as this exact key


class Universe:
    """What a selection can name: each key's upstream ``deps`` (sources included), its ``groups``,
    ``tags`` (``@asset(tags={...})``) and ``kinds`` (its IO manager)."""

    def __init__(self, deps: Mapping[str, Sequence[str]], groups: Optional[Mapping[str, str]] = None,
                 tags: Optional[Mapping[str, Mapping[str, Any]]] = None, kinds: Optional[Mapping[str, str]] = None,
                 children: Optional[Mapping[str, Sequence[str]]] = None):
        self.deps = deps
        self.groups = dict(groups or {})
        self.tags = {k: t for k, t in (tags or {}).items() if t}  # values are strings, as @asset(tags=) keeps them
        self.kinds = dict(kinds or {})
        self.children = children if children is not None else _children(deps)

    def __contains__(self, key: str) -> bool:
        return key in self.deps


def _children(deps: Mapping[str, Sequence[str]]) -> Dict[str, List[str]]:
    children: Dict[str, List[str]] = {k: [] for k in deps}
    for key, ups in deps.items():
        for dep in ups:
            children[dep].append(key)
    return children


def select(universe: Universe, selection: Union[str, Sequence[str]]) -> Set[str]:
    """The keys ``selection`` (a string, or command-line arguments: a union) names; none means all."""
    if not isinstance(selection, str) and selection and all(_plain_key(p, universe) for p in selection):
        return set(selection)  # exact keys, as the daemon and the API pass them: nothing to parse
    text = selection if isinstance(selection, str) else " ".join(selection)
    return evaluate(parse(text), universe, text)


def _plain_key(part: str, universe: Universe) -> bool:
    return part in universe.deps and part.lower() not in KEYWORDS and _PLAIN_KEY.fullmatch(part) is not None


def evaluate(expr: Expr, universe: Universe, text: str = "") -> Set[str]:
    """The keys ``expr`` names; a part that matches nothing raises a SelectionError pointing into ``text``."""
    if isinstance(expr, Everything):
        return set(universe.deps)
    if isinstance(expr, Key):
        return _keys(expr, universe, text)
    if isinstance(expr, Attr):
        return _attr(expr, universe, text)
    if isinstance(expr, Not):
        return set(universe.deps) - evaluate(expr.expr, universe, text)
    if isinstance(expr, And):
        parts = [evaluate(p, universe, text) for p in expr.parts]  # each checked, even after an empty one
        return set.intersection(*parts)
    if isinstance(expr, Or):
        return set().union(*(evaluate(p, universe, text) for p in expr.parts))
    if isinstance(expr, Traverse):
        return around(universe, evaluate(expr.expr, universe, text), expr.up, expr.down)
    raise TypeError(f"not a selection: {expr!r}")


def around(universe: Universe, keys: Set[str], up: Optional[int] = None, down: Optional[int] = 0) -> Set[str]:
    """``keys`` with their upstream (``up`` levels) and downstream (``down`` levels); None is every level."""
    out = set(keys)
    if up != 0:
        out |= _reach(keys, universe.deps, up)
    if down != 0:
        out |= _reach(keys, universe.children, down)
    return out


def _reach(start: Iterable[str], edges: Mapping[str, Sequence[str]], depth: Optional[int]) -> Set[str]:
    """``start`` and what ``edges`` reach from it in at most ``depth`` steps (None: any number)."""
    seen = set(start)
    frontier = list(seen)
    level = 0
    while frontier and (depth is None or level < depth):
        level += 1
        nxt = []
        for key in frontier:
            for other in edges[key]:
                if other not in seen:
                    seen.add(other)
                    nxt.append(other)
        frontier = nxt
    return seen


def unknown_key(key: str, keys: Iterable[str], text: str = "", start: int = 0, end: int = 0) -> SelectionError:
    """The error for an asset key that does not exist, with a did-you-mean hint (located when ``text`` is given)."""
    hint = did_you_mean(key, keys) or "run `datamake ls` to see the assets"
    if text:
        return located(text, start, end, f"unknown asset '{key}'", hint=hint)
    return SelectionError(f"unknown asset '{key}'", hint=hint)


def _keys(expr: Key, universe: Universe, text: str) -> Set[str]:
    if "*" not in expr.pattern:
        if expr.pattern not in universe.deps:
            raise unknown_key(expr.pattern, universe.deps, text, expr.start, expr.end)
        return {expr.pattern}
    regex = re.compile(".*".join(re.escape(part) for part in expr.pattern.split("*")))
    found = {k for k in universe.deps if regex.fullmatch(k)}
    if not found:
        prefixes = sorted({k.rsplit("/", 1)[0] + "/*" for k in universe.deps if "/" in k})
        raise located(text, expr.start, expr.end, f"no asset matches '{expr.pattern}'",
                      hint=did_you_mean(expr.pattern, prefixes) or "run `datamake ls` to see the assets")
    return found


def _attr(expr: Attr, universe: Universe, text: str) -> Set[str]:
    if expr.field == "tag":
        return _tag(expr, universe, text)
    values = universe.groups if expr.field == "group" else universe.kinds
    found = {k for k, v in values.items() if v == expr.name}
    if not found:
        known = sorted(set(values.values()))
        what = "in group" if expr.field == "group" else "of kind"
        raise located(text, expr.start, expr.end, f"no asset is {what} '{expr.name}'",
                      hint=did_you_mean(expr.name, known) or f"{expr.field}s are: {', '.join(known) or 'none'}")
    return found


def _tag(expr: Attr, universe: Universe, text: str) -> Set[str]:
    tags = universe.tags
    if expr.value is None:
        found = {k for k, t in tags.items() if expr.name in t}
    else:
        found = {k for k, t in tags.items() if t.get(expr.name) == expr.value}
    if found:
        return found
    names = sorted({n for t in tags.values() for n in t})
    if expr.value is None or expr.name not in names:
        raise located(text, expr.start, expr.end, f"no asset has the tag '{expr.name}'",
                      hint=did_you_mean(expr.name, names) or f"tags are: {', '.join(names) or 'none'}")
    values = sorted({t[expr.name] for t in tags.values() if expr.name in t})
    raise located(text, expr.start, expr.end, f"no asset has the tag {expr.name}={expr.value}",
                  hint=f"its values are: {', '.join(values)}")

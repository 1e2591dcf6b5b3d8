"""The staleness planner: a pure function from facts to decisions.

It does no IO, reads no clock and draws no random numbers. The project layer
gathers the facts (code versions, manifests, whether artifacts are intact,
observed source versions); :func:`plan` decides every asset in scope with all
its reasons. The executor calls :func:`decide` again for one asset once its
inputs have finished: that is early cutoff.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from datamake.core.describe import MAX_NAMED, describe_nodes
from datamake.core.hashing import hash_value
from datamake.core.keys import index_by_node
from datamake.core.records import field, filled, record
from datamake.core.manifest import Manifest
from datamake.core.readnames import ENV_READ

FRESH = "fresh"
STALE = "stale"

REASON_CODES = (
    "never_materialized",
    "code_changed",
    "config_changed",
    "deps_changed",
    "input_changed",
    "upstream_stale",
    "source_changed",
    "artifact_missing",
    "forced",
    "check_failed",
    "checks_changed",
)

# Reasons that concern only the checks of a value that is otherwise up to date:
# ``make`` keeps the value and re-runs (``checks_changed``) or reports
# (``check_failed``) its checks instead of rebuilding it.
CHECK_REASONS = frozenset({"check_failed", "checks_changed"})
# Code parts that describe the decorator and source arguments (``ins``,
# ``io_manager``, partitions, mappings, source loaders), not the function's logic.
DEFINITION_PREFIX = "<definition:"


@record(frozen=True)
class Reason:
    """Why an asset is stale: a code from :data:`REASON_CODES`, a sentence, and the input it concerns."""

    code: str
    message: str
    subject: Optional[str] = field(default=None, compare=False)  # the dependency (node id), if any

    def to_dict(self) -> Dict[str, str]:
        return {"code": self.code, "message": self.message}


@record(frozen=True)
class CheckFact:
    """One check of an asset: declared now (``passed`` is None) or recorded with the current value."""

    name: str
    version: Optional[str]
    blocking: bool = False
    passed: Optional[bool] = None
    message: Optional[str] = None


@record(frozen=True)
class AssetFacts:
    """Everything the planner needs to know about one asset, gathered beforehand.

    ``code_parts`` names the code the version covers (the function, helpers,
    constants) with a hash each, so a ``code_changed`` reason can say which.
    """

    key: str
    code_version: str
    deps: Tuple[str, ...] = ()
    config_hash: Optional[str] = None
    partition: Optional[str] = None
    manifest: Optional[Manifest] = None
    artifact_ok: bool = True
    forced: bool = False
    code_parts: Mapping[str, str] = field(default_factory=dict)
    code_pinned: bool = False  # the code version is pinned: only definition parts are compared
    checks: Tuple[CheckFact, ...] = ()  # the checks declared now, with their versions
    recorded_checks: Tuple[CheckFact, ...] = ()  # the results recorded with the current value
    reads_changed: Tuple[str, ...] = ()  # files (and env:NAME variables) the value was built reading that differ now
    unreadable: str = ""  # why the stored manifest could not be used (a newer datamake wrote it...); "": none stored


@record(frozen=True)
class AssetDecision:
    key: str
    partition: Optional[str]
    reasons: Tuple[Reason, ...]

    @property
    def state(self) -> str:
        return STALE if self.reasons else FRESH

    @property
    def stale(self) -> bool:
        return bool(self.reasons)

    def to_dict(self) -> Dict[str, object]:
        return {
            "key": self.key,
            "partition": self.partition,
            "state": self.state,
            "reasons": [r.to_dict() for r in self.reasons],
        }


@record(frozen=True)
class Plan:
    """Decisions for every asset in scope, in dependency order."""

    decisions: Tuple[AssetDecision, ...]
    _index: Dict[str, AssetDecision] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", index_by_node(self.decisions))

    @property
    def stale(self) -> List[str]:
        return [d.key for d in self.decisions if d.stale]

    def keys(self) -> List[str]:
        """The asset keys in scope, each once, in order."""
        return list(dict.fromkeys(d.key for d in self.decisions))

    def __getitem__(self, key: str) -> AssetDecision:
        """The decision for ``key`` (an asset key, or a node id ``key[partition]``)."""
        try:
            return self._index[key]
        except KeyError:
            raise KeyError(f"{key!r} is not in this plan") from None


def provenance(
    key: str,
    code_version: str,
    inputs: Mapping[str, str],
    config_hash: Optional[str] = None,
    partition: Optional[str] = None,
) -> str:
    """The cache key of a materialization: everything that determines its value."""
    return hash_value("provenance", key, code_version, config_hash, partition, sorted(inputs.items()))


def built_for(manifest: Manifest, prov: str) -> bool:
    """Whether ``manifest`` was built from what provenance ``prov`` stands for: its own recorded code
    version, config, partition and inputs give ``prov``. An action-cache entry filed under another
    provenance than its manifest's (copied, or edited by hand) holds a value built from other inputs."""
    return manifest.provenance == prov == provenance(
        manifest.key, manifest.code_version, manifest.input_versions, manifest.config_hash, manifest.partition)


def current_data_version(facts: AssetFacts) -> Optional[str]:
    """The data version an up-to-date asset has now (None if it has none)."""
    return facts.manifest.data_version if facts.manifest else None


# An upstream asset's status as seen by its dependent: its data version, or
# UPSTREAM_STALE when it will be rebuilt first, or None when it has no value.
UPSTREAM_STALE = object()


def fresh(facts: AssetFacts, manifest: Optional[Manifest], artifact_ok: bool, upstream: Mapping[str, object]) -> bool:
    """Whether ``facts.key`` is up to date with ``manifest`` as its current value (``artifact_ok``: its
    value intact), given its upstream's status (as for :func:`decide`): the common case, answered
    without gathering reasons. True implies :func:`decide` finds no reason; False, that it may find one
    (an asset with checks is always left to :func:`decide`)."""
    if manifest is None or facts.forced or not artifact_ok or facts.checks or facts.recorded_checks \
            or facts.reads_changed:
        return False
    if manifest.code_version != facts.code_version or manifest.config_hash != facts.config_hash:
        return False
    inputs, deps = manifest.inputs, facts.deps
    if len(inputs) != len(deps):
        return False
    get = upstream.get
    for dep, version in inputs:
        status = get(dep)  # a data version; the sentinels and None never equal a recorded one
        if status is None or status != version:
            return False
    if len(deps) == 1:
        return inputs[0][0] == deps[0]
    return not deps or dict(inputs).keys() == set(deps)  # (the recorded inputs' keys, without a comprehension)


def decide(facts: AssetFacts, upstream: Mapping[str, object], sources: Iterable[str] = ()) -> Tuple[Reason, ...]:
    """All the reasons ``facts.key`` is stale, given its upstream's status.

    ``upstream`` maps each dependency to its current data version, to
    :data:`UPSTREAM_STALE`, or to None (no value and none coming). ``sources``
    names the dependencies that are observed sources.
    """
    manifest = facts.manifest
    if manifest is not None and fresh(facts, manifest, facts.artifact_ok, upstream):  # (no value: never fresh)
        return ()
    return _reasons(facts, upstream, sources)


_NEVER_MATERIALIZED = Reason("never_materialized", "never materialized")  # one for all (records are immutable)


def _reasons(facts: AssetFacts, upstream: Mapping[str, object], sources: Iterable[str]) -> Tuple[Reason, ...]:
    reasons: List[Reason] = []
    if facts.forced:
        reasons.append(Reason("forced", "rebuild forced (--force)"))
    manifest = facts.manifest
    if manifest is None:
        reasons.append(Reason("never_materialized", f"no manifest this datamake can read: {facts.unreadable}")
                       if facts.unreadable else _NEVER_MATERIALIZED)
        if facts.deps:
            reasons.extend(_upstream_reasons(facts, upstream, {}, sources))
        return tuple(reasons)
    if not facts.artifact_ok:
        reasons.append(Reason("artifact_missing", f"artifact {manifest.artifact[:12]} is missing or corrupt"))
    if manifest.code_version != facts.code_version:
        reasons.append(Reason("code_changed", _code_message(manifest, facts)))
    if manifest.config_hash != facts.config_hash:
        reasons.append(Reason("config_changed", "config differs from the recorded one"))
    recorded = manifest.input_versions
    if set(recorded) != set(facts.deps):
        added = sorted(set(facts.deps) - set(recorded))
        removed = sorted(set(recorded) - set(facts.deps))
        parts = ([f"added {_named(added)}"] if added else []) + ([f"removed {_named(removed)}"] if removed else [])
        reasons.append(Reason("deps_changed", "dependencies changed: " + "; ".join(parts)))
    reasons.extend(_upstream_reasons(facts, upstream, recorded, set(sources)))
    for path in facts.reads_changed:
        if path.startswith(ENV_READ):  # never the value: it may be a secret
            reasons.append(Reason("source_changed", f"environment variable {path[len(ENV_READ):]}, which it read, "
                                                    f"changed since it was built"))
        elif path.endswith("/**"):
            reasons.append(Reason("source_changed", f"folder {path[:-2]}, which its code names without declaring "
                                                    f"it, changed since it was built"))
        elif path.endswith("/"):
            reasons.append(Reason("source_changed", f"folder {path}, which it listed without declaring it, gained "
                                                    f"or lost files since it was built"))
        else:
            reasons.append(Reason("source_changed", f"file {path}, which it read without declaring it, changed "
                                                    f"since it was built"))
    if facts.artifact_ok:
        reasons.extend(_check_reasons(facts))
    return tuple(reasons)


def checks_match(recorded: Iterable[CheckFact], current: Iterable[CheckFact]) -> bool:
    """True when ``recorded`` are results of exactly the ``current`` checks (same names, versions, blocking)."""
    return {(c.name, c.version, c.blocking) for c in recorded} == {(c.name, c.version, c.blocking) for c in current}


def _check_reasons(facts: AssetFacts) -> List[Reason]:
    """``checks_changed`` when the recorded results are not those of the current checks; else
    ``check_failed`` when a blocking check failed on the current value."""
    if not facts.recorded_checks and not facts.checks:
        return []
    if not checks_match(facts.recorded_checks, facts.checks):
        have = {c.name: c for c in facts.recorded_checks}
        want = {c.name: c for c in facts.checks}
        added = sorted(set(want) - set(have))
        removed = sorted(set(have) - set(want))
        edited = sorted(n for n in set(want) & set(have)
                        if (want[n].version, want[n].blocking) != (have[n].version, have[n].blocking))
        parts = [f"{what} {', '.join(names)}" for what, names in
                 (("added", added), ("edited", edited), ("removed", removed)) if names]
        return [Reason("checks_changed", "checks changed (" + "; ".join(parts) + "): they re-run on the current "
                       "value, which is not rebuilt")]
    failed = [c for c in facts.recorded_checks if c.blocking and c.passed is False]
    if not failed:
        return []
    names = ", ".join(f"'{c.name}'" + (f" ({c.message})" if c.message else "") for c in failed)
    return [Reason("check_failed", f"blocking check {names} failed on the current value; "
                                   "fix the asset or the check (its dependents are blocked until then)")]


def keeps_value(reasons: Iterable[Reason]) -> bool:
    """True when the current value stays: no reasons, or only reasons about its checks."""
    for r in reasons:  # (a loop, not all() over a generator: once per asset of every make)
        if r.code not in CHECK_REASONS:
            return False
    return True


# An upstream asset whose current value failed a blocking check: its dependents wait.
UPSTREAM_FLAGGED = object()
# An upstream asset that cannot be rebuilt now: a partition of a source it reads has no file.
UPSTREAM_WAITING = object()


def upstream_status(facts: AssetFacts, reasons: Sequence[Reason]) -> object:
    """What ``facts.key``'s dependents see before it runs: its data version, or a sentinel.

    A value whose only reasons are non-blocking check changes passes its data
    version through; a failed blocking check flags it; anything else rebuilds.
    """
    if not reasons:
        return current_data_version(facts)
    if any(_NO_FILE.get(r.subject) is r for r in reasons):  # (a dict look-up per reason: no set built)
        return UPSTREAM_WAITING
    if keeps_value(reasons):  # only reasons about its checks (most stale assets have others: no set built)
        if any(r.code == "check_failed" for r in reasons):
            return UPSTREAM_FLAGGED
        if not any(c.blocking for c in facts.checks):
            return current_data_version(facts)
    return UPSTREAM_STALE


def known_inputs(facts: AssetFacts, upstream: Mapping[str, object]) -> Optional[Dict[str, str]]:
    """The data version of each dependency when every one is known now, else None."""
    inputs = {}
    for dep in facts.deps:
        status = upstream.get(dep)
        if not isinstance(status, str):
            return None
        inputs[dep] = status
    return inputs


def _code_message(manifest: Manifest, facts: AssetFacts) -> str:
    message = f"code version {manifest.code_version} -> {facts.code_version}"
    recorded, current = dict(manifest.code_parts), dict(facts.code_parts)
    if facts.code_pinned:  # a pin covers the function's logic; its definition arguments still count
        recorded = {n: v for n, v in recorded.items() if n.startswith(DEFINITION_PREFIX)}
    if manifest.code_parts and current:  # a manifest from before parts were recorded names none
        changed = sorted(n for n in set(recorded) | set(current) if recorded.get(n) != current.get(n))
        named = [part_label(n) for n in changed]
        if named:
            message += f" ({', '.join(named[:5])}{' …' if len(named) > 5 else ''} changed)"
    if facts.code_pinned:
        message += "; the pinned code version covers only the function's logic, its decorator and source arguments still count"
    return message


def part_label(name: str) -> str:
    """How a code part is named to people: ``<self>`` is the function, ``<definition:io_manager>`` io_manager."""
    if name == "<self>":
        return "the function itself"
    if name.startswith(DEFINITION_PREFIX):
        return name[len(DEFINITION_PREFIX):-1]
    if name.startswith("<config:"):
        return f"the config class {name[len('<config:'):-1]}"
    return name


# The reason "X will be rebuilt first", one for each X that its dependents share (reasons are immutable):
# made again for each plan, so that it holds the current scope's assets only.
_REBUILT_FIRST: Dict[str, Reason] = {}


# The reason "source X has no file", one for each such source partition: what tells upstream_status that
# the asset cannot be rebuilt now (made again for each plan, as _REBUILT_FIRST).
_NO_FILE: Dict[str, Reason] = {}


def _no_file(dep: str) -> Reason:
    reason = _NO_FILE.get(dep)
    if reason is None:
        reason = _NO_FILE[dep] = Reason("source_changed", f"source {dep} has no file", dep)
    return reason


def _rebuilt_first(dep: str) -> Reason:
    reason = _REBUILT_FIRST.get(dep)
    if reason is None:  # (without the frozen __init__)
        reason = _REBUILT_FIRST[dep] = filled(Reason, code="upstream_stale", message=f"{dep} will be rebuilt first",
                                              subject=dep)
    return reason


def _named(nodes: List[str]) -> str:
    """A few dependencies by name; many (a year of partitions added to a range) as ranges with their count."""
    return ", ".join(nodes) if len(nodes) <= MAX_NAMED else describe_nodes(nodes)


def _upstream_reasons(facts: AssetFacts, upstream: Mapping[str, object], recorded: Mapping[str, str], sources) -> List[Reason]:
    reasons: List[Reason] = []
    for dep in facts.deps:
        status = upstream.get(dep)
        if status is UPSTREAM_STALE:  # the commonest (each input of a cold plan)
            reasons.append(_rebuilt_first(dep))
        elif status is UPSTREAM_FLAGGED:
            reasons.append(Reason("upstream_stale", f"{dep} failed a blocking check and blocks its dependents", dep))
        elif status is UPSTREAM_WAITING:
            reasons.append(Reason("upstream_stale", f"{dep} waits for a source file that is not there", dep))
        elif status is None:
            if dep in sources:  # a partition of a source whose file is not there (yet)
                reasons.append(_no_file(dep))
            else:
                reasons.append(Reason("upstream_stale", f"{dep} has no materialized value", dep))
        elif dep in recorded and recorded[dep] != status:
            code = "source_changed" if dep in sources else "input_changed"
            what = "source" if dep in sources else "input"
            reasons.append(Reason(code, f"{what} {dep} changed: {recorded[dep][:12]} -> {str(status)[:12]}", dep))
    return reasons


def plan(
    facts: Mapping[str, AssetFacts],
    order: Sequence[str],
    outside: Optional[Mapping[str, Optional[str]]] = None,
    sources: Iterable[str] = (),
) -> Plan:
    """Decide every asset in ``order`` (a topological order of the scope).

    ``outside`` gives the current data version of dependencies that are not
    planned here: observed sources (named in ``sources``) and, with ``make
    --only``, upstream assets outside the selection, used as they are.
    """
    status: Dict[str, object] = dict(outside or {})
    sources = set(sources)
    _REBUILT_FIRST.clear()
    _NO_FILE.clear()
    decisions = []
    for key in order:
        f = facts[key]
        reasons = decide(f, status, sources)
        status[key] = upstream_status(f, reasons)
        decisions.append(filled(AssetDecision, key=f.key, partition=f.partition, reasons=reasons))
    return Plan(tuple(decisions))

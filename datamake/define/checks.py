"""Asset checks: small tests that run on an asset's value after it materializes.

Example::

    from datamake import asset, asset_check, AssetCheckResult

    @asset
    def orders():
        return pyarrow.table({"id": [1, 2], "amount": [3.0, None]})

    @asset_check(asset=orders, blocking=True)
    def has_rows(orders):
        return orders.num_rows > 0

    @asset_check(asset="orders")
    def amount_has_no_nulls(orders):
        nulls = orders["amount"].null_count
        return AssetCheckResult(passed=nulls == 0, message=f"{nulls} nulls in amount")

A check receives the asset's value as its one parameter. It passes when it
returns ``True``, ``None`` or a passing :class:`AssetCheckResult`; it fails when
it returns ``False``, a failing result, or raises. A failing *blocking* check
keeps the asset's new value but flags it: its dependents are ``blocked`` and
``make`` exits 1 until the asset or the check changes.

Results are recorded in the manifest (``Manifest.checks``, apart from the
user's metadata), with the code version of each check, so that a fresh asset
is re-checked only when a check is added, removed or edited.
"""
from __future__ import annotations

import dataclasses
import inspect
import time
from dataclasses import field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from datamake.core.errors import DefinitionError
from datamake.core.keys import node_id, validate_key
from datamake.core.planner import CheckFact, checks_match
from datamake.core.records import record
from datamake.define.assets import AssetDef
from datamake.define.checkdef import AssetCheckDef
from datamake.define.codeversion import fingerprint

_NAME_RE_HINT = "check names are like 'has_rows': letters, digits and '_'"


@record(frozen=True)
class AssetCheckResult:
    """What a check function may return instead of a bool: a verdict, a message and metadata."""

    passed: bool
    message: Optional[str] = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@record(frozen=True)
class CheckOutcome:
    """The recorded result of running one check (a plain, JSON-friendly value)."""

    name: str
    asset: str
    passed: bool
    blocking: bool
    message: Optional[str] = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    version: Optional[str] = None
    seconds: float = 0.0

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "blocking": self.blocking, "message": self.message,
                "metadata": dict(self.metadata), "version": self.version, "seconds": round(self.seconds, 6)}

    @classmethod
    def from_dict(cls, asset: str, data: Mapping[str, Any]) -> "CheckOutcome":
        return cls(name=str(data.get("name")), asset=asset, passed=bool(data.get("passed")),
                   blocking=bool(data.get("blocking")), message=data.get("message"),
                   metadata=dict(data.get("metadata") or {}), version=data.get("version"),
                   seconds=float(data.get("seconds") or 0.0))

    def line(self) -> str:
        """One line for ``make``'s output."""
        verdict = "passed" if self.passed else ("FAILED (blocking)" if self.blocking else "FAILED (warning)")
        text = f"check    {self.asset}:{self.name} {verdict}"
        return f"{text}: {self.message}" if self.message else text


def asset_check(
    fn: Optional[Callable[[Any], Any]] = None,
    *,
    asset: Union[str, AssetDef, None] = None,
    name: Optional[str] = None,
    blocking: bool = False,
) -> Any:
    """Declare a check on ``asset``: a function of the asset's value returning a verdict.

    ``blocking=True`` makes a failure stop the asset's dependents (they are
    ``blocked`` and ``make`` exits 1); the new value is kept, flagged.

    Example::

        @asset_check(asset="orders", blocking=True)
        def orders_not_empty(orders):
            return orders.num_rows > 0
    """

    def wrap(func: Callable[[Any], Any]) -> AssetCheckDef:
        return _make_check(func, asset, name, blocking)

    return wrap(fn) if fn is not None else wrap


def _make_check(func: Callable[[Any], Any], target: Union[str, AssetDef, None], name: Optional[str],
                blocking: bool) -> AssetCheckDef:
    if not callable(func):
        raise DefinitionError(f"@asset_check must decorate a function, got {func!r}")
    if target is None:
        raise DefinitionError(f"@asset_check on '{func.__name__}' names no asset",
                              hint="say which asset it checks: @asset_check(asset=orders)")
    key = target.key if isinstance(target, AssetDef) else validate_key(target)
    check_name = name or func.__name__
    if not check_name.isidentifier():
        raise DefinitionError(f"invalid check name {check_name!r}", hint=_NAME_RE_HINT)
    required = [p for p in inspect.signature(func).parameters.values()
                if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if len(required) > 1:
        raise DefinitionError(
            f"asset check '{key}:{check_name}' takes {len(required)} parameters; it receives only the asset's value",
            hint="give it one parameter (the value of the checked asset)",
        )
    doc = inspect.getdoc(func)
    return AssetCheckDef(check_name, key, func, bool(blocking), doc.splitlines()[0] if doc else None)


# -- running -----------------------------------------------------------------

def check_version(check: AssetCheckDef, roots: Sequence[str] = ()) -> str:
    """The automatic code version of a check function, following project helpers under ``roots``.

    A project computes it once per check (``Project.check_version``, with its
    roots); this module keeps no cache of its own.
    """
    return fingerprint(check.fn, roots).version


def run_check(check: AssetCheckDef, value: Any, version: Optional[str] = None) -> CheckOutcome:
    """Run one check on ``value``; never raises for the check's own errors.

    ``version`` is recorded with the result; the coordinator fills in the
    project's versions (:func:`stamp_versions`) for results a worker produced.
    """
    started = time.perf_counter()
    metadata: Mapping[str, Any] = {}
    try:
        verdict = check.fn(value)
        if isinstance(verdict, AssetCheckResult):
            passed, message, metadata = bool(verdict.passed), verdict.message, dict(verdict.metadata)
        elif verdict is None or isinstance(verdict, bool):
            passed, message = verdict is not False, None
        else:
            passed, message = False, f"returned {type(verdict).__name__} {verdict!r}; return a bool or AssetCheckResult"
    except Exception as exc:  # noqa: BLE001 - the user's check may raise anything
        passed, message = False, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return CheckOutcome(check.name, check.asset_key, passed, check.blocking, message, metadata,
                        version, time.perf_counter() - started)


def run_checks(checks: Sequence[AssetCheckDef], value: Any,
               versions: Optional[Mapping[str, str]] = None) -> List[CheckOutcome]:
    """Run every check on ``value`` in declaration order (``versions``: check name -> code version)."""
    return [run_check(c, value, (versions or {}).get(c.name)) for c in checks]


def recorded(key: str, results: Sequence[Mapping[str, Any]]) -> List[CheckOutcome]:
    """The check results stored in a manifest (``Manifest.checks``)."""
    return [CheckOutcome.from_dict(key, d) for d in results if isinstance(d, Mapping)]


def as_records(results: Sequence[CheckOutcome]) -> Tuple[Dict[str, Any], ...]:
    """Check results as a manifest records them (``Manifest.checks``)."""
    return tuple(r.to_dict() for r in results)


def needs_rerun(key: str, results: Sequence[Mapping[str, Any]], checks: Sequence[AssetCheckDef],
                versions: Mapping[str, str]) -> bool:
    """True when the recorded results are not for exactly the current checks (added, removed or edited).

    ``versions`` maps each current check's name to its code version (from the project).
    """
    if not checks and not results:
        return False
    have = [CheckFact(r.name, r.version, r.blocking) for r in recorded(key, results)]
    want = [CheckFact(c.name, versions.get(c.name), c.blocking) for c in checks]
    return not checks_match(have, want)


def stamp_versions(results: Sequence[CheckOutcome], versions: Mapping[str, str]) -> List[CheckOutcome]:
    """``results`` (a worker's) each carrying its check's code version from ``versions`` (the project's)."""
    return [dataclasses.replace(r, version=versions.get(r.name, r.version)) for r in results]


def blocking_failure(results: Sequence[CheckOutcome], ran: str = "built", run_id: Optional[str] = None) -> Optional[str]:
    """A message naming the failed blocking checks, or None when there are none.

    ``ran`` says when they ran: on a value ``"built"`` just now, ``"now"`` on the kept value (a check
    added or changed since), or ``"recorded"`` earlier (in run ``run_id``) for the current value.
    """
    failed = [r for r in results if r.blocking and not r.passed]
    if not failed:
        return None
    names = ", ".join(f"'{r.name}'" + (f" ({r.message})" if r.message else "") for r in failed)
    if ran == "built":
        return f"blocking check {names} failed; the new value is kept but flagged, dependents are blocked"
    where = "checked now" if ran == "now" else "recorded" + (f" in run {run_id}" if run_id else "")
    return (f"blocking check {names} failed on the current value ({where}); dependents are blocked: "
            "fix the asset or the check, then make again")


def recheck(store: Any, manifest: Any, checks: Sequence[AssetCheckDef],
            versions: Mapping[str, str], scratch: Any) -> Tuple[Any, List[CheckOutcome]]:
    """Run ``checks`` on a stored value; its manifest with the new results (for the caller to commit).
    A file or folder value is a private copy in ``scratch`` (the caller removes it)."""
    try:
        value = store.load_private(manifest, scratch)
    except Exception as exc:  # noqa: BLE001 - a missing or corrupt artifact fails every check
        results = [CheckOutcome(c.name, manifest.key, False, c.blocking, f"cannot load the value: {exc}",
                                version=versions.get(c.name)) for c in checks]
    else:
        results = run_checks(checks, value, versions)
    node = node_id(manifest.key, manifest.partition)  # `check sales[2024-01-05]:not_empty passed`
    results = [dataclasses.replace(r, asset=node) for r in results]
    return manifest.replace(checks=as_records(results)), results

"""What an asset check is, as ``Definitions`` holds it (declared with :func:`datamake.define.checks.asset_check`)."""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from datamake.core.errors import DefinitionError, MissingDependencyError, did_you_mean
from datamake.core.records import record


@record(frozen=True, eq=False)
class AssetCheckDef:
    """One check on one asset. Callable like the function it wraps."""

    name: str
    asset_key: str
    fn: Callable[[Any], Any]
    blocking: bool = False
    description: Optional[str] = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<asset_check {self.asset_key}:{self.name}>"


def group_checks(checks: Sequence[Any], assets: Mapping[str, Any]) -> Dict[str, Tuple[AssetCheckDef, ...]]:
    """Checks by asset key; DefinitionErrors name unknown assets and duplicate check names."""
    grouped: Dict[str, List[AssetCheckDef]] = {}
    for check in checks:
        if not isinstance(check, AssetCheckDef):
            raise DefinitionError(f"Definitions(checks=...) got {check!r}, which is not an @asset_check")
        if check.asset_key not in assets:
            raise MissingDependencyError(
                f"asset check '{check.name}' checks '{check.asset_key}', which is not an asset",
                hint=did_you_mean(check.asset_key, assets) or "point asset= at one of your assets",
            )
        same = grouped.setdefault(check.asset_key, [])
        if any(c.name == check.name and c is not check for c in same):
            raise DefinitionError(f"two checks on '{check.asset_key}' are called '{check.name}'",
                                  hint="rename one of them, or give it name=")
        if check not in same:
            same.append(check)
    return {k: tuple(v) for k, v in grouped.items()}

"""Process-wide settings that change what library code computes, set by project code at import.

``decimal.getcontext().prec = 6`` at the top of a module changes every ``Decimal`` division an
asset makes, yet it binds no name the asset reads. An asset that uses :mod:`decimal` therefore has
the context's settings as a part of its code version, when they differ from Python's defaults (so
that a project that leaves them alone keeps its versions).
"""
from __future__ import annotations

import sys
from typing import Any, List, Optional

from datamake.core.hashing import hash_value

DECIMAL_PART = "<decimal context>"
DECIMAL_MODULES = ("decimal", "_decimal")
# Python's own defaults: precision, rounding, exponent range, capitals, clamp and the traps enabled.
_DECIMAL_DEFAULTS = [28, "ROUND_HALF_EVEN", -999999, 999999, 1, 0, ["DivisionByZero", "InvalidOperation", "Overflow"]]


def decimal_context() -> Optional[str]:
    """A digest of this thread's decimal context and of the one new threads start from, or None when
    both are Python's defaults (or :mod:`decimal` is not loaded)."""
    decimal = sys.modules.get("decimal")
    if decimal is None:
        return None
    settings = [_settings(decimal.getcontext()), _settings(decimal.DefaultContext)]
    if all(s == _DECIMAL_DEFAULTS for s in settings):
        return None
    return hash_value("decimal context", settings)


def _settings(context: Any) -> List[Any]:
    traps = sorted(signal.__name__ for signal, on in context.traps.items() if on)
    return [context.prec, context.rounding, context.Emin, context.Emax, context.capitals, context.clamp, traps]

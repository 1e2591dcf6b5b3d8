"""Ages on the command line (``gc --older-than``, ``log --prune``): one grammar for both.

An age is a number and a unit, ``s``, ``m``, ``h``, ``d`` or ``w`` (``45s``,
``90m``, ``1.5h``, ``7d``, ``2w``), or ``0``. A bare number other than 0 is
refused rather than guessed (seconds? days?), since both commands delete.
"""
from __future__ import annotations

import re

from datamake.core.errors import DatamakeError

DURATION_FORMS = "a number and a unit s, m, h, d or w (45s, 90m, 12h, 30d, 2w), or 0"
_DURATION = r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*"  # compiled at the first use (re caches it): most runs parse none
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """Seconds in an age such as ``7d``; raises :class:`DatamakeError` naming the text and the grammar."""
    if text.strip() == "0":
        return 0.0
    match = re.fullmatch(_DURATION, text, re.IGNORECASE)
    if match is None:
        raise DatamakeError(f"'{text}' is not a duration", hint=f"write {DURATION_FORMS}")
    return float(match.group(1)) * _SECONDS[match.group(2).lower()]


__all__ = ["DURATION_FORMS", "parse_duration"]

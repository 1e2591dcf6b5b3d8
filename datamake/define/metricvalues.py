"""The numbers of a metric asset (``@asset(metric=True)``): a dict of numbers, flattened.

``{"avg_prec": 0.9, "roc": {"auc": 0.95}}`` becomes ``{"avg_prec": 0.9, "roc.auc": 0.95}``.
A command asset's metric output is its JSON file. The numbers are recorded in the
materialization's metadata, so the event log keeps every run's values.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict

from datamake.core.errors import ValueTypeError


def metric_values(value: Any, key: str) -> Dict[str, float]:
    """The flattened numbers of a metric value; ValueTypeError names what is not a number."""
    if isinstance(value, (str, os.PathLike)) and os.path.isfile(value):
        with open(value, encoding="utf-8") as f:
            try:
                value = json.load(f)
            except ValueError as exc:
                raise ValueTypeError(f"metric asset '{key}' wrote {os.path.basename(value)!s}, which is not JSON: {exc}",
                                     hint="write a JSON object of numbers") from None
    if not isinstance(value, dict):
        raise ValueTypeError(f"metric asset '{key}' returned {type(value).__name__}; a metric is a dict of numbers",
                             hint='return e.g. {"accuracy": 0.93, "loss": 0.2}, or drop metric=True')
    out: Dict[str, float] = {}
    _flatten(value, "", out, key)
    return out


def _flatten(value: Dict[Any, Any], prefix: str, out: Dict[str, float], key: str) -> None:
    for name, item in value.items():
        path = f"{prefix}{name}"
        if isinstance(item, dict):
            _flatten(item, path + ".", out, key)
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            out[path] = item
        else:
            raise ValueTypeError(f"metric asset '{key}': {path} is {item!r}, not a number",
                                 hint="a metric holds numbers (nested dicts of numbers are fine)")


def flatten_text(text: str, key: str) -> Dict[str, float]:
    """The numbers of a metric's JSON text (a file at another git revision)."""
    try:
        return metric_values(json.loads(text), key)
    except ValueError as exc:
        raise ValueTypeError(f"metric '{key}' is not JSON there: {exc}") from None

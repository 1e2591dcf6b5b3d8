"""Frozen dataclasses built without their generated ``__init__``, for the objects made once per asset.

A frozen dataclass's ``__init__`` sets each field with ``object.__setattr__``: a few microseconds
for a record of a dozen fields, paid for every asset of a no-op ``make`` (its definition, code
version, planner facts and decision). :func:`filled` sets them in one ``__dict__`` update.
"""
from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any, Dict, Type, TypeVar

T = TypeVar("T")

_DEFAULTS: Dict[type, Dict[str, Any]] = {}  # a dataclass -> its fields' plain defaults


def filled(cls: Type[T], **values: Any) -> T:
    """``cls(**values)`` for a frozen dataclass ``cls`` without ``__post_init__`` or ``__slots__``.

    A field with a plain default may be left out; one with a ``default_factory`` must be given.
    """
    defaults = _DEFAULTS.get(cls)
    if defaults is None:
        defaults = _DEFAULTS[cls] = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
    obj = object.__new__(cls)
    obj.__dict__.update(defaults, **values)
    return obj

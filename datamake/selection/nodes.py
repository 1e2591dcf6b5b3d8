"""The parsed form of a selection: a small tree of frozen values.

Each leaf remembers where it was in the text (``start``, ``end``), so that an
evaluation error points at its column.
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

from datamake.core.records import record


@record(frozen=True)
class Key:
    """An asset key, or a glob of keys when ``pattern`` holds ``*``."""

    pattern: str
    start: int = 0
    end: int = 0


@record(frozen=True)
class Attr:
    """A filter on what an asset declares: ``group:NAME``, ``tag:K``, ``tag:K=V``, ``kind:NAME``."""

    field: str  # group | tag | kind
    name: str
    value: Optional[str] = None  # a tag's value; None matches any value
    start: int = 0
    end: int = 0


@record(frozen=True)
class Traverse:
    """``expr`` plus its upstream (``up`` levels) and downstream (``down`` levels).

    0 levels is none; ``None`` is every level.
    """

    expr: "Expr"
    up: Optional[int] = 0
    down: Optional[int] = 0


@record(frozen=True)
class Not:
    expr: "Expr"


@record(frozen=True)
class And:
    parts: Tuple["Expr", ...]


@record(frozen=True)
class Or:
    parts: Tuple["Expr", ...]


@record(frozen=True)
class Everything:
    """No selection at all: every asset."""


Expr = Union[Key, Attr, Traverse, Not, And, Or, Everything]

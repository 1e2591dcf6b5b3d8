"""The selection language: which assets a command acts on.

One parser and one evaluator, pure (no IO), used by every command that takes
a SELECTION (``make``, ``status``, ``ls``, ``push``, ``pull``, jobs)::

    orders                 one asset          sales/*        keys by glob (* matches anything, / too)
    +orders                and its upstream   orders+        and its downstream
    2+orders               upstream, 2 levels orders+1       downstream, 1 level
    group:sales            a group            kind:parquet   by IO manager (auto when not set; sources: source)
    tag:slow               has tag slow       tag:tier=gold  tag with that value
    key:not                an asset whose key is a keyword (also key:sales/*)
    group:sales and not tag:slow=true        a or b         (a or b) and not c

``and`` binds tighter than ``or``; ``not`` tighter than both; terms side by side
(``a b``, or several command-line arguments) are a union, as ``a or b``. A
value with spaces or operators is quoted: ``tag:team="data eng"``. A part
that matches no asset is an error that points at its column, as is bad syntax.

Example::

    from datamake.selection import Universe, select
    universe = Universe({"raw": (), "clean": ("raw",)}, groups={"raw": "a", "clean": "a"})
    select(universe, ["+clean and not raw"])   # {"clean"}
"""
from __future__ import annotations

from datamake.selection.evaluate import Universe, around, evaluate, select, unknown_key
from datamake.selection.nodes import Expr
from datamake.selection.parser import parse

__all__ = ["Expr", "Universe", "around", "evaluate", "parse", "select", "unknown_key"]

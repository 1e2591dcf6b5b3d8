"""What a code object names: the globals and attributes it may read, and its string constants.

Both look into nested code (comprehensions, inner functions, lambdas). Used to version code
(:mod:`datamake.define.codeversion`) and to find what an asset's code names at run time (the files
and folders handed to readers written in C, the memoizing helpers it reaches).
"""
from __future__ import annotations

import types
from typing import Set

ANY_ATTRIBUTE = "*"  # a name read as ``module.*``: any attribute (``getattr(module, computed)``)
IMPORT = "import:"  # the part of a project module imported inside a function


def code_names(code: types.CodeType) -> Set[str]:
    """Names the code (nested code included) may read as globals or attributes."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= code_names(const)
    return names


def code_strings(code: types.CodeType) -> Set[str]:
    """The string constants of the code, nested code included."""
    found = {c for c in code.co_consts if isinstance(c, str)}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found |= code_strings(const)
    return found

"""``isinstance`` against types of modules that are slow to import, without importing them: no value of a
module never imported exists, so only the modules already loaded are looked at."""
from __future__ import annotations

import sys
from typing import Any


class LoadedKinds(type):
    """``isinstance(v, C)`` for a class ``C`` with this metaclass: v is an instance of one of ``C.kinds``,
    ``(module, type name)`` pairs looked up among the modules already loaded."""

    kinds: tuple = ()

    def __instancecheck__(cls, value: Any) -> bool:
        return any(isinstance(value, getattr(sys.modules[module], name))
                   for module, name in cls.kinds if module in sys.modules)


class PurePaths(metaclass=LoadedKinds):
    """``isinstance(v, PurePaths)``: v is a ``pathlib.PurePath`` (importing this does not load pathlib)."""

    kinds = (("pathlib", "PurePath"),)

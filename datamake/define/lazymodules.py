"""Standard modules loaded when first used: a ``make`` whose code versions are all known parses no source.

``ast`` and ``dis`` cost some 20 M instructions to import; the code-version analysis and the certificate's
purity check need them only for source they have not seen. :func:`lazy` is the standard library's own
recipe (``importlib.util.LazyLoader``): the module is found now and run when an attribute is first read.
"""
from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import Any, Optional


def lazy(name: str) -> ModuleType:
    """The module ``name``, imported (by whoever reads an attribute of it first) when first used."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None, name
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_PENDING = getattr(importlib.util, "_LazyModule", None)  # the class of a lazy module until it runs


def file_of(module: Any) -> Optional[str]:
    """``module.__file__`` (None if it has none), without running a lazily imported module that has not
    run yet (reading any attribute would): such a module has had no part in anything so far."""
    if type(module) is _PENDING:
        return None
    return getattr(module, "__file__", None)

"""The project code a stored value refers to by name.

Pickle keeps a project class, function or enum by reference (its module and name), never by its code: an
asset that returns ``Thing([1, 2])`` stores the same bytes after ``Thing.total`` is edited, and the early
cutoff would keep a consumer that calls ``a.total()`` fresh with the old result. The code versions of what
a value refers to therefore count in its data version, so that a consumer rebuilds when that code changes
(and only then: a cosmetic edit keeps the code version).
"""
from __future__ import annotations

import sys
import types
from typing import Any, Iterable, List, Optional, Set, Tuple

from datamake.core.hashing import hash_value
from datamake.define.codeversion import fingerprint, is_project_file, _file_of, _is_datamake


def referenced_code(objects: Iterable[Any], roots: Iterable[str]) -> Optional[str]:
    """A hash of the code versions of the project classes and functions among ``objects`` (what a
    pickled value refers to by name); None when it refers to none (its data version is its bytes')."""
    roots = tuple(roots)
    found: List[Tuple[str, str]] = []
    for obj in objects:
        if _is_datamake(obj) or not is_project_file(_file_of(obj), roots):
            continue
        name = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"
        found.append((name, _version(obj, roots)))
    return hash_value("referenced-code", sorted(found)) if found else None


def _version(obj: Any, roots: Tuple[str, ...]) -> str:
    """``obj``'s code version; one that cannot be read (user code may fail in any way) by its name, so that
    the value is still stored."""
    try:
        return fingerprint(obj, roots).version
    except Exception:  # noqa: BLE001
        return "unreadable"


_PICKLE_HEADERS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")  # protocols 2 to 5 (joblib's too)


def pickled_file_names(path: str, roots: Iterable[str]) -> Set[Any]:
    """The project classes and functions a pickle file names (``joblib.dump(model, context.output_path)``):
    those of a project module whose name the file holds as pickle writes a module's, and whose own name
    it holds too (a few more, at worst). A file that does not start as a pickle names none."""
    import mmap  # lazy: only an asset that wrote its own file

    roots = tuple(roots)
    with open(path, "rb") as f:
        if f.read(2) not in _PICKLE_HEADERS:
            return set()
        code = {name: defined for name, module in list(sys.modules.items())
                if is_project_file(getattr(module, "__file__", None), roots)
                for defined in [_defined_in(module, name)] if defined}  # each read of the bytes costs
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return {obj for name, defined in code.items() if _names(data, name, True)
                    for obj in defined if _names(data, obj.__qualname__, False)}


def _names(data: Any, name: str, module: bool) -> bool:
    """Whether pickle bytes ``data`` may hold ``name`` as a module's name (``module``) or a global's."""
    text = name.encode()
    short = b"\x8c" + bytes([len(text)]) + text if len(text) < 256 else text  # protocols 4 and 5
    older = b"c" + text + b"\n" if module else b"\n" + text + b"\n"  # protocols 2 and 3
    return data.find(short) != -1 or data.find(older) != -1


def _defined_in(module: Any, name: str) -> List[Any]:
    return [obj for obj in list(vars(module).values())
            if isinstance(obj, (type, types.FunctionType)) and getattr(obj, "__module__", None) == name]

"""TOML files parsed once per content: an unchanged ``datamake.toml`` (or pins file) is read back from the
cache folder as the parser left it, so that a command does not import the TOML parser (slow to import).
The parse is kept per interpreter version: the standard library's tomllib is part of it (before Python
3.11, when tomli is used, nothing is kept). It is found by the file's content, not its path: a fresh
copy or checkout of a project (a CI job, a new clone, a benchmark's folder) reads it back too."""
from __future__ import annotations

import os
import sys
from typing import Any, Dict, Optional

from datamake._paths import cache_dir
from datamake.core.hashing import hash_bytes
from datamake.storage.localfiles import read_json_cache, write_json_cache


def parser():
    """``tomllib`` (``tomli`` before Python 3.11), imported at the first TOML text not in the cache."""
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.9 and 3.10
        import tomli as tomllib
    return tomllib


_KEPT = sys.version_info >= (3, 11)  # tomllib is the interpreter's own: its parse of given bytes never changes


def _digest(raw: bytes) -> str:
    return hash_bytes(sys.version.encode() + b"\0" + raw)


def _cache_path(digest: str) -> str:
    return os.path.join(cache_dir(), f"toml-{digest[:24]}.json")


def cached(path: str, raw: bytes) -> Optional[Dict[str, Any]]:
    """What the parser made of a file (``path``) holding exactly ``raw``, wherever it lay; None when not kept."""
    if not _KEPT:
        return None
    digest = _digest(raw)
    kept = read_json_cache(_cache_path(digest))
    data = kept.get("data")
    return data if kept.get("digest") == digest and isinstance(data, dict) else None


def keep(path: str, raw: bytes, data: Dict[str, Any]) -> None:
    """Remember the parse of ``raw`` (read from ``path``), when JSON holds it exactly (no TOML dates or times)."""
    if _KEPT and _json_exact(data):
        digest = _digest(raw)
        write_json_cache(_cache_path(digest), {"digest": digest, "data": data})


def _json_exact(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_json_exact(v) for v in value.values())  # TOML keys are strings
    if isinstance(value, list):
        return all(_json_exact(v) for v in value)
    return isinstance(value, (str, int, float))  # bool is an int

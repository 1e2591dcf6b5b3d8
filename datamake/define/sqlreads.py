"""The files a SQL statement names: what a SQL engine that opens files itself (DuckDB) may read.

DuckDB reads files its SQL text names (``SELECT * FROM 'orders.csv'``, ``read_parquet('parts/*.parquet')``,
``ATTACH 'other.duckdb'``) or its parameters hold (``read_csv(?)``), in C++, without Python's ``open``.
:func:`named_files` takes every string literal of the text (single-quoted strings, double-quoted
identifiers) and every text parameter, and keeps those that name a file or folder that is there, relative to
the working folder, a glob pattern that matches one, or a URL of a remote store. Over-inclusive on purpose: a
literal that happens to name a file only makes the statement's asset depend on it. Not what the statement
writes (``COPY ... TO 'out.csv'``, ``EXPORT DATABASE 'dir'``); a database it attaches is one it may write too.
"""
from __future__ import annotations

import functools
import glob
import os
import re
from typing import Any, List, Tuple

from datamake.define.entrywatch import MAY_WRITE

# a single-quoted string ('' inside is one quote) or a double-quoted identifier ("" inside is one quote)
_LITERAL = re.compile(r"'((?:[^']|'')*)'|\"((?:[^\"]|\"\")*)\"")
_GLOB = re.compile(r"[*?\[]")
_WRITTEN = re.compile(r"\b(?:TO|EXPORT\s+DATABASE)\s*$", re.IGNORECASE)  # what comes before a file written
_ATTACHED = re.compile(r"\bATTACH(?:\s+DATABASE)?(?:\s+IF\s+NOT\s+EXISTS)?\s*$", re.IGNORECASE)
_REMOTE = ("s3://", "s3a://", "gs://", "gcs://", "r2://", "az://", "azure://", "abfss://", "hf://",
           "http://", "https://")


def named_files(query: Any, params: Any = None) -> List[Tuple[str, Tuple[str, ...]]]:
    """The files, folders, patterns and remote URLs that SQL text ``query`` and its ``params`` name that it
    may read, each with how: ``()`` read, ``(MAY_WRITE,)`` a database it attaches."""
    candidates = list(_literals(query)) if isinstance(query, str) else []
    if isinstance(params, dict):
        params = params.values()
    if isinstance(params, (list, tuple, type({}.values()))):
        candidates += [(p, ()) for p in params if isinstance(p, str) and ("/" in p or "." in p)]
    return [(text, access) for text, access in candidates if _names_a_file(text)]


@functools.lru_cache(maxsize=512)
def _literals(query: str) -> Tuple[Tuple[str, Tuple[str, ...]], ...]:
    """The text of each string literal and quoted identifier of ``query`` that may be a path it reads,
    with how it reads it (not one it writes)."""
    found, after = {}, 0
    for match in _LITERAL.finditer(query):
        single, double = match.groups()
        text = single.replace("''", "'") if single is not None else double.replace('""', '"')
        before, after = query[after:match.start()], match.end()  # (the text since the literal before)
        if text.strip() and "\n" not in text and len(text) < 4096 and not _WRITTEN.search(before):
            found.setdefault(text, (MAY_WRITE,) if _ATTACHED.search(before) else ())
    return tuple(found.items())


def _names_a_file(text: str) -> bool:
    if text.startswith(_REMOTE):
        return True
    if "://" in text:  # another scheme (a local file:// URL is read as its path)
        return text.startswith("file://") and _names_a_file(text[len("file://"):])
    if _GLOB.search(text):
        return next(glob.iglob(text, recursive=True), None) is not None
    return os.path.exists(text)

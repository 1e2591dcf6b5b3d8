"""The code version of a command: its text and the scripts it runs.

A Python script counts by its normalized source (comments, docstrings and
formatting do not change it, as for an ``@asset`` function); any other script
(shell, R, Julia...) counts by its bytes.
"""
from __future__ import annotations

import os
import shlex
from typing import Iterable, List, Tuple

from datamake.core.errors import DefinitionError
from datamake.core.hashing import hash_bytes, hash_value
from datamake.define.codeversion import normalized_source

SCRIPT_SUFFIXES = (".py", ".sh", ".bash", ".r", ".R", ".jl", ".pl", ".rb", ".js", ".sql", ".awk")


def is_script(path: str) -> bool:
    return path.endswith(SCRIPT_SUFFIXES)


def named_scripts(cmd: str, base: str) -> List[str]:
    """The script files a command names (words with a script suffix that exist under ``base``)."""
    try:
        words = shlex.split(cmd)
    except ValueError:
        words = cmd.split()
    return [w for w in words if is_script(w) and os.path.isfile(os.path.join(base, w))]


def script_version(path: str) -> str:
    """A script's version: normalized source for Python, bytes otherwise."""
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".py"):
        try:
            return hash_value("python script", normalized_source(data.decode("utf-8")))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            pass  # not parseable: its bytes, then
    return hash_bytes(data)


def command_version(cmd: str, scripts: Iterable[str], base: str) -> Tuple[str, List[str]]:
    """(code version, the scripts it covers) of ``cmd`` run in ``base``."""
    covered = sorted(dict.fromkeys(scripts))
    versions = []
    for rel in covered:
        full = os.path.join(base, rel)
        if not os.path.isfile(full):
            raise DefinitionError(f"command asset: code file {rel!r} does not exist (in {base})",
                                  hint="fix the path in code= (relative to the definitions file)")
        versions.append([rel, script_version(full)])
    return hash_value("command", cmd, versions)[:16], covered

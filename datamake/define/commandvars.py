"""The environment variables a command an asset starts names on its command line, with the version of
each as the command got it: read by the command as surely as ``os.environ[...]`` is by Python code.

What counts as naming a variable, in any word of the command line (a shell line, a ``bash -c`` script, a
plain argument: over-recording a name only adds a read): ``$NAME``, ``${NAME}`` and every ``${NAME...}``
form (``${NAME:-default}``, ``${#NAME}``, ``${!NAME}``...), single-quoted or escaped too (an inner shell
may expand it), a name inside ``$((...))`` or ``((...))`` arithmetic, and ``HOME`` for a ``~`` that starts
a word. Not names: ``$$``, ``$1``, ``$@``, ``$?`` and the other special parameters. What the programs it
runs read of the environment otherwise (``PATH``, ``LANG``, a script's own ``$X``) is not seen.

A command given ``env=`` reads that mapping, not the environment: a variable it holds with the
environment's value (a copy of ``os.environ`` with changes) counts as read from the environment; one it
holds with another value, or leaves out while the environment has it, is the asset's own choice (its
code), not an input; one neither has counts as missing.
"""
from __future__ import annotations

import os
import re
from typing import Any, List, Optional, Tuple

from datamake.define import envwatch, openwatch

_NAMED = re.compile(r"\$(?:\{[#!]?)?([A-Za-z_][A-Za-z0-9_]*)")  # $NAME, ${NAME...}, ${#NAME}, ${!NAME}
_BARE = re.compile(r"(?<![\w$])[A-Za-z_][A-Za-z0-9_]*")
_TILDE = re.compile(r"(?:^|[\s=:;|&(`'\"])~(?=$|[/\s;|&)`'\"])")  # ~ and ~/x (not ~user): $HOME


def command_line(event: str, args: tuple) -> Tuple[List[Any], Any, Any]:
    """A started command's ``(words, cwd, env)`` from its audit event: the program and its arguments (a
    string run by the shell as one word), the folder it runs in (None: this one) and the mapping it was
    given as its environment (``None``: it inherits this process's)."""
    args = tuple(args)
    if event == openwatch.POPEN:
        executable, argv, cwd, env = (args + (None, None, None, None))[:4]
        return [executable, *_listed(argv)], cwd, env
    if event == openwatch.SYSTEM:
        return [args[0] if args else None], None, None
    path, argv, env = (args + (None, None, None))[:3]
    return [path, *_listed(argv)], None, env


def read(event: str, args: tuple) -> List[Tuple[str, str]]:
    """``(name, version)`` of each variable the command of one audit event names, as it got it (see the
    module); none for a command that names no variable (most)."""
    words, _cwd, env = command_line(event, args)
    found = []
    for name in named(words):
        got = _version_got(name, env)
        if got is not None:
            found.append((name, got))
    return found


def named(words: List[Any]) -> List[str]:
    """The variables a command's words name, in order, each once."""
    names: List[str] = []
    for word in words:
        if isinstance(word, (str, bytes, os.PathLike)):
            text = os.fsdecode(os.fspath(word))
            if "$" in text or "((" in text or "~" in text:
                names += _NAMED.findall(text)
                for expression in _arithmetic(text):
                    names += _BARE.findall(expression)
                if _TILDE.search(text):
                    names.append("HOME")
    return list(dict.fromkeys(names))


def _arithmetic(text: str) -> List[str]:
    """The expressions of ``$((...))`` and ``((...))`` in ``text``, each to its matching ``))``, where a
    bare name is a variable (``$((SCALE * 2))``)."""
    found, start = [], text.find("((")
    while start >= 0:
        depth, end = 0, len(text)  # (unclosed: to the end)
        for at in range(start, len(text)):
            depth += {"(": 1, ")": -1}.get(text[at], 0)
            if depth == 0:
                end = at - 1
                break
        found.append(text[start + 2:end])
        start = text.find("((", end)
    return found


def _version_got(name: str, env: Any) -> Optional[str]:
    """The version of ``name`` in the environment the command got, when that came from this process's
    environment (:func:`datamake.define.envwatch.version`); None when the asset's code chose it."""
    if env is None or env is os.environ:
        return envwatch.version(name)
    given = _given(env, name)
    current = envwatch.encoded(name)
    if given is None:
        return envwatch.MISSING if current is None else None
    if current is not None and given == current:
        return envwatch.version(name)
    return None


def _given(env: Any, name: str) -> Optional[bytes]:
    """The value of ``name`` in the mapping a command was given (keys and values as text or bytes),
    encoded as the environment's values are; None when it has none."""
    for key in (name, os.fsencode(name)):
        try:
            value = env.get(key)
        except Exception:  # not a mapping: subprocess fails on it anyway
            return None
        if isinstance(value, (str, bytes, os.PathLike)):
            value = os.fspath(value)
            return value if isinstance(value, bytes) else os.environ.encodevalue(value)  # type: ignore[attr-defined]
    return None


def _listed(argv: Any) -> List[Any]:
    """A command's arguments as a list (a string, or one path: a single word)."""
    if isinstance(argv, (str, bytes, os.PathLike)):
        return [argv]
    try:
        return list(argv or ())
    except TypeError:
        return []

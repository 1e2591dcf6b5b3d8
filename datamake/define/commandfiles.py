"""The files and folders a command an asset starts names on its command line: the scripts it runs and
the data it is given, read (or written) by another process, which no audit hook sees.

A word names a path relative to the folder the command runs in (its ``cwd=``, else this process's): a
plain argument, what follows ``=`` in ``--in=data/a.csv``, and each word of a line a shell is given
(``sh -c "python count.py data/a.txt"``). A file there is read by the command (or rewritten), a folder
is read whole, and a path where nothing is yet may be made by it (``> result.txt``). A glob pattern
(``cat data/*.csv``, expanded by the shell or by the command) names the files it matches and the folder it
lists, whose names decide what it matches (a folder the pattern goes down, ``data/*/x.csv``, whole). So does a
quoted relative path in code the line hands an interpreter (``python -c "...read_csv('data/a.csv')"``,
``duckdb -c "select * from 'data/a.csv'"``) that names a file or folder there. Used where the asset runs
and in the processes it starts, which tell the asset (:mod:`datamake.execution.childreads`).
"""
from __future__ import annotations

import os
import re
from typing import Any, List, Tuple

from datamake.define.commandvars import command_line


FILE, FOLDER, ABSENT = "file", "folder", "absent"  # what a path a command names is as it starts
LISTED = "listed"  # a folder a glob pattern of the line lists: the names in it
# a word that is a path with a wildcard (not code such as "print(2*3)", nor an option's text)
_PATTERN = re.compile(r"[\w.,@+%~/-]*[*?][\w.,@+%~/*?\[\]-]*")
_LITERAL = re.compile(r"""["']([^"'\s]{1,4095})["']""")  # a quoted string of code given on the line


def named(event: str, args: tuple) -> List[Tuple[str, str]]:
    """``(absolute path, FILE, FOLDER, LISTED or ABSENT)`` of each path the command of one audit event names,
    in order: an absent one is a file the command may make (its output)."""
    words, cwd, _env = command_line(event, args)
    base = os.fsdecode(os.fspath(cwd)) if isinstance(cwd, (str, bytes, os.PathLike)) else os.getcwd()
    found = []
    for word in words:
        if not isinstance(word, (str, bytes, os.PathLike)):
            continue
        word = os.fsdecode(os.fspath(word))
        for part in [word, *(_words(word) if " " in word else ())]:
            for candidate in (part, part.partition("=")[2]):
                found += _path_named(base, candidate)
        if "'" in word or '"' in word:  # code handed to an interpreter: python -c "... open('data/a.csv') ..."
            for literal in _LITERAL.findall(word):
                if not os.path.isabs(literal):
                    found += [(full, what) for full, what in _path_named(base, literal) if what != ABSENT]
    return found


def _path_named(base: str, candidate: str) -> List[Tuple[str, str]]:
    """What one word of a command line names, relative to folder ``base``: a file, a folder, a path where
    nothing is yet, or what a glob pattern lists and matches (:func:`_matched`)."""
    if not candidate or len(candidate) >= 4096 or "\0" in candidate:
        return []
    if "*" in candidate or "?" in candidate:
        return _matched(base, candidate)
    full = os.path.abspath(os.path.join(base, candidate))
    return [(full, FILE if os.path.isfile(full) else FOLDER if os.path.isdir(full) else ABSENT)]


def _matched(base: str, pattern: str) -> List[Tuple[str, str]]:
    """The folder a glob ``pattern`` of a command line lists (the one its last part is matched in, or,
    when a wildcard comes earlier, the folder it starts in, whole) and the paths it matches now; none for
    a word that is no path pattern."""
    if not _PATTERN.fullmatch(pattern):
        return []
    import glob  # lazy: only a command line with a wildcard

    full = os.path.abspath(os.path.join(base, pattern))
    folder, last = os.path.split(full)
    wild_folder = glob.has_magic(folder)
    while glob.has_magic(folder):
        folder = os.path.dirname(folder)
    found = [(folder, FOLDER if wild_folder else LISTED)]
    for path in sorted(glob.glob(full, recursive=True))[:1000]:
        found.append((path, FILE if os.path.isfile(path) else FOLDER))
    return found


def _words(line: Any) -> List[str]:
    """A command line run by the shell, split into words as the shell would."""
    import shlex  # lazy: only a command started through the shell

    try:
        return shlex.split(line)
    except ValueError:
        return line.split()

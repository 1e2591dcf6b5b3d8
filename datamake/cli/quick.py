"""A ``make`` command line of plain options, run without importing the command-line framework.

click and what it loads (its modules, ``inspect``'s callers, ``uuid`` and ``platform``, ``gettext`` and
``locale``) are about a fifth of a cold ``make``'s fixed cost. A command line made only of the options below,
each written out in full with its value as the next argument, and of selection words, means exactly one
thing to click too: it runs here, through the same code as the click command (:mod:`datamake.cli.makerun`),
printing and exiting as click would. Anything else (``--help``, ``-n``, ``--config``, ``-p``, ``--jobs=2``,
``-qv``, ``--``, a value click would reject, shell completion) is left to click, which parses it, prints its
help and its errors.
"""
from __future__ import annotations

import errno
import os
import sys
from typing import Any, Dict, List, Optional

from datamake.shortcut.check import make_at

_FLAGS = {"-k": "keep_going", "--keep-going": "keep_going", "-B": "force", "--force": "force",
          "--only": "only", "--json": "as_json", "-q": "quiet", "--quiet": "quiet", "-v": "verbose",
          "--verbose": "verbose"}
_VALUED = {"-j": "jobs", "--jobs": "jobs", "--executor": "executor"}
_ANSI = r"\033\[[;?0-9]*[a-zA-Z]"  # what click.echo strips from text for a stream that is no terminal


def parse(argv: List[str]) -> Optional[Dict[str, Any]]:
    """The options of a ``[-C DIR] make ...`` command line this module runs; None for any other."""
    found = make_at(argv)
    if found is None or os.environ.get("_DATAMAKE_COMPLETE"):  # shell completion: click's
        return None
    directory, at = found
    opts: Dict[str, Any] = {"dir": directory, "selection": [], "jobs": None, "executor": None,
                            **{name: False for name in _FLAGS.values()}}
    rest = argv[at + 1:]
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg in _FLAGS:
            opts[_FLAGS[arg]] = True
        elif arg in _VALUED and i + 1 < len(rest):
            i += 1
            value = _value(_VALUED[arg], rest[i])
            if value is None:
                return None  # click says what is wrong with it
            opts[_VALUED[arg]] = value
        elif arg and not arg.startswith("-"):
            opts["selection"].append(arg)
        else:
            return None
        i += 1
    return opts


def _value(name: str, text: str) -> Any:
    """``-j N`` (a whole number from 1) or ``--executor NAME`` (one of the executors); None: not so plainly."""
    if name == "jobs":
        return int(text) if text.isascii() and text.isdigit() and int(text) >= 1 else None
    from datamake.core.executor_names import EXECUTORS

    return text if text in EXECUTORS else None


def echo(message: str = "", err: bool = False, file: Any = None) -> None:
    """``click.echo`` of a text: a line on stdout (or stderr), its escape sequences dropped off a terminal."""
    out = file if file is not None else (sys.stderr if err else sys.stdout)
    if out is None:
        return
    if "\033" in message and not _isatty(out):
        import re  # lazy: only a text with escape sequences

        message = re.sub(_ANSI, "", message)
    out.write(message + "\n")
    out.flush()


def _isatty(stream: Any) -> bool:
    try:
        return stream.isatty()
    except Exception:  # noqa: BLE001 - a replaced stream without one
        return False


def run(argv: List[str]) -> Optional[int]:
    """Run ``argv`` when it is a plain ``make`` command line and return its exit code; None otherwise."""
    opts = parse(argv)
    if opts is None:
        return None
    from datamake.core.errors import DatamakeError

    try:
        return _make(opts)
    except DatamakeError as exc:
        from datamake.cli.makerun import print_error

        return print_error(exc, echo)
    except (EOFError, KeyboardInterrupt):
        echo(err=True)
        echo("Aborted!", err=True)
        return 1
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        sys.stdout = _Quiet(sys.stdout)
        sys.stderr = _Quiet(sys.stderr)
        return 1


def _make(opts: Dict[str, Any]) -> int:
    from contextlib import ExitStack, redirect_stdout

    from datamake.cli import makerun
    from datamake.core.textout import json_text

    as_json, quiet, verbose = opts["as_json"], opts["quiet"], opts["verbose"]
    json_out = sys.stdout
    with ExitStack() as stack:
        if as_json:  # the JSON document alone on stdout: what the user's code prints goes to stderr
            stack.enter_context(redirect_stdout(sys.stderr))
        project = makerun.open_project(opts["dir"], (), one_shot=True, echo=echo)
        call = makerun.make_call(project, tuple(opts["selection"]), opts["jobs"], opts["executor"],
                                 opts["keep_going"], opts["force"], opts["only"], as_json, quiet, verbose, None,
                                 False, echo)
        return makerun.execute(project, as_json, quiet, verbose, call, echo,
                               lambda data: echo(json_text(data), file=json_out))


class _Quiet:
    """A stream whose flush ignores a closed pipe, as click leaves stdout after one (its _PacifyFlushWrapper)."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped

    def flush(self) -> None:
        try:
            self.wrapped.flush()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)

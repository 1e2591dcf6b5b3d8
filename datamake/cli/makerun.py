"""What a ``make`` does once its command line is parsed, free of the command-line framework: the click
command (:mod:`datamake.cli.main`) and the launcher's quick path (:mod:`datamake.cli.quick`) both run it,
each passing how it prints (``echo(text, err=False)``) and where the JSON document goes."""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Callable, Iterable


def open_project(directory: str, config_pairs: Iterable[str] = (), one_shot: bool = False,
                 long_lived: bool = False, *, echo: Callable[..., None]):
    """Load the project found from ``directory`` with ``--config`` overrides; print its definition warnings.

    The command then runs in the project's folder (that of ``datamake.toml``), wherever it was started:
    a relative path the definitions or an asset open means the same file from a subfolder or with
    ``-C``, as the reads recorded for it (relative to the project) do."""
    import os

    from datamake import api
    from datamake.define import snapshot
    from datamake.project import heap
    from datamake.project.assetconfig import parse_overrides
    from datamake.project.settings import find_config

    config = find_config(directory)
    os.chdir(os.path.dirname(config))
    if one_shot and not long_lived:
        snapshot.note_import_reads(False)  # loaded once: what a later load would see is not asked
    with heap.planning(freeze=one_shot):
        project = api.load(config, parse_overrides(tuple(config_pairs)))
    project.one_shot = one_shot
    for w in project.defs.warnings:
        echo(f"datamake: warning: {w}", err=True)
    return project


def print_warnings(project, echo: Callable[..., None], code_warnings: Iterable[str] = ()) -> None:
    """Print the store's warnings and the code-version warnings of the assets in scope, each once."""
    for w in dict.fromkeys([*code_warnings, *project.store.warnings]):
        echo(f"datamake: warning: {w}", err=True)
    project.store.warnings.clear()


def print_error(exc, echo: Callable[..., None]) -> int:
    """A DatamakeError as one clear message (and its hint), never a traceback; its exit code."""
    echo(f"datamake: error: {exc.message}", err=True)
    if exc.hint:
        echo(f"  hint: {exc.hint}", err=True)
    return exc.exit_code


def certify_at_end(project, output: dict, echo: Callable[..., None]):
    """At the end of a ``make`` (store lock held): the certificate the next identical command can answer from."""
    def on_end(result):
        from datamake.shortcut import record  # lazy: only after a make

        why = record.certify(project, result, output)
        if why and output["verbose"]:
            echo(f"datamake: the next make cannot be answered without loading the project: {why}", err=True)
    return on_end


def make_call(project, selection, jobs, executor, keep_going: bool, force: bool, only: bool, as_json: bool,
              quiet: bool, verbose: bool, partition, config_given: bool, echo: Callable[..., None]):
    """``call(reporter)`` for :func:`execute`: the ``make`` of these options, certified at its end when
    nothing (``--force``, ``-p``, ``--config``) makes it a command the certificate must not answer."""
    from datamake import api

    on_end = None if force or partition or config_given else certify_at_end(
        project, {"json": as_json, "quiet": quiet, "verbose": verbose}, echo)
    return lambda reporter: api.make(project, selection, jobs=jobs, executor=executor, keep_going=keep_going,
                                     force=force, only=only, reporter=reporter, partition=partition, on_end=on_end)


def execute(project, as_json: bool, quiet: bool, verbose: bool, call, echo: Callable[..., None],
            emit_json: Callable[[Any], None], **extra_json) -> int:
    """Run ``call(reporter)`` (a make) with the reporter the output calls for, print its result; the exit code."""
    from datamake.execution.reporters import LineReporter, LiveReporter, MessagesOnly  # lazy: a fast --help

    if as_json:
        reporter = MessagesOnly()
    elif sys.stdout.isatty():
        reporter = LiveReporter(verbose=verbose, quiet=quiet)
    else:
        reporter = LineReporter(verbose=verbose, quiet=quiet)
    above = reporter.output_above() if isinstance(reporter, LiveReporter) else contextlib.nullcontext()
    with above, _asset_logs(reporter, verbose and not as_json):
        result = call(reporter)
    print_warnings(project, echo, project.code_warnings(a.key for a in result.assets))
    if as_json:
        emit_json({**extra_json, **result.to_dict()})
    if result.interrupted:  # exit now: a worker thread abandoned by a second Ctrl-C must not hold the exit
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    return 0 if result.ok else 1


def _asset_logs(reporter, enabled: bool):
    if not enabled:
        return contextlib.nullcontext()
    from datamake.execution.assetlogs import show_asset_logs  # lazy: logging is loaded only for make -v

    return show_asset_logs(reporter)

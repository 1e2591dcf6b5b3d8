"""The ``datamake`` command: parse, call :mod:`datamake.api`, render text or JSON."""
from __future__ import annotations

import contextlib
import importlib
import os
import sys
from typing import Any, Optional

import click

from datamake._version import __version__
from datamake.cli import makerun
from datamake.core.durations import DURATION_FORMS, parse_duration
from datamake.core.errors import DatamakeError
from datamake.core.executor_names import EXECUTORS
from datamake.core.textout import _DUMP, Encoded, json_text  # noqa: F401 (json_text: also for callers of main)
from datamake.core.keys import node_id


def _render():
    from datamake.cli import render  # lazy: the planner it imports is not needed for --version or --help

    return render


def _status_text(project, plan, show_all: bool = False, sources=()) -> str:
    """``status`` as text: partition ranges checked against the order of each asset's partitions."""
    import datetime

    now = datetime.datetime.now(datetime.timezone.utc)

    def partition_order(key: str):
        definition = project.defs.assets.get(key) or project.defs.sources.get(key)
        partitions = getattr(definition, "partitions", None)
        return None if partitions is None else partitions.keys(now)
    return _render().status_text(plan, show_all=show_all, partition_order=partition_order, sources=sources)


class _Group(click.Group):
    """Turns DatamakeErrors into one clear message and their exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DatamakeError as exc:
            ctx.exit(makerun.print_error(exc, click.echo))


class _Main(_Group):
    """The top-level group: commands kept in modules of their own load when named (or listed by --help)."""

    def get_command(self, ctx: click.Context, name: str) -> Optional[click.Command]:
        if name not in self.commands and name in _LAZY_COMMANDS:
            module, _, attribute = _LAZY_COMMANDS[name].partition(":")
            loaded = importlib.import_module(f"datamake.cli.{module}")  # a module without :attr registers its own
            if attribute:
                self.add_command(getattr(loaded, attribute), name)
        return super().get_command(ctx, name)

    def list_commands(self, ctx: click.Context):
        return sorted({*self.commands, *_LAZY_COMMANDS})


# Each command defined outside this module: "module" (it registers itself on ``main``) or "module:attribute".
_LAZY_COMMANDS = {
    "jobs": "jobs", "run": "jobs", "graph": "graph", "init": "init", "partitions": "partitions",
    "params": "metrics:params", "metrics": "metrics:metrics", "plots": "metrics:plots",
    "daemon": "automation:daemon", "schedules": "automation:schedules", "sensors": "automation:sensors",
    "ticks": "automation:ticks", "ui": "ui:ui_command",
}

_JSON_OUT = "datamake.json_out"
_ONE_SHOT = "one_shot"


def run() -> None:
    """The ``datamake`` program: the command is the whole process (callers in a longer-lived process use ``main``)."""
    main(prog_name="datamake", obj={_ONE_SHOT: True})


def _project(ctx: click.Context, config_pairs=(), long_lived: bool = False):
    """The project of the command's folder; with ``--json``, stdout is the JSON document's alone."""
    if ctx.params.get("as_json") and _JSON_OUT not in ctx.meta:
        # The JSON document must be the only thing on stdout: whatever the user's code prints
        # (on import or while an asset runs) goes to stderr for the rest of the command.
        ctx.meta[_JSON_OUT] = sys.stdout
        ctx.with_resource(contextlib.redirect_stdout(sys.stderr))
    return makerun.open_project(ctx.obj["dir"], config_pairs, one_shot=bool(ctx.obj.get(_ONE_SHOT)),
                                long_lived=long_lived, echo=click.echo)


_partition_option = click.option(
    "-p", "--partition", default=None, metavar="SPEC",
    help="Partitions of partitioned assets: KEY, FIRST...LAST (inclusive), DIM=VALUE; comma-separated.")

_config_option = click.option(
    "--config", "config_pairs", multiple=True, metavar="ASSET.FIELD=VALUE",
    help="Override an asset's config value (repeatable); it is part of the provenance.")


def _emit_json(data: Any) -> None:
    out = click.get_current_context().meta.get(_JSON_OUT)
    click.echo(json_text(data), file=out)


def _warnings(project, code_warnings=()) -> None:
    """Print the store's warnings and the code-version warnings of the assets in scope, each once."""
    makerun.print_warnings(project, click.echo, code_warnings)


def _status_json(plan, code_warnings, freshness=None, sources=()) -> dict:
    """``status --json``: the contracted ``assets`` (with ``freshness`` where a goal is declared),
    ``warnings`` when there are any, and ``sources`` when the selection names only sources."""
    encoded = getattr(plan, "encoded", None)  # a compact plan: no dict per fresh partition
    data = {"assets": Encoded(encoded(_DUMP)) if encoded is not None and not freshness
            else [d.to_dict() for d in plan.decisions]}
    for entry in data["assets"] if freshness else ():
        fresh = freshness.get(node_id(entry["key"], entry["partition"]))
        if fresh is not None:
            entry["freshness"] = fresh
    if code_warnings:
        data["warnings"] = list(code_warnings)
    if sources:
        data["sources"] = list(sources)
    return data


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-C", "--project", "project_dir", default=".", metavar="DIR",
              help="Run as if started in DIR (datamake.toml is looked for there and above).")
@click.version_option(__version__, prog_name="datamake")
@click.pass_context
def main(ctx: click.Context, project_dir: str) -> None:
    """make for data: declare assets as Python functions, rebuild only what is stale."""
    ctx.ensure_object(dict)
    ctx.obj["dir"] = project_dir
    started_in = os.getcwd()  # the command runs in the project's folder (see makerun.open_project): a caller
    ctx.call_on_close(lambda: os.chdir(started_in))  # of main() in its own process gets its folder back


@main.command()
@click.argument("selection", nargs=-1)
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Assets to run in parallel.")
@click.option("-n", "--dry-run", is_flag=True, help="Show what would be done (same as status).")
@click.option("-k", "--keep-going", is_flag=True, help="Go on with other branches after a failure.")
@click.option("-B", "--force", is_flag=True, help="Rebuild the selection even if fresh (not restored from cache).")
@click.option("--only", is_flag=True, help="Do not build upstream assets outside the selection.")
@click.option("--executor", type=click.Choice(EXECUTORS), default=None,
              help="Where assets run (default from datamake.toml, else thread).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="Print only failures and the summary of a failed run.")
@click.option("-v", "--verbose", is_flag=True,
              help="Print every asset, including those up to date, and what each asset logs.")
@_config_option
@_partition_option
@click.pass_context
def make(ctx, selection, jobs, dry_run, keep_going, force, only, executor, as_json, quiet, verbose, config_pairs,
         partition):
    """Bring SELECTION (KEY, +KEY, KEY+, sales/*, group:, tag:, kind:, and/or/not; default all) up to date."""
    from datamake import api  # lazy: a fast --help

    project = _project(ctx, config_pairs)
    if dry_run:
        _print_plan(project, api.status(project, selection, only=only, force=force, partition=partition), as_json)
        return
    _execute(ctx, project, as_json, quiet, verbose, makerun.make_call(
        project, selection, jobs, executor, keep_going, force, only, as_json, quiet, verbose, partition,
        bool(config_pairs), click.echo))


def _print_plan(project, plan, as_json: bool, **extra_json) -> None:
    """``make -n``: the plan as text or as ``status --json``, with the code-version warnings."""
    code_warnings = project.code_warnings(plan.keys())
    _warnings(project, code_warnings)
    _emit_json({**extra_json, **_status_json(plan, code_warnings)}) if as_json else click.echo(_status_text(project, plan))


def _execute(ctx, project, as_json: bool, quiet: bool, verbose: bool, call, **extra_json) -> None:
    """Run ``call(reporter)`` (a make) with the reporter the output calls for, print its result, exit."""
    ctx.exit(makerun.execute(project, as_json, quiet, verbose, call, click.echo, _emit_json, **extra_json))


@main.command()
@click.argument("selection", nargs=-1)
@click.option("--only", is_flag=True, help="Do not include upstream assets outside the selection.")
@click.option("--all", "show_all", is_flag=True, help="List fresh assets too, however many.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.option("--exit-code", "exit_code", is_flag=True,
              help="Exit with 1 when something is stale (0 when everything is fresh), for CI.")
@click.option("--verify", is_flag=True,
              help="Look at each partition's files as make does, not the kept summaries (slower; "
                   "also sees a file changed in place).")
@_config_option
@_partition_option
@click.pass_context
def status(ctx, selection, only, show_all, as_json, exit_code, verify, config_pairs, partition):
    """Show what `make` would rebuild and why."""
    from datamake import api  # lazy: a fast --help

    project = _project(ctx, config_pairs)
    plan = api.status(project, selection, only=only, partition=partition, verify=verify)
    planned = plan.keys()
    code_warnings = project.code_warnings(planned)
    _warnings(project, code_warnings)
    # a selection of sources alone plans nothing: say what is observed of them instead
    sources = api.named_sources(project, selection, partition) if selection and not planned else ()
    from datamake.cli import automation  # lazy: freshness goals, with the daemon's commands

    fresh = automation.freshness(project, plan)
    if as_json:
        _emit_json(_status_json(plan, code_warnings, fresh, sources))
    else:
        click.echo(_status_text(project, plan, show_all=show_all, sources=sources))
        for line in automation.freshness_lines(fresh):
            click.echo(line)
        drifted = [k for k in project.pins if k in project.defs.assets and project.code_version(k).drifted]
        if drifted:
            click.echo(f"note: pinned assets whose source changed since the pin: {', '.join(sorted(drifted))}", err=True)
    if exit_code and plan.stale:
        ctx.exit(1)


@main.command()
@click.argument("asset")
@click.option("-p", "--partition", default=None, metavar="KEY", help="The partition to explain (partitioned assets).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.pass_context
def why(ctx, asset, partition, as_json):
    """Explain ASSET's state: recorded vs current code, config and inputs."""
    from datamake import api  # lazy: a fast --help

    project = _project(ctx)
    info = api.why(project, asset, partition)
    _warnings(project)  # the code-version warnings are part of the explanation itself
    _emit_json(info) if as_json else click.echo(_render().why_text(info))


@main.command(name="ls")
@click.argument("selection", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.pass_context
def ls_command(ctx, selection, as_json):
    """List the assets SELECTION names (default all) with dependencies, group and code version."""
    from datamake import api  # lazy: a fast --help

    rows = api.ls(_project(ctx), selection)
    _emit_json({"assets": rows}) if as_json else click.echo(_render().ls_text(rows))


@main.command()
@click.argument("asset")
@click.option("-n", "--rows", type=click.IntRange(min=0), default=10, show_default=True,
              help="Rows of a table (entries of a list or dict, lines of text) to print.")
@click.option("-p", "--partition", default=None, metavar="KEY", help="The partition to show (partitioned assets).")
@click.pass_context
def show(ctx, asset, rows, partition):
    """Print ASSET's current value (a table's schema and first rows)."""
    from datamake import api  # lazy: a fast --help

    value, io_manager = api.show_value(_project(ctx), asset, partition)
    click.echo(_render().value_text(value, rows, as_json=io_manager == "json"))


@main.command()
@click.argument("assets", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Pin every asset.")
@click.pass_context
def pin(ctx, assets, everything):
    """Record the current code version of ASSETS so cosmetic edits do not rebuild them."""
    project = _project(ctx)
    keys = _pin_keys(project, assets, everything)
    done = project.pin(keys)
    skipped = sorted(set(keys) - {k for k, _ in done})
    for key, version in done:
        click.echo(f"pinned   {key} at {version}")
        if key in project.pin_notes:
            click.echo(f"note: {key}: {project.pin_notes[key]}", err=True)
    for key in skipped:
        click.echo(f"skipped  {key}: its code version is set in code (code_version= in its decorator, "
                   "or a command asset's command and scripts), which pin does not override")


@main.command()
@click.argument("assets", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Unpin every asset.")
@click.pass_context
def unpin(ctx, assets, everything):
    """Release pins: ASSETS go back to automatic code versions."""
    project = _project(ctx)
    keys = list(project.pins) if everything else _pin_keys(project, assets, False, verb="unpin")
    removed = project.unpin(keys)
    for key in removed:
        click.echo(f"unpinned {key}")
    for key in sorted(set(keys) - set(removed)):
        click.echo(f"skipped  {key}: not pinned")


def _pin_keys(project, assets, everything, verb: str = "pin"):
    if everything:
        return [k for k in project.graph.order if k in project.defs.assets]
    if not assets:
        raise click.UsageError(f"name the assets to {verb} (or pass --all)")
    selected = project.graph.ordered(project.select(assets))
    keys = [k for k in selected if k in project.defs.assets]
    if not keys:
        why = ": a source has no code version" if selected else ""
        raise click.UsageError(f"{' '.join(assets)} names no asset to {verb}{why}")
    return keys


def _sync_text(verb: str, report) -> None:
    shown = {"pushed": verb, "pulled": verb, "corrupt": "corrupt", "missing": "missing",
             "not_materialized": "never built", "skipped": "skipped"}
    for row in report["assets"]:
        label = shown.get(row["outcome"])
        if label:
            click.echo(f"{label:<8} {row['key']}")
    mib = report["bytes"] / (1 << 20)
    click.echo(f"{verb}: {report['artifacts']} artifacts ({mib:.1f} MiB), {report['manifests']} manifests, "
               f"{report['actions']} action-cache entries; {report['remote']}")


def _sync_command(fn):
    """push and pull take the same arguments: a selection and --json."""
    fn = click.pass_context(fn)
    fn = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")(fn)
    return main.command()(click.argument("selection", nargs=-1)(fn))


@_sync_command
def push(ctx, selection, as_json):
    """Upload to the remote cache what it lacks for SELECTION (default all) and its upstream."""
    from datamake import api  # lazy: a fast --help

    _sync(ctx, api.push, selection, as_json, "pushed", failure="skipped")


def _sync(ctx, operation, selection, as_json: bool, verb: str, failure: str) -> None:
    """Run push or pull, print its report, and exit 1 when an asset ended in ``failure``."""
    project = _project(ctx)
    report = operation(project, selection)
    _warnings(project)
    _emit_json(report) if as_json else _sync_text(verb, report)
    ctx.exit(1 if any(r["outcome"] == failure for r in report["assets"]) else 0)


@_sync_command
def pull(ctx, selection, as_json):
    """Fetch the remote cache's current versions of SELECTION (default all) and its upstream."""
    from datamake import api  # lazy: a fast --help

    _sync(ctx, api.pull, selection, as_json, "pulled", failure="corrupt")


@main.command()
@click.option("--remote", "on_remote", is_flag=True, help="Collect the remote cache instead of the local store.")
@click.option("-n", "--dry-run", is_flag=True, help="Only report what would be deleted.")
@click.option("--older-than", "older_than", default="7d", show_default=True, metavar="AGE",
              help=f"Retention: keep anything younger than AGE, {DURATION_FORMS}.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.pass_context
def gc(ctx, on_remote, dry_run, older_than, as_json):
    """Delete artifacts and action-cache entries that no current manifest or pin references."""
    from datamake import api  # lazy: a fast --help

    retention = parse_duration(older_than)
    project = _project(ctx)
    report = api.gc(project, remote=on_remote, dry_run=dry_run, retention=retention,
                    on_wait=lambda holder: click.echo(f"waiting for {holder.describe()} to finish", err=True))
    _warnings(project)
    if as_json:
        _emit_json(report)
    elif report["deferred"]:
        click.echo(f"gc deferred, nothing deleted: {report['deferred']}", err=True)
    else:
        deleted = report["deleted"]
        verb = "would delete" if dry_run else "deleted"
        click.echo(f"{verb} {deleted['artifacts']} artifacts ({deleted['bytes'] / (1 << 20):.1f} MiB) and "
                   f"{deleted['actions']} action-cache entries; kept {report['kept']['artifacts']} artifacts, "
                   f"{report['kept']['actions']} entries ({report['store']})")
        if report["kept"]["newer"]:  # never this datamake's to delete
            click.echo(f"kept {report['kept']['newer']} action-cache entries a newer datamake wrote, whatever their "
                       "age: upgrade datamake to collect them")
    ctx.exit(1 if report["deferred"] else 0)


@main.command(name="log")
@click.argument("asset", required=False)
@click.option("--run", "run_id", metavar="RUN_ID", default=None, help="Every event of one run.")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many runs (or materializations of ASSET) to list.")
@click.option("--all", "every", is_flag=True, help="With ASSET: also the runs that found it up to date.")
@click.option("--prune", "older_than", metavar="OLDER_THAN", default=None,
              help=f"Delete runs that started before OLDER_THAN and their events: an age, {DURATION_FORMS}, "
                   "or a date (2024-01-31).")
@click.option("-p", "--partition", default=None, metavar="KEY", help="With ASSET: one partition's history.")
@click.option("--job", default=None, metavar="JOB", help="Only the runs of JOB (datamake run JOB).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.pass_context
def log_command(ctx, asset, run_id, limit, every, older_than, partition, job, as_json):
    """Show runs, or ASSET's materialization history (versions, durations, metadata, checks)."""
    from datamake import api  # lazy: a fast --help

    project = _project(ctx)
    if older_than is not None:
        report = api.prune_log(project, older_than)
        _emit_json(report) if as_json else click.echo(
            f"pruned {report['pruned_runs']} runs and {report['pruned_events']} events from the event log")
        return
    data = api.log(project, asset, run_id=run_id, limit=limit, every=every, partition=partition, job=job)
    if as_json:
        _emit_json(data)
    elif run_id is not None:
        click.echo(_render().run_events_text(data["run"], data["events"], data["ops"]))
    elif asset is not None:
        title = asset if partition is None else f"{asset}[{partition}]"
        click.echo(_render().materializations_text(title, data["materializations"]))
    else:
        click.echo(_render().runs_text(data["runs"]))


@main.command()
@click.argument("asset")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.pass_context
def lineage(ctx, asset, as_json):
    """Show the exact upstream data versions ASSET's current value was built from, and what uses it."""
    from datamake import api  # lazy: a fast --help

    project = _project(ctx)
    info = api.lineage(project, asset)
    _warnings(project)
    _emit_json(info) if as_json else click.echo(_render().lineage_text(info))


if __name__ == "__main__":  # pragma: no cover
    main()

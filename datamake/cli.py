"""The ``datamake`` command: parse, call :mod:`datamake.api`, render text or JSON."""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Optional

import click

from . import __version__
from .errors import DatamakeError


class _Group(click.Group):
    """Turns DatamakeErrors into one clear message and their exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DatamakeError as exc:
            click.echo(f"datamake: error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"  hint: {exc.hint}", err=True)
            ctx.exit(exc.exit_code)


def _project(ctx: click.Context, config_pairs=()):
    from . import api
    from .assetconfig import parse_overrides

    return api.load(ctx.obj["dir"], parse_overrides(tuple(config_pairs)))


_config_option = click.option(
    "--config", "config_pairs", multiple=True, metavar="ASSET.FIELD=VALUE",
    help="Override an asset's config value (repeatable); it is part of the provenance.")


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _warnings(project) -> None:
    for w in project.store.warnings:
        click.echo(f"datamake: warning: {w}", err=True)
    project.store.warnings.clear()


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-C", "--project", "project_dir", default=".", metavar="DIR",
              help="Run as if started in DIR (datamake.toml is looked for there and above).")
@click.version_option(__version__, prog_name="datamake")
@click.pass_context
def main(ctx: click.Context, project_dir: str) -> None:
    """make for data: declare assets as Python functions, rebuild only what is stale."""
    ctx.ensure_object(dict)
    ctx.obj["dir"] = project_dir


@main.command()
@click.argument("selection", nargs=-1)
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Assets to run in parallel.")
@click.option("-n", "--dry-run", is_flag=True, help="Show what would be done (same as status).")
@click.option("-k", "--keep-going", is_flag=True, help="Go on with other branches after a failure.")
@click.option("-B", "--force", is_flag=True, help="Rebuild the selection even if fresh (not restored from cache).")
@click.option("--only", is_flag=True, help="Do not build upstream assets outside the selection.")
@click.option("--executor", type=click.Choice(["inprocess", "thread", "process", "dask"]), default=None,
              help="Where assets run (default from datamake.toml, else thread).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="Print only failures and the summary of a failed run.")
@click.option("-v", "--verbose", is_flag=True, help="Print every asset, including those up to date.")
@_config_option
@click.pass_context
def make(ctx, selection, jobs, dry_run, keep_going, force, only, executor, as_json, quiet, verbose, config_pairs):
    """Bring SELECTION (asset keys or group:NAME; default all) up to date."""
    from . import api, render
    from .execution.reporters import LineReporter, LiveReporter, Reporter

    project = _project(ctx, config_pairs)
    if dry_run:
        plan = api.status(project, selection, only=only, force=force)
        _warnings(project)
        click.echo(json.dumps({"assets": [d.to_dict() for d in plan.decisions]}, indent=2) if as_json
                   else render.status_text(plan))
        return
    if as_json:
        reporter = Reporter()
    elif sys.stdout.isatty():
        reporter = LiveReporter(verbose=verbose, quiet=quiet)
    else:
        reporter = LineReporter(verbose=verbose, quiet=quiet)
    result = api.make(project, selection, jobs=jobs, executor=executor, keep_going=keep_going,
                      force=force, only=only, reporter=reporter)
    _warnings(project)
    if as_json:
        _emit_json(result.to_dict())
    ctx.exit(0 if result.ok else (130 if result.interrupted else 1))


@main.command()
@click.argument("selection", nargs=-1)
@click.option("--only", is_flag=True, help="Do not include upstream assets outside the selection.")
@click.option("--all", "show_all", is_flag=True, help="List fresh assets too, however many.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@_config_option
@click.pass_context
def status(ctx, selection, only, show_all, as_json, config_pairs):
    """Show what `make` would rebuild and why."""
    from . import api, render

    project = _project(ctx, config_pairs)
    plan = api.status(project, selection, only=only)
    _warnings(project)
    if as_json:
        _emit_json({"assets": [d.to_dict() for d in plan.decisions]})
    else:
        click.echo(render.status_text(plan, show_all=show_all))
        drifted = [k for k in project.pins if k in project.defs.assets and project.code_version(k).drifted]
        if drifted:
            click.echo(f"note: pinned assets whose source changed since the pin: {', '.join(sorted(drifted))}", err=True)


@main.command()
@click.argument("asset")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.pass_context
def why(ctx, asset, as_json):
    """Explain ASSET's state: recorded vs current code, config and inputs."""
    from . import api, render

    info = api.why(_project(ctx), asset)
    _emit_json(info) if as_json else click.echo(render.why_text(info))


@main.command(name="ls")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.pass_context
def ls_command(ctx, as_json):
    """List assets with dependencies, group and code version."""
    from . import api, render

    rows = api.ls(_project(ctx))
    _emit_json({"assets": rows}) if as_json else click.echo(render.ls_text(rows))


@main.command()
@click.argument("asset")
@click.option("-n", "--rows", default=10, show_default=True, help="Rows of a table to print.")
@click.pass_context
def show(ctx, asset, rows):
    """Print ASSET's current value (a table's schema and first rows)."""
    from . import api, render

    click.echo(render.value_text(api.show(_project(ctx), asset), rows))


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
    for key in skipped:
        click.echo(f"skipped  {key}: code_version= is set in its decorator")


@main.command()
@click.argument("assets", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Unpin every asset.")
@click.pass_context
def unpin(ctx, assets, everything):
    """Release pins: ASSETS go back to automatic code versions."""
    project = _project(ctx)
    keys = list(project.pins) if everything else _pin_keys(project, assets, False)
    removed = project.unpin(keys)
    for key in removed:
        click.echo(f"unpinned {key}")
    for key in sorted(set(keys) - set(removed)):
        click.echo(f"skipped  {key}: not pinned")


def _pin_keys(project, assets, everything):
    if everything:
        return [k for k in project.graph.order if k in project.defs.assets]
    if not assets:
        raise click.UsageError("name the assets to pin (or pass --all)")
    return [k for k in project.graph.ordered(project.graph.select(list(assets))) if k in project.defs.assets]


if __name__ == "__main__":  # pragma: no cover
    main()

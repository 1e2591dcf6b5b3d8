"""``datamake params``, ``datamake metrics`` and ``datamake plots``: compare config and numbers across runs and revisions."""
from __future__ import annotations

import json
from typing import Any, Dict, List

import click

from datamake.cli.main import _emit_json, _Group, _project

_json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
_all_option = click.option("--all", "show_all", is_flag=True, help="List unchanged values too.")


@click.group(cls=_Group)
def params() -> None:
    """The params file ([project] params): what changed."""


@params.command(name="diff")
@click.argument("rev", required=False)
@click.option("--run", "run_id", metavar="RUN_ID", default=None,
              help="Compare each asset's config with what it was built with as of an earlier run.")
@_all_option
@_json_option
@click.pass_context
def params_diff(ctx, rev, run_id, show_all, as_json):
    """Params that differ between the workspace and git revision REV (default HEAD), or an earlier run."""
    from datamake.metrics import params as params_mod  # lazy: a fast --help

    _one_of(rev, run_id)
    project = _project(ctx)
    if run_id:
        data, against, empty = params_mod.config_diff(project, run_id, show_all), f"run {run_id}", "no config"
    else:
        data = params_mod.params_diff(project, rev or "HEAD", show_all)
        against, empty = rev or "HEAD", f"no param of {data['file']}"
    if as_json:
        return _emit_json(data)
    _table(["param", against, "now"], [[r["param"], _show(r["old"]), _show(r["new"])] for r in data["params"]],
           f"{empty} differs from {against}")


@click.group(cls=_Group)
def metrics() -> None:
    """The numbers of the metric assets (@asset(metric=True))."""


@metrics.command(name="show")
@_json_option
@click.pass_context
def metrics_show(ctx, as_json):
    """Each metric asset's current numbers."""
    from datamake.metrics import values  # lazy: a fast --help

    data = values.current(_project(ctx))
    if as_json:
        return _emit_json({"metrics": data})
    rows = [[key, name, _show(v)] for key, numbers in data.items() for name, v in sorted((numbers or {}).items())]
    rows += [[key, "-", "never materialized"] for key, numbers in data.items() if numbers is None]
    _table(["asset", "metric", "value"], rows, "no metric values")


@metrics.command(name="diff")
@click.argument("rev", required=False)
@click.option("--run", "run_id", metavar="RUN_ID", default=None, help="Compare with an earlier run from the event log.")
@_all_option
@_json_option
@click.pass_context
def metrics_diff(ctx, rev, run_id, show_all, as_json):
    """Metric numbers now against git revision REV (default HEAD) or an earlier run (--run)."""
    from datamake.metrics import values  # lazy: a fast --help

    _one_of(rev, run_id)
    project = _project(ctx)
    new = values.current(project)
    against = f"run {run_id}" if run_id else (rev or "HEAD")
    old = values.in_run(project, list(new), run_id) if run_id else values.at_revision(project, list(new), rev or "HEAD")
    rows = values.diff(old, new, show_all)
    if as_json:
        return _emit_json({"against": against, "metrics": rows})
    _table(["asset", "metric", against, "now", "change"],
           [[r["asset"], r["metric"], _show(r["old"]), _show(r["new"]), _change(r["change"])] for r in rows],
           f"no metric differs from {against}")


@click.command()
@click.option("-o", "--output", default="plots.html", show_default=True, metavar="FILE",
              help="Where to write the page.")
@click.argument("assets", nargs=-1)
@click.pass_context
def plots(ctx, output, assets):
    """Write one self-contained HTML page charting each metric over its runs."""
    import os

    from datamake.metrics import plots as plots_mod, values  # lazy: a fast --help

    output = os.path.abspath(output)  # where the command was started: the command runs in the project's folder
    project = _project(ctx)
    keys = list(assets) or values.metric_keys(project)
    for key in keys:
        project.asset(key)  # an unknown key: a clear error with a did-you-mean hint
    charts = {key: plots_mod.series(values.history_of(project, key)) for key in keys}
    with open(output, "w", encoding="utf-8") as f:
        f.write(plots_mod.page(charts))
    click.echo(f"wrote {output} ({sum(len(c) for c in charts.values())} charts)")


def _one_of(rev: Any, run_id: Any) -> None:
    if rev and run_id:
        from datamake.core.errors import SelectionError  # lazy: a fast --help

        raise SelectionError("give a git revision or --run RUN_ID, not both")


def _show(value: Any) -> str:
    return "-" if value is None else json.dumps(value) if not isinstance(value, str) else value


def _change(value: Any) -> str:
    return "" if value is None else f"{value:+g}"


def _table(header: List[str], rows: List[List[str]], empty: str) -> None:
    if not rows:
        click.echo(empty)
        return
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())


COMMANDS: Dict[str, Any] = {"params": params, "metrics": metrics, "plots": plots}

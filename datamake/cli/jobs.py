"""``datamake jobs`` and ``datamake run JOB``: list the jobs, run one."""
from __future__ import annotations

from typing import Any, Dict, List

import click

from datamake.cli import main as cli  # complete when it imports this module at its end


@cli.main.command(name="jobs")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.pass_context
def jobs_command(ctx, as_json):
    """List the jobs and what each runs (exit 2 when one of them names no asset)."""
    from datamake import api  # lazy: a fast --help

    project = cli._project(ctx)
    rows = api.jobs(project)
    cli._emit_json({"jobs": rows}) if as_json else click.echo(jobs_text(rows))
    for row in rows:
        if row["error"]:
            click.echo(f"datamake: error: {row['error']}", err=True)
    ctx.exit(2 if any(row["error"] for row in rows) else 0)


@cli.main.command(name="run")
@click.argument("job")
@click.option("-n", "--dry-run", is_flag=True, help="Show what the job would do (as make -n).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="Print only failures and the summary of a failed run.")
@click.option("-v", "--verbose", is_flag=True, help="Print every asset, including those up to date.")
@cli._config_option
@cli._partition_option
@click.pass_context
def run_command(ctx, job, dry_run, as_json, quiet, verbose, config_pairs, partition):
    """Run JOB: the make of its selection (or its graph of ops), with its config and settings."""
    from datamake import api  # lazy: a fast --help
    from datamake.project.assetconfig import parse_overrides  # lazy: a fast --help

    config = parse_overrides(tuple(config_pairs))
    project = cli._project(ctx)
    if project.defs.jobs.get(job) is not None and project.defs.jobs[job].graph is not None:
        _graph_result(ctx, api.run_job(project, job, config=config, partition=partition, dry_run=dry_run), as_json)
    elif dry_run:
        plan = api.run_job(project, job, config=config, partition=partition, dry_run=True)
        cli._print_plan(project, plan, as_json, job=job)
    else:
        cli._execute(ctx, project, as_json, quiet, verbose, lambda reporter: api.run_job(
            project, job, config=config, partition=partition, reporter=reporter), job=job)


def _graph_result(ctx, result: Dict[str, Any], as_json: bool) -> None:
    if as_json:
        cli._emit_json(result)
    else:
        for op in result.get("ops", ()):
            error = f"  {op['error']}" if op.get("error") else ""
            click.echo(f"{op['status']:<8} {op.get('invocation') or op['op']}  {op.get('seconds') or 0:.2f}s{error}")
        click.echo(f"job {result['job']}: graph {result.get('graph')} {result.get('status')}")
    ctx.exit(0 if result.get("status") == "ok" else 1)


def jobs_text(rows: List[Dict[str, Any]]) -> str:
    """``datamake jobs``: one paragraph per job."""
    if not rows:
        return "no jobs defined (declare them with Definitions(jobs=[job(...)]))"
    lines = []
    for row in rows:
        what = f"graph {row['graph']}" if row["graph"] else f"selection {row['selection']}"
        lines.append(f"{row['name']}  {what}" + (f"  - {row['description']}" if row["description"] else ""))
        if row["assets"] is not None:
            shown = ", ".join(row["assets"][:8]) + (f" and {len(row['assets']) - 8} more" if len(row["assets"]) > 8 else "")
            lines.append(f"    {len(row['assets'])} assets: {shown}")
        settings = [f"{k}={row[k]}" for k in ("partitions", "executor", "jobs") if row[k] is not None]
        settings += [f"config {', '.join(sorted(row['config']))}"] if row["config"] else []
        settings += [" ".join(f"{k}={v}" for k, v in sorted(row["tags"].items()))] if row["tags"] else []
        if settings:
            lines.append("    " + "  ".join(settings))
    return "\n".join(lines)

"""``datamake daemon``, ``schedules``, ``sensors``, ``ticks``, and the freshness lines of ``status``."""
from __future__ import annotations

import datetime
import json
import sys
from typing import Any, Dict, List, Optional

import click


def _main():
    from datamake.cli import main  # lazy: main registers these commands when it is imported

    return main


def _state(project):
    from datamake import api  # lazy: a fast --help
    from datamake.automation.runtime.state import State  # lazy: a fast --help

    return State(api.history_file(project))


def _check(project) -> None:
    from datamake.automation.runtime.evaluate import check_targets  # lazy: a fast --help

    check_targets(project)


@click.command()
@click.option("--once", is_flag=True, help="One evaluation pass, then exit (for cron-driven setups and tests).")
@click.option("--wait", is_flag=True, help="On exit, wait for the runs it launched to finish.")
@click.option("--json", "as_json", is_flag=True, help="Print each decision as one JSON line on stdout.")
@click.pass_context
def daemon(ctx, once, wait, as_json):
    """Evaluate schedules, sensors and freshness goals, and launch the runs they ask for."""
    from datamake import api  # lazy: a fast --help
    from datamake.automation.runtime.daemon import Daemon  # lazy: a fast --help
    from datamake.automation.runtime.state import DaemonRunning  # lazy: a fast --help
    from datamake.core.errors import DatamakeError  # lazy: a fast --help

    project = _main()._project(ctx, long_lived=True)  # loaded again when its files change
    out = ctx.meta.get(_main()._JSON_OUT, sys.stdout)  # with --json, stdout holds the JSON lines alone

    def emit(decision: Dict[str, Any]) -> None:
        if as_json:
            print(json.dumps({"ts": _now_iso(), **decision}, default=str), file=out, flush=True)
        else:
            click.echo(f"{_now_iso()} {decision['kind']} {decision['name']}: {decision['status']}: "
                       f"{decision['message']}", err=True)

    defs = project.defs
    click.echo(f"datamake daemon: {len(defs.schedules)} schedule(s), {len(defs.sensors)} sensor(s), "
               f"{sum(1 for a in defs.assets.values() if a.goal is not None)} freshness goal(s)", err=True)
    try:
        code = Daemon(project, api.history_file(project), emit).run(once=once, wait=wait)
    except DaemonRunning as other:
        raise DatamakeError(f"another daemon already runs this project: pid {other.pid} on {other.host}, "
                            f"started {_iso(other.started)}",
                            hint=f"stop it first (kill {other.pid} on {other.host}); one daemon per project") from None
    ctx.exit(code)


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.pass_context
def schedules(ctx, as_json):
    """List schedules: on/off, next tick, last tick and its result. `schedules start|stop NAME` switches one."""
    if ctx.invoked_subcommand is not None:
        return
    project = _main()._project(ctx)
    _check(project)
    now = datetime.datetime.now(datetime.timezone.utc)
    state = _state(project)
    try:
        rows = [_schedule_row(s, state, now) for s in project.defs.schedules.values()]
    finally:
        state.close()
    if as_json:
        _main()._emit_json({"schedules": rows})
        return
    if not rows:
        click.echo("no schedules defined")
    for r in rows:
        last = r["last_tick"]
        last_text = f"last {_iso(last['ts'])} {last['status']}" if last else "never evaluated"
        click.echo(f"{r['name']}  {'on ' if r['enabled'] else 'off'}  {r['cron']} ({r['timezone']})  -> "
                   f"{r['target']}  next {r['next_tick'] if r['enabled'] else '-'}  {last_text}")


def _switch(ctx, name: str, enabled: bool) -> None:
    from datamake.core.errors import SelectionError, did_you_mean  # lazy: a fast --help

    project = _main()._project(ctx)
    if name not in project.defs.schedules:
        known = list(project.defs.schedules)
        raise SelectionError(f"no schedule named '{name}'",
                             hint=did_you_mean(name, known) or f"schedules: {', '.join(known) or 'none defined'}")
    state = _state(project)
    try:
        state.set_enabled(name, "schedule", enabled)
    finally:
        state.close()
    click.echo(f"schedule {name} {'started' if enabled else 'stopped'} (the daemon obeys at its next pass)")


@schedules.command()
@click.argument("name")
@click.pass_context
def start(ctx, name):
    """Switch schedule NAME on (persisted; a running daemon obeys without restart)."""
    _switch(ctx, name, True)


@schedules.command()
@click.argument("name")
@click.pass_context
def stop(ctx, name):
    """Switch schedule NAME off (persisted; a running daemon obeys without restart)."""
    _switch(ctx, name, False)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.pass_context
def sensors(ctx, as_json):
    """List sensors: kind, target, cursor and last evaluation."""
    project = _main()._project(ctx)
    _check(project)
    state = _state(project)
    try:
        rows = [_sensor_row(s, state) for s in project.defs.sensors.values()]
    finally:
        state.close()
    if as_json:
        _main()._emit_json({"sensors": rows})
        return
    if not rows:
        click.echo("no sensors defined")
    for r in rows:
        last = r["last_tick"]
        last_text = f"last {_iso(last['ts'])} {last['status']}: {_first_line(last['message'])}" if last \
            else "never evaluated"
        click.echo(f"{r['name']}  {r['kind']}  every {r['minimum_interval']:g}s  cursor {json.dumps(r['cursor'])}  "
                   f"{last_text}")


@click.command()
@click.argument("name")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many ticks.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.pass_context
def ticks(ctx, name, limit, as_json):
    """Show the recent ticks of schedule or sensor NAME (or `freshness`), newest first."""
    from datamake.core.errors import SelectionError, did_you_mean  # lazy: a fast --help

    project = _main()._project(ctx)
    known = [*project.defs.schedules, *project.defs.sensors, "freshness"]
    if name not in known:
        raise SelectionError(f"no schedule or sensor named '{name}'", hint=did_you_mean(name, known)
                             or f"known: {', '.join(known)}")
    state = _state(project)
    try:
        rows = state.ticks(name, limit)
    finally:
        state.close()
    if as_json:
        _main()._emit_json({"name": name, "ticks": rows})
        return
    if not rows:
        click.echo(f"{name}: no ticks recorded yet")
    for r in rows:
        tick = f" tick {_iso(r['tick'])}" if r["tick"] is not None else ""
        click.echo(f"{_iso(r['ts'])}  {r['status']:<9}{tick}  {', '.join(r['run_keys']) or '-'}")
        if r["message"]:
            click.echo("    " + r["message"].rstrip().replace("\n", "\n    "))


def _schedule_row(s, state, now) -> Dict[str, Any]:
    info = state.cursor(s.name)
    enabled = info["enabled"] is not False
    return {"name": s.name, "cron": s.cron.expr, "timezone": s.cron.timezone, "target": s.target.describe(),
            "catch_up": s.catch_up, "enabled": enabled,
            "next_tick": s.cron.next_after(now).isoformat() if enabled else None,
            "last_tick": state.last_tick(s.name), "last_run": (state.runs_of(s.name) or [None])[0]}


def _sensor_row(s, state) -> Dict[str, Any]:
    info = state.cursor(s.name)
    return {"name": s.name, "kind": s.kind, "watched": s.watched, "minimum_interval": s.minimum_interval,
            "target": s.target.describe() if s.target else None, "enabled": info["enabled"] is not False,
            "cursor": info["cursor"], "last_evaluation": info["last_eval"], "last_tick": state.last_tick(s.name)}


def freshness(project, plan) -> Dict[str, Dict[str, Any]]:
    """Node id -> freshness of the assets in ``plan`` that declare a goal ({} when none does)."""
    if not any(a.goal is not None for a in project.defs.assets.values()):
        return {}
    import time

    from datamake.automation.runtime.freshness import for_status  # lazy: only projects with goals need it

    return for_status(project, plan, time.time())


def freshness_lines(fresh: Dict[str, Dict[str, Any]]) -> List[str]:
    """``status`` text: one line per asset with a goal."""
    lines = []
    for node, f in sorted(fresh.items()):
        if f["meets_goal"]:
            when = f"; rebuild by {f['rebuild_by']}" if f["rebuild_by"] else ""
            lines.append(f"meets goal  {node} ({f['goal']}{when})")
        else:
            lines.append(f"OVERDUE     {node} ({f['goal']}): should have been rebuilt by {f['rebuild_by']}")
    return lines


def _first_line(text: Optional[str]) -> str:
    return (text or "").strip().splitlines()[-1] if text else ""


def _iso(ts: Optional[float]) -> str:
    if ts is None:
        return "-"
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat(timespec="seconds")


def _now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


COMMANDS = (daemon, schedules, sensors, ticks)

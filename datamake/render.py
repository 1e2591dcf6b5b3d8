"""Turning results into text for people: status tables, why reports, value previews."""
from __future__ import annotations

import datetime
from typing import Any, Dict, List, Sequence

from .planner import Plan

FULL_LISTING_LIMIT = 40


def status_text(plan: Plan, show_all: bool = False) -> str:
    decisions = plan.decisions
    everything = show_all or len(decisions) <= FULL_LISTING_LIMIT
    width = max((len(d.key) for d in decisions), default=0)
    lines = []
    for d in decisions:
        if not d.stale:
            if everything:
                lines.append(f"fresh  {d.key}")
            continue
        first, *rest = d.reasons
        lines.append(f"stale  {d.key.ljust(width)}  {first.code}: {first.message}")
        lines.extend(f"       {' ' * width}  {r.code}: {r.message}" for r in rest)
    stale = len(plan.stale)
    lines.append(f"{stale} stale, {len(decisions) - stale} fresh" + ("" if everything else " (fresh assets not listed; --all lists them)"))
    return "\n".join(lines)


def why_text(info: Dict[str, Any]) -> str:
    cv = info["code_version"]
    lines = [f"{info['key']}: {info['state']}"]
    for r in info["reasons"]:
        lines.append(f"  because {r['code']}: {r['message']}")
    origin = {"code": "pinned in code", "pin": "pinned in datamake.pins.toml", "auto": "automatic"}[cv["origin"]]
    lines.append(f"code version: recorded {cv['recorded'] or '-'}, current {cv['current']} ({origin})")
    for part in cv.get("changed_parts", []):
        what = "the function's own code" if part == "<self>" else part
        lines.append(f"  changed since the recorded build: {what}")
    if cv["drifted"]:
        lines.append("  note: the source has changed since it was pinned; `datamake unpin` if the change matters")
    if info["config"]["current"] or info["config"]["recorded"]:
        lines.append(f"config: recorded {info['config']['recorded'] or '-'}, current {info['config']['current'] or '-'}")
    if info["inputs"]:
        lines.append("inputs:")
        for i in info["inputs"]:
            mark = "same" if i["recorded"] == i["current"] else "CHANGED"
            lines.append(f"  {i['key']}: recorded {_short(i['recorded'])}, current {_short(i['current'])} ({mark}; {i['state']})")
    m = info["materialization"]
    if m:
        when = datetime.datetime.fromtimestamp(m["created"]).strftime("%Y-%m-%d %H:%M:%S") if m["created"] else "?"
        lines.append(f"current value: data version {_short(m['data_version'])}, {m['size']} bytes ({m['io_manager']}), "
                     f"built {when} in run {m['run_id']}")
    else:
        lines.append("current value: none (never materialized)")
    return "\n".join(lines)


def ls_text(rows: List[Dict[str, Any]]) -> str:
    if not rows:
        return "no assets"
    width = max(len(r["key"]) for r in rows)
    out = []
    for r in rows:
        if r.get("kind") == "source":
            out.append(f"{r['key'].ljust(width)}  source  {r['url'] or '(observed by function)'}")
            continue
        version = r["code_version"] + (" (pinned)" if r["pinned"] else "")
        if r["drifted"]:
            version += " [source changed since pin]"
        deps = ", ".join(r["deps"]) or "-"
        out.append(f"{r['key'].ljust(width)}  group={r['group']}  code={version}  deps: {deps}")
    return "\n".join(out)


def value_text(value: Any, rows: int = 10) -> str:
    kind = type(value)
    if kind.__module__.startswith("pyarrow") and kind.__name__ == "Table":
        return _table_text(value, rows)
    if kind.__module__.startswith("pandas") and kind.__name__ == "DataFrame":
        return f"{len(value)} rows\n{value.head(rows).to_string()}"
    if isinstance(value, (bytes, bytearray)):
        return f"{len(value)} bytes: {bytes(value[:200])!r}{'…' if len(value) > 200 else ''}"
    if isinstance(value, str):
        return value
    return repr(value)


def _table_text(table: Any, rows: int) -> str:
    schema = "\n".join(f"  {f.name}: {f.type}" for f in table.schema)
    head = table.slice(0, rows).to_pylist()
    names = table.column_names
    cells = [[str(r[n]) for n in names] for r in head]
    widths = [max([len(n)] + [len(c[i]) for c in cells]) for i, n in enumerate(names)]
    fmt = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()
    lines = [f"{table.num_rows} rows x {table.num_columns} columns", "schema:", schema, "", fmt(names)]
    lines.append(fmt(["-" * w for w in widths]))
    lines.extend(fmt(c) for c in cells)
    if table.num_rows > rows:
        lines.append(f"… {table.num_rows - rows} more rows")
    return "\n".join(lines)


def _short(version: Any) -> str:
    return str(version)[:12] if version else "-"

"""Turning results into text for people: status tables, why reports, value previews."""
from __future__ import annotations

import datetime
import functools
import itertools
import json
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from datamake.core.describe import MAX_NAMED, describe_nodes, span
from datamake.core.keys import node_id, split_node
from datamake.core.planner import DEFINITION_PREFIX, Plan, Reason, part_label

FULL_LISTING_LIMIT = 40


def status_text(plan: Plan, show_all: bool = False,
                partition_order: Optional[Callable[[str], Optional[Sequence[str]]]] = None,
                sources: Sequence[Dict[str, Any]] = ()) -> str:
    """One line per asset (fresh ones only in small projects), partitions summarised as ranges.

    A plan that keeps fresh partitions as ranges (``runs()``) is printed from those, without an object per node.
    ``partition_order(key)``: the keys of the asset's partitions definition, in order; a range ``A…B`` is
    printed only for partitions that are all those of the definition from A to B (without it, for any run).
    ``sources``: rows of the sources the selection names (``api.named_sources``), each with what is observed.
    """
    runs = plan.runs() if hasattr(plan, "runs") else ((d, [d.partition]) for d in plan.decisions)
    positions = _positions(partition_order)
    groups = _runs(runs)
    total = sum(len(parts) for _first, parts in groups)
    everything = show_all or total <= FULL_LISTING_LIMIT
    width = max([len(first.key) for first, _parts in groups] + [len(row["key"]) for row in sources], default=0)
    lines: List[str] = []
    unlisted = 0  # fresh unpartitioned assets left out (fresh partitions are summarised as ranges)
    for first, partitions in groups:
        label = first.key.ljust(width)
        if first.partition is not None:
            lines.append(_partition_line(label, first, partitions, positions(first.key)))
            continue
        if not first.stale:
            if everything:
                lines.append(f"fresh  {first.key}")
            else:
                unlisted += 1
            continue
        head, *rest = _capped(first.reasons)
        lines.append(f"stale  {label}  {head.code}: {head.message}")
        lines.extend(f"       {' ' * width}  {r.code}: {r.message}" for r in rest)
    lines.extend(_source_lines(sources, width, positions))
    stale = len(plan.stale)
    lines = [line for line in lines if line]
    lines.append(f"{stale} stale, {total - stale} fresh"
                 + (f" ({unlisted} fresh {'asset' if unlisted == 1 else 'assets'} not listed; --all lists them)"
                    if unlisted else "") + _sources_note(sources))
    return "\n".join(lines)


def _source_lines(rows: Sequence[Dict[str, Any]], width: int, positions) -> List[str]:
    """``source  KEY  URL: version V`` (or ``no file``); a partitioned source's partitions as ranges
    of those with a file and those without."""
    lines = []
    for (key, partitioned, found), group in itertools.groupby(
            rows, lambda r: (r["key"], r["partition"] is not None, r["version"] is not None)):
        group = list(group)
        label = key.ljust(width)
        if partitioned:
            partitions = [r["partition"] for r in group]
            what = "with a file" if found else "without a file"
            lines.append(f"source {label}  {_partitions_text(partitions, positions(key))}: {len(partitions)} {what}")
            continue
        row = group[0]
        where = row["url"] or "(observed by function)"
        lines.append(f"source {label}  {where}: " + (f"version {_short(row['version'])}" if found else "no file"))
    return lines


def _sources_note(rows: Sequence[Dict[str, Any]]) -> str:
    """What the summary adds when sources are named: datamake observes them and never builds them."""
    names = list(dict.fromkeys(r["key"] for r in rows))
    if not names:
        return ""
    one = len(names) == 1
    return (f"; {', '.join(names)} {'is a source' if one else 'are sources'}: observed, never built "
            f"(`datamake status {names[0]}+` shows what reads {'it' if one else 'one'})")


def _runs(runs) -> List[Tuple[Any, List]]:
    """(first decision, partitions) of consecutive decisions of one asset with the same state and reason codes;
    ``runs`` gives (decision, partitions) pairs (one partition each, or a range of fresh ones)."""
    groups: List[Tuple[Any, List]] = []
    last = None
    for d, partitions in runs:
        signature = (d.key, d.partition is None, d.state, tuple(dict.fromkeys(r.code for r in d.reasons)))
        if groups and d.partition is not None and last == signature:
            groups[-1][1].extend(partitions)
        else:
            groups.append((d, list(partitions)))
        last = signature
    return groups


def _capped(reasons: Sequence, per_code: int = 3) -> List:
    """At most ``per_code`` reasons of each code, then one "… N more" (one per upstream partition adds up)."""
    shown: List = []
    counts: Dict[str, int] = {}
    for r in reasons:
        counts[r.code] = counts.get(r.code, 0) + 1
        if counts[r.code] <= per_code:
            shown.append(r)
        elif counts[r.code] == per_code + 1:
            shown.append(r.code)  # placeholder, replaced below
    return [Reason(x, f"… and {counts[x] - per_code} more") if isinstance(x, str) else x for x in shown]


def _positions(partition_order) -> Callable[[str], Optional[Dict[str, int]]]:
    """``positions(key)``: where each partition of the asset ``key`` is in its definition (None: unknown)."""
    @functools.lru_cache(maxsize=None)
    def positions(key: str) -> Optional[Dict[str, int]]:
        keys = partition_order(key) if partition_order is not None else None
        return None if keys is None else {pk: i for i, pk in enumerate(keys)}
    return positions


def _neighbours(partitions: List[str], positions: Optional[Dict[str, int]]) -> List[List[str]]:
    """``partitions`` cut where one is not the next of the previous in the definition (one run when unknown)."""
    if positions is None:
        return [partitions]
    runs: List[List[str]] = []
    previous = None
    for pk in partitions:
        at = positions.get(pk)
        if runs and at is not None and previous is not None and at == previous + 1:
            runs[-1].append(pk)
        else:
            runs.append([pk])
        previous = at
    return runs


def _partitions_text(partitions: List[str], positions: Optional[Dict[str, int]]) -> str:
    """Partitions as ranges of neighbours in their definition (``A…B``), listed, the list cut after
    :data:`MAX_NAMED` of them (``… and N more``: the partitions not named)."""
    runs = _neighbours(partitions, positions)
    shown = ", ".join(span(run) for run in runs[:MAX_NAMED])
    left = sum(len(run) for run in runs[MAX_NAMED:])
    return f"{shown}, … and {left} more" if left else shown


def _partition_line(label: str, first, partitions: List[str], positions: Optional[Dict[str, int]] = None) -> str:
    shown = _partitions_text(partitions, positions)
    if not first.stale:
        return f"fresh  {label}  {shown}: {len(partitions)} fresh"
    codes = ", ".join(dict.fromkeys(r.code for r in first.reasons))
    only = first.reasons[0]
    detail = f"{only.code}: {only.message}" if len(partitions) == 1 and len(first.reasons) == 1 else codes
    return f"stale  {label}  {shown}: {len(partitions)} stale ({detail})"


def why_text(info: Dict[str, Any]) -> str:
    cv = info["code_version"]
    label = info["key"] if info.get("partition") is None else f"{info['key']} [{info['partition']}]"
    lines = [f"{label}: {info['state']}"]
    for r in info["reasons"]:
        lines.append(f"  because {r['code']}: {r['message']}")
    origin = {"code": "pinned in code", "pin": "pinned in datamake.pins.toml", "auto": "automatic",
              "command": "automatic, from its command and scripts"}[cv["origin"]]
    lines.append(f"code version: recorded {cv['recorded'] or '-'}, current {cv['current']} ({origin})")
    for part in cv.get("changed_parts", []):
        if part == "<self>":
            what = "the function's own code"
        elif part.startswith(DEFINITION_PREFIX):
            what = f"its {part_label(part)} argument (decorator or source)"
        else:
            what = part_label(part)
        lines.append(f"  changed since the recorded build: {what}")
    if cv["drifted"]:
        lines.append("  note: the source has changed since it was pinned; `datamake unpin` if the change matters")
    if info["config"]["current"] or info["config"]["recorded"]:
        lines.append(f"config: recorded {info['config']['recorded'] or '-'}, current {info['config']['current'] or '-'}")
    for change in info["config"].get("changed_fields", ()):
        lines.append(f"  changed since the recorded build: {change['field']} "
                     f"{json.dumps(change['recorded'])} -> {json.dumps(change['current'])}")
    if info["inputs"]:
        lines.append("inputs:")
        for i in info["inputs"]:
            mark = "same" if i["recorded"] == i["current"] else "CHANGED"
            lines.append(f"  {i['key']}: recorded {_short(i['recorded'])}, current {_short(i['current'])} ({mark}; {i['state']})")
    for w in info.get("warnings") or ():
        lines.append(f"warning: {w}")
    if info.get("ops"):
        lines.append(f"op invocations in run {info['ops'][0]['run_id']}:")
        lines.extend(_op_lines(info["ops"]))
    m = info["materialization"]
    if m:
        when = datetime.datetime.fromtimestamp(m["created"]).strftime("%Y-%m-%d %H:%M:%S") if m["created"] else "?"
        lines.append(f"current value: data version {_short(m['data_version'])}, {m['size']} bytes ({m['io_manager']}), "
                     f"built {when} in run {m['run_id']}")
        if m.get("run"):
            lines.append(_produced_by_text(m["run"]))
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
            out.append(f"{r['key'].ljust(width)}  source  {r['url'] or '(observed by function)'}{_ls_details(r)}")
            continue
        version = r["code_version"] + (" (pinned)" if r["pinned"] else "")
        if r["drifted"]:
            version += " [source changed since pin]"
        deps = ", ".join(r["deps"]) or "-"
        out.append(f"{r['key'].ljust(width)}  group={r['group']}  code={version}  deps: {deps}{_ls_details(r)}")
    return "\n".join(out)


def _ls_details(row: Dict[str, Any]) -> str:
    """``  partitions: daily from … (31)  config: rows=5  resources: db  tags: tier=gold`` (only what the asset has)."""
    out = ""
    if row.get("partitions"):
        out += f"  partitions: {row['partitions']['definition']} ({row['partitions']['count']})"
    if row.get("config"):
        out += "  config: " + ", ".join(f"{k}={_compact(v, 30)}" for k, v in row["config"].items())
    if row.get("resources"):
        out += f"  resources: {', '.join(row['resources'])}"
    if row.get("tags"):
        out += "  tags: " + " ".join(f"{k}={_compact(v, 30)}" for k, v in sorted(row["tags"].items()))
    return out


def value_text(value: Any, rows: int = 10, as_json: bool = False) -> str:
    """A value for ``datamake show``: tables by rows, text by lines, a value stored as JSON (``as_json``)
    as JSON and any other in Python's notation, by entries; each cut to ``rows`` with a note of the rest."""
    kind = type(value)
    if kind.__module__.startswith("pyarrow") and kind.__name__ == "Table":
        return _table_text(value, rows)
    if kind.__module__.startswith("pandas") and kind.__name__ == "DataFrame":
        return f"{len(value)} rows\n{value.head(rows).to_string()}" + _more(len(value) - rows, "rows")
    if isinstance(value, (bytes, bytearray)):
        return f"{len(value)} bytes: {bytes(value[:200])!r}{'…' if len(value) > 200 else ''}"
    if isinstance(value, str):
        lines = value.splitlines()
        return "\n".join(_cut(line) for line in lines[:rows]) + _more(len(lines) - rows, "lines")
    return _json_text(value, rows) if as_json else _repr_text(value, rows)


LINE_LIMIT = 200  # characters of one line of a shown value


def _json_text(value: Any, rows: int) -> str:
    """Dicts, lists and scalars as JSON: a small one on one line, else its first ``rows`` entries one a line."""
    dump = functools.partial(json.dumps, ensure_ascii=False, allow_nan=True)
    if isinstance(value, dict):
        entries = [dump({k: v})[1:-1] for k, v in itertools.islice(value.items(), rows)]
        brackets, what = "{}", "keys"
    elif isinstance(value, list):
        entries, brackets, what = [dump(v) for v in value[:rows]], "[]", "items"
    else:
        return _cut(dump(value))
    compact = brackets[0] + ", ".join(entries) + brackets[1]
    if len(value) <= rows and len(compact) <= LINE_LIMIT:  # a small value on one line
        return compact
    body = ",\n".join(_cut("  " + e) for e in entries)
    return f"{brackets[0]}\n{body}\n{brackets[1]}" + _more(len(value) - rows, what)


def _repr_text(value: Any, rows: int) -> str:
    import reprlib

    shorten = reprlib.Repr()
    for attr in ("maxlist", "maxtuple", "maxset", "maxfrozenset", "maxdeque", "maxarray", "maxdict"):
        setattr(shorten, attr, rows)
    shorten.maxstring = shorten.maxother = shorten.maxlong = LINE_LIMIT
    hidden = len(value) - rows if isinstance(value, (list, tuple, set, frozenset, dict)) else 0
    return shorten.repr(value) + _more(hidden, "keys" if isinstance(value, dict) else "items")


def _cut(line: str) -> str:
    return line if len(line) <= LINE_LIMIT else line[:LINE_LIMIT - 1] + "…"


def _more(hidden: int, what: str) -> str:
    """The note under a cut value: how much more there is (``-n`` shows more)."""
    return f"\n… {hidden} more {what} (-n shows more)" if hidden > 0 else ""


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
    return "\n".join(lines) + _more(table.num_rows - rows, "rows")


def _short(version: Any) -> str:
    return str(version)[:12] if version else "-"


# -- the event log: datamake log / lineage ------------------------------------

def _when(ts: Any) -> str:
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _produced_by_text(run: Dict[str, Any]) -> str:
    if run.get("recorded") is False:
        text = f"  produced by run {run['run_id']}, which is not in this event log (built elsewhere, or pruned)"
    else:
        text = (f"  produced by run {run['run_id']}: `{run.get('command') or '?'}` started {_when(run.get('started'))} "
                f"by {run.get('user') or '?'}@{run.get('host') or '?'} ({run.get('status')})")
    if run.get("restored_in"):
        text += f"; restored from the cache by run {run['restored_in']}"
    return text


def runs_text(runs: List[Dict[str, Any]]) -> str:
    """``datamake log``: one line per run, newest first."""
    if not runs:
        return "no runs recorded yet"
    lines = []
    for r in runs:
        counts = ", ".join(f"{n} {k}" for k, n in (r.get("counts") or {}).items() if n)
        seconds = f"{r['seconds']:.2f}s" if r.get("seconds") is not None else "-"
        tags = " ".join(f"{k}={_compact(v, 40)}" for k, v in sorted((r.get("tags") or {}).items()))
        lines.append(f"{r['run_id']}  {_when(r['started'])}  {r['status']:<11} {seconds:>8}  {counts or '-'}  "
                     f"{r.get('command') or ''}" + (f"  [{tags}]" if tags else ""))
    return "\n".join(lines)


def materializations_text(key: str, rows: List[Dict[str, Any]]) -> str:
    """``datamake log ASSET``: its materializations, newest first, with versions, checks and log lines."""
    if not rows:
        return f"{key}: no materializations recorded"
    lines = [f"{key}: {len(rows)} most recent"]
    for r in rows:
        seconds = f"{r['seconds']:.2f}s" if r.get("seconds") is not None else "-"
        part = f" [{r['partition']}]" if r.get("partition") else ""
        lines.append(f"{_when(r['ts'])}  {r['kind']:<8}{part} run {r['run_id']}  {seconds}")
        if r.get("data_version"):
            inputs = ", ".join(f"{k}@{_short(v)}" for k, v in sorted((r.get("inputs") or {}).items()))
            lines.append(f"    data {_short(r['data_version'])}  code {r.get('code_version') or '-'}  "
                         f"{r.get('size') if r.get('size') is not None else '-'} bytes  inputs: {inputs or '-'}")
        if r.get("message"):
            lines.append(f"    {r['message']}")
        traceback = _failure_traceback(r)
        meta = {k: v for k, v in (r.get("metadata") or {}).items()
                if not k.startswith("datamake/") and not (traceback and k == "traceback")}
        if meta:
            lines.append("    metadata: " + ", ".join(f"{k}={_compact(v)}" for k, v in sorted(meta.items())))
        lines.extend(f"    {line}" for line in traceback)
        for c in r.get("checks") or ():
            verdict = "passed" if c.get("passed") else ("FAILED (blocking)" if c.get("blocking") else "FAILED")
            lines.append(f"    check {c.get('name')}: {verdict}" + (f" - {c['message']}" if c.get("message") else ""))
        lines.extend(f"    log {line}" for line in r.get("logs") or ())
    return "\n".join(lines)


def run_events_text(run: Dict[str, Any], events: List[Dict[str, Any]], ops: Sequence[Dict[str, Any]] = ()) -> str:
    """``datamake log --run ID``: the run, then each of its events, then its op invocations."""
    lines = [runs_text([run])]
    for e in events:
        what = e["kind"] if e["kind"] != "check" else "check"
        detail = e.get("message") or (f"data {_short(e['data_version'])}" if e.get("data_version") else "")
        node = node_id(e["asset"], e.get("partition")) if e.get("asset") else ""
        lines.append(f"  {_when(e['ts'])}  {what:<8} {node:<24} {detail}")
        lines.extend(f"      {line}" for line in _failure_traceback(e))
    if ops:
        lines.append("op invocations:")
        lines.extend(_op_lines(ops))
    return "\n".join(lines)


def _failure_traceback(event: Dict[str, Any]) -> List[str]:
    """The lines of the traceback a ``failed`` event recorded (the asset's own code's), or none."""
    traceback = (event.get("metadata") or {}).get("traceback") if event.get("kind") == "failed" else None
    return traceback.splitlines() if isinstance(traceback, str) else []


def _op_lines(ops: Sequence[Dict[str, Any]]) -> List[str]:
    """One line per op invocation that ran, failed or was skipped; cached ones counted."""
    lines = []
    for o in ops:
        if o["status"] != "cached":
            where = o.get("asset") or o["graph"]
            error = f" - {o['error']}" if o.get("error") else ""
            lines.append(f"  {o['status']:<8} {o['invocation']:<24} in {where}, {o['seconds'] or 0:.3f}s{error}")
    cached = sum(1 for o in ops if o["status"] == "cached")
    if cached:
        lines.append(f"  cached   {cached} invocation{'s' if cached != 1 else ''} (restored from the action cache)")
    return lines


def _compact(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def lineage_text(info: Dict[str, Any]) -> str:
    """``datamake lineage ASSET``: the tree of exact input versions, then what was built from the value."""
    key = info["key"]
    if info["data_version"] is None:
        return f"{key}: never materialized, so it has no lineage yet"
    nodes = {(n["key"], n["data_version"]): n for n in info["upstream"]}
    lines = [f"{key} @{_short(info['data_version'])}  (run {info['run_id']})", "upstream (exact versions it was built from):"]
    root_inputs = [(i["key"], i["data_version"]) for i in _root_inputs(info)]
    if not root_inputs:
        lines.append("  (none)")
    seen: set = set()

    def walk(ref, prefix: str, last: bool) -> None:
        node = nodes.get(ref, {"key": ref[0], "data_version": ref[1], "known": False, "inputs": []})
        branch = "└── " if last else "├── "
        state = "source" if node.get("source") else ("current" if node.get("current") else
                                                      ("older version" if node.get("known") else "not recorded"))
        repeat = ref in seen and node["inputs"]
        run = f"  run {node['run_id']}" if node.get("run_id") and not repeat else ""
        lines.append(f"  {prefix}{branch}{node['key']} @{_short(node['data_version'])}  ({state}){run}"
                     + ("  (see above)" if repeat else ""))
        if repeat:
            return
        seen.add(ref)
        children = [(i["key"], i["data_version"]) for i in node["inputs"]]
        for n, child in enumerate(children):
            walk(child, prefix + ("    " if last else "│   "), n == len(children) - 1)

    for n, ref in enumerate(root_inputs):
        walk(ref, "", n == len(root_inputs) - 1)
    lines.append("downstream:")
    if not info["downstream"]:
        lines.append("  (nothing materialized depends on it)")
    for group in _downstream_runs(info["downstream"]):
        d = group[0]
        mark = "built from the current value" if d["from_current"] else "built from an older version"
        if len(group) > 1:
            lines.append(f"  {describe_nodes([n['key'] for n in group])}  ({mark})")
            continue
        lines.append(f"  {d['key']} @{_short(d['data_version'])}  ({mark}; inputs {_inputs_text(d['inputs'])})")
    return "\n".join(lines)


def _downstream_runs(nodes: List[Dict[str, Any]]) -> List[List[Dict[str, Any]]]:
    """Consecutive partitions of one asset that agree on whether they derive from the current value."""
    runs: List[List[Dict[str, Any]]] = []
    for n in nodes:
        key, partition = split_node(n["key"])
        last = runs[-1][-1] if runs else None
        if partition is not None and last is not None and split_node(last["key"])[0] == key \
                and split_node(last["key"])[1] is not None and last["from_current"] == n["from_current"]:
            runs[-1].append(n)
        else:
            runs.append([n])
    return runs


def _inputs_text(inputs: List[Dict[str, Any]]) -> str:
    """Each input with its version, or (many partitions) the current and outdated ones as ranges."""
    if len(inputs) <= MAX_NAMED:
        return ", ".join(f"{i['key']}@{_short(i['data_version'])}{'' if i['current'] else ' (outdated)'}"
                         for i in inputs)
    current = [i["key"] for i in inputs if i["current"]]
    outdated = [i["key"] for i in inputs if not i["current"]]
    return "; ".join([*([describe_nodes(current)] if current else []),
                      *([f"outdated: {describe_nodes(outdated)}"] if outdated else [])])


def _root_inputs(info: Dict[str, Any]) -> List[Dict[str, Any]]:
    return info.get("inputs") or []

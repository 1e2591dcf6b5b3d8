"""``datamake graph [SELECTION] --format mermaid|dot|json|text``: the asset graph coloured by state."""
from __future__ import annotations

import json
from typing import Any, Dict, List

import click

from datamake.cli.main import _emit_json, _project, main

# fill, stroke per state (see datamake.core.graphview.STATES)
COLOURS = {"fresh": ("#d4edda", "#2e7d32"), "stale": ("#ffe0b2", "#e65100"), "new": ("#eeeeee", "#757575"),
           "source": ("#d6e4ff", "#1a4fa0")}


def _partitions(parts: Dict[str, int]) -> str:
    if parts["stale"] == 0:
        return f"{parts['total']} partitions fresh"
    return f"{parts['stale']}/{parts['total']} partitions stale"


def _label(node: Dict[str, Any]) -> str:
    if node["kind"] == "source":
        return f"{node['key']} (source)"
    if node["partitions"]:
        return f"{node['key']}: {_partitions(node['partitions'])}"
    return f"{node['key']}: {node['state']}"


def mermaid(view: Dict[str, Any]) -> str:
    """A Mermaid flowchart (paste it in Markdown on GitHub, GitLab, Notion...)."""
    ids = {n["key"]: f"n{i}" for i, n in enumerate(view["nodes"])}
    lines = ["flowchart LR"]
    for n in view["nodes"]:
        text = _label(n).replace('"', "#quot;")
        shape = f'[("{text}")]' if n["kind"] == "source" else f'["{text}"]'
        lines.append(f"    {ids[n['key']]}{shape}:::{n['state']}")
    lines.extend(f"    {ids[e['from']]} --> {ids[e['to']]}" for e in view["edges"])
    lines.extend(f"    classDef {state} fill:{fill},stroke:{stroke}" for state, (fill, stroke) in COLOURS.items())
    return "\n".join(lines)


def dot(view: Dict[str, Any]) -> str:
    """A Graphviz digraph: ``datamake graph --format dot | dot -Tsvg > graph.svg``."""
    lines = ["digraph datamake {", "    rankdir=LR;", '    node [shape=box, style="rounded,filled"];']
    for n in view["nodes"]:
        fill, stroke = COLOURS[n["state"]]
        shape = ", shape=cylinder" if n["kind"] == "source" else ""
        lines.append(f"    {json.dumps(n['key'])} [label={json.dumps(_label(n))}, fillcolor=\"{fill}\", "
                     f"color=\"{stroke}\"{shape}];")
    lines.extend(f"    {json.dumps(e['from'])} -> {json.dumps(e['to'])};" for e in view["edges"])
    lines.append("}")
    return "\n".join(lines)


def text(view: Dict[str, Any]) -> str:
    """One line per node in dependency order: state, key, what it reads."""
    deps: Dict[str, List[str]] = {}
    for e in view["edges"]:
        deps.setdefault(e["to"], []).append(e["from"])
    width = max((len(n["key"]) for n in view["nodes"]), default=0)
    lines = []
    for n in view["nodes"]:
        state = n["state"]
        if n["partitions"]:
            state += f" ({_partitions(n['partitions'])})"
        elif n["reasons"] and n["state"] == "stale":
            state += f" ({', '.join(n['reasons'])})"
        reads = f"  <- {', '.join(deps[n['key']])}" if n["key"] in deps else ""
        lines.append(f"{n['key'].ljust(width)}  {state}{reads}")
    return "\n".join(lines) or "no assets"


FORMATS = {"mermaid": mermaid, "dot": dot, "text": text}


@main.command(name="graph")
@click.argument("selection", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["text", "mermaid", "dot", "json"]), default="text",
              show_default=True, help="How to draw it.")
@click.option("--only", is_flag=True, help="Do not include upstream assets outside the selection.")
@click.pass_context
def graph_command(ctx, selection, fmt, only):
    """Draw SELECTION (default all) and its upstream, each asset coloured by its state."""
    from datamake import api  # lazy: a fast --help

    if fmt == "json":
        ctx.params["as_json"] = True  # stdout holds the JSON document only
    view = api.graph(_project(ctx), selection, only=only)
    _emit_json(view) if fmt == "json" else click.echo(FORMATS[fmt](view))

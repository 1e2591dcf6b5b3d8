"""``datamake plots``: one self-contained HTML page with an SVG line chart per metric number over its runs."""
from __future__ import annotations

import datetime
import html
from typing import Any, Dict, List, Sequence, Tuple

_W, _H, _PAD = 560, 220, 40


def series(history: Sequence[Dict[str, Any]]) -> Dict[str, List[Tuple[float, float]]]:
    """``{metric: [(ts, value), ...]}`` from a metric's recorded history (oldest first)."""
    out: Dict[str, List[Tuple[float, float]]] = {}
    for row in history:
        for name, value in row["values"].items():
            out.setdefault(name, []).append((row["ts"], float(value)))
    return out


def svg(title: str, points: Sequence[Tuple[float, float]]) -> str:
    """A line chart of ``points`` (x: run order, y: value), with its first and last values labelled."""
    values = [v for _, v in points]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (_W - 2 * _PAD) / max(len(points) - 1, 1)
    xy = [(_PAD + i * step, _H - _PAD - (v - low) / span * (_H - 2 * _PAD)) for i, v in enumerate(values)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{_when(points[i][0])}: {values[i]:g}</title>'
                   f'</circle>' for i, (x, y) in enumerate(xy))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" role="img" '
            f'aria-label="{html.escape(title)}">'
            f'<text x="{_PAD}" y="20" font-size="14">{html.escape(title)}</text>'
            f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" stroke="#999"/>'
            f'<text x="4" y="{_H - _PAD}" font-size="11">{low:g}</text>'
            f'<text x="4" y="{_PAD}" font-size="11">{high:g}</text>'
            f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{line}"/>'
            f'<g fill="#1f77b4">{dots}</g></svg>')


def page(charts: Dict[str, Dict[str, List[Tuple[float, float]]]]) -> str:
    """The HTML page: a section per metric asset, a chart per number. No scripts, no external files."""
    body = []
    for key, by_metric in charts.items():
        body.append(f"<h2>{html.escape(key)}</h2>")
        if not by_metric:
            body.append("<p>no recorded values yet: run <code>datamake make</code></p>")
        body.extend(svg(f"{key}: {name}", points) for name, points in sorted(by_metric.items()))
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>datamake metrics</title>"
            "<style>body{font-family:sans-serif;margin:2em} svg{display:block;margin:1em 0}</style></head>"
            f"<body><h1>Metrics over runs</h1>{''.join(body)}</body></html>\n")


def _when(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")

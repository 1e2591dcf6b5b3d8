"""``datamake params diff [REV]``: the params file now against the one at a git revision (DVC's ``params diff``)."""
from __future__ import annotations

import os
from typing import Any, Dict, List

from datamake.core.errors import ConfigError
from datamake.metrics.gitrev import text_at
from datamake.project.paramsfile import load_params, parse_params


def flatten(sections: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    """``{"prepare": {"split": 0.2}}`` -> ``{"prepare.split": 0.2}``."""
    out: Dict[str, Any] = {}
    for name, value in sections.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = value
    return out


def params_diff(project: Any, rev: str = "HEAD", show_all: bool = False) -> Dict[str, Any]:
    """Each param whose value differs between the workspace's params file and ``rev``'s
    (every param with ``show_all``): ``{"file", "rev", "params": [{"param", "old", "new"}]}``."""
    name = project.config.params_file
    if not name:
        raise ConfigError("this project has no params file",
                          hint='name one in datamake.toml: [project] params = "params.yaml"')
    new = flatten(load_params(os.path.join(project.directory, name)))
    old_text = text_at(project.directory, rev, name)
    old = flatten(parse_params(old_text, name)) if old_text is not None else {}
    rows: List[Dict[str, Any]] = []
    for param in sorted({*old, *new}):
        before, after = old.get(param), new.get(param)
        if show_all or before != after or (param in old) != (param in new):
            rows.append({"param": param, "old": before, "new": after})
    return {"file": name, "rev": rev, "params": rows}

"""``datamake params diff [REV | --run RUN_ID]``: the params file now against the one at a git revision
(DVC's ``params diff``), or each asset's config now against what an earlier run built with."""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, List

from datamake.core.errors import ConfigError
from datamake.core.manifest import config_record
from datamake.metrics.gitrev import text_at
from datamake.metrics.values import recorded_in_run
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
    return {"file": name, "rev": rev, "params": _rows(old, new, show_all)}


def config_diff(project: Any, run_id: str, show_all: bool = False) -> Dict[str, Any]:
    """Each asset's config field (``ASSET.FIELD``) whose current value differs from the one its
    materialization at or before run ``run_id`` was built with (read from the action cache)."""
    keys = [k for k, a in project.defs.assets.items() if a.config is not None]
    new: Dict[str, Any] = {}
    for key in keys:
        instance, _ = project.asset_config(key)
        new.update({f"{key}.{f}": v for f, v in config_record(_fields(instance)).items()})
    old: Dict[str, Any] = {}
    for key, row in recorded_in_run(project, keys, run_id).items():
        manifest = project.store.lookup_action(row["provenance"]) if row and row.get("provenance") else None
        if manifest is not None:
            old.update({f"{key}.{f}": v for f, v in manifest.config.items()})
    return {"run": run_id, "params": _rows(old, new, show_all)}


def _fields(instance: Any) -> Dict[str, Any]:
    return {f.name: getattr(instance, f.name) for f in dataclasses.fields(instance)}


def _rows(old: Dict[str, Any], new: Dict[str, Any], show_all: bool) -> List[Dict[str, Any]]:
    rows: List[Dict[str, Any]] = []
    for param in sorted({*old, *new}):
        before, after = old.get(param), new.get(param)
        if show_all or before != after or (param in old) != (param in new):
            rows.append({"param": param, "old": before, "new": after})
    return rows

"""Pinned code versions, kept in ``datamake.pins.toml`` beside ``datamake.toml`` (commit it).

A pin records the code version an asset has now and the fingerprint of its
source at that moment; later edits keep the pinned version (no rebuild) and
``ls``/``why``/``status`` report that the source has drifted since.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Dict, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import ConfigError

PINS_NAME = "datamake.pins.toml"


@dataclass(frozen=True)
class Pin:
    code_version: str
    source: str  # the automatic code version when the pin was taken


def pins_path(project_dir: str) -> str:
    return os.path.join(project_dir, PINS_NAME)


def read_pins(project_dir: str) -> Dict[str, Pin]:
    path = pins_path(project_dir)
    if not os.path.exists(path):
        return {}
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", hint="fix it, or delete it and run `datamake pin` again") from None
    pins = {}
    for key, entry in data.get("pins", {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("code_version"), str):
            raise ConfigError(f"{path}: pin '{key}' must be a table with code_version = \"...\"")
        pins[key] = Pin(entry["code_version"], str(entry.get("source", "")))
    return pins


def write_pins(project_dir: str, pins: Mapping[str, Pin]) -> None:
    """Write the pins file atomically, sorted by key so that diffs stay small."""
    path = pins_path(project_dir)
    lines = ["# Pinned code versions, written by `datamake pin`. Commit this file.", "[pins]"]
    for key in sorted(pins):
        pin = pins[key]
        lines.append(f"{json.dumps(key)} = {{ code_version = {json.dumps(pin.code_version)}, source = {json.dumps(pin.source)} }}")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)

"""Pinned code versions, kept in ``datamake.pins.toml`` beside ``datamake.toml`` (commit it).

A pin records the code version an asset has now and the fingerprint of its
source at that moment; later edits keep the pinned version (no rebuild) and
``ls``/``why``/``status`` report that the source has drifted since.
"""
from __future__ import annotations

import os
from typing import Dict, Mapping

from datamake.core.errors import ConfigError
from datamake.core.records import record
from datamake.project.settings import read_toml, toml_kind
from datamake.project.tomlcache import parser
from datamake.storage.localfiles import atomic_write

PINS_NAME = "datamake.pins.toml"


@record(frozen=True)
class Pin:
    code_version: str
    source: str  # the automatic code version when the pin was taken


def pins_path(project_dir: str) -> str:
    return os.path.join(project_dir, PINS_NAME)


def read_pins(project_dir: str) -> Dict[str, Pin]:
    path = pins_path(project_dir)
    if not os.path.exists(path):
        return {}

    again = "fix it, or delete it and run `datamake pin` again"
    data = read_toml(path, hint=again)
    table = data.get("pins", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: 'pins' must be a table ([pins]), got {toml_kind(table)} {table!r}",
                          hint=f"expected\n  [pins]\n  ASSET = {{ code_version = \"...\", source = \"...\" }}\n{again}")
    pins = {}
    for key, entry in table.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("code_version"), str):
            raise ConfigError(f"{path}: [pins] {key!r} must be a table with code_version = \"...\", got {entry!r}",
                              hint=f"expected {_quote(key)} = {{ code_version = \"...\", source = \"...\" }}; {again}")
        pins[key] = Pin(entry["code_version"], str(entry.get("source", "")))
    return pins


# tomli-w writes any text TOML can hold; json.dumps, used before, escaped characters outside the
# Basic Multilingual Plane as surrogate pairs, which TOML rejects, so such a file could not be read back.

def _quote(key: str) -> str:
    """``key`` as a TOML key (bare when it can be)."""
    import tomli_w  # lazy: only `datamake pin` writes the file (and the three functions here)

    return tomli_w.dumps({key: 0}).rstrip("\n").rsplit(" = ", 1)[0]


def _string(value: str) -> str:
    """``value`` as a one-line TOML string."""
    import tomli_w

    return tomli_w.dumps({"v": value}).rstrip("\n")[len("v = "):]


def _parse(text: str):
    tomllib = parser()
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None


def write_pins(project_dir: str, pins: Mapping[str, Pin]) -> None:
    """Write the pins file atomically, sorted by key so that diffs stay small."""
    path = pins_path(project_dir)
    lines = ["# Pinned code versions, written by `datamake pin`. Commit this file.", "[pins]"]
    for key in sorted(pins):
        pin = pins[key]
        lines.append(f"{_quote(key)} = {{ code_version = {_string(pin.code_version)}, source = {_string(pin.source)} }}")
    text = "\n".join(lines) + "\n"
    if _parse(text) != {"pins": {k: {"code_version": p.code_version, "source": p.source} for k, p in pins.items()}}:
        # never write a file that would not read back as these pins: fall back to tomli-w's own layout
        import tomli_w

        text = lines[0] + "\n" + tomli_w.dumps(
            {"pins": {k: {"code_version": pins[k].code_version, "source": pins[k].source} for k in sorted(pins)}})
    atomic_write(path, text)

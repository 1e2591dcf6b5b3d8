"""``datamake partitions list|add|remove``: the keys of dynamic partitions, added at run time."""
from __future__ import annotations

import glob
import os
from typing import List

import click

from datamake.cli.main import _emit_json, _project, main


@main.group(name="partitions")
def partitions_group():
    """List, add or remove the keys of dynamic partitions (DynamicPartitions("NAME"))."""


@partitions_group.command(name="list")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.pass_context
def list_command(ctx, name, as_json):
    """Show the keys of each dynamic partitions definition (or of NAME)."""
    from datamake import api  # lazy: a fast --help

    project = _project(ctx)
    found = api.dynamic_partitions(project, name)
    if as_json:
        _emit_json({"partitions": found})
        return
    if not found:
        click.echo('no dynamic partitions defined (declare them with @asset(partitions=DynamicPartitions("NAME")))')
    for each, keys in found.items():
        listed = f": {', '.join(keys)}" if keys else ""
        click.echo(f"{each}: {len(keys)} {'key' if len(keys) == 1 else 'keys'}{listed}")


def _matching_files(directory: str, patterns) -> List[str]:
    """The file names (no folder) that the glob ``patterns`` match under the project folder, sorted."""
    found = [os.path.basename(p) for pattern in patterns
             for p in sorted(glob.glob(os.path.join(directory, pattern))) if os.path.isfile(p)]
    return list(dict.fromkeys(found))


def _check_keys_exist(name: str, keys, known: List[str]) -> None:
    """A usage error (exit 2) naming the KEYS given to ``remove`` that ``name`` does not have; nothing is removed."""
    from datamake.core.errors import SelectionError, did_you_mean

    missing = [k for k in keys if k not in known]
    if not missing:
        return
    near = [hint for hint in (did_you_mean(k, known) for k in missing) if hint]
    listing = f"list them: datamake partitions list {name}"
    raise SelectionError(f"dynamic partitions '{name}' have no key {', '.join(map(repr, missing))}; nothing removed",
                         hint="; ".join([*near, listing]) if known else f"'{name}' has no keys yet")


def _change(ctx, name, keys, patterns, as_json, add: bool) -> None:
    from datamake import api  # lazy: a fast --help

    if not keys and not patterns:
        raise click.UsageError("name the KEYS, or give --files PATTERN")
    project = _project(ctx)
    if not add:
        _check_keys_exist(name, keys, api.dynamic_partitions(project, name)[name])
    files = _matching_files(project.directory, patterns)
    if patterns and not files:
        click.echo(f"datamake: no file matches {', '.join(map(repr, patterns))} under {project.directory}", err=True)
    keys = [*keys, *files]
    changed = (api.add_partitions if add else api.remove_partitions)(project, name, keys)
    verb = "added" if add else "removed"
    if as_json:
        _emit_json({"name": name, verb: changed})
        return
    same = [k for k in keys if k not in changed]
    click.echo(f"{verb} {len(changed)} of {len(keys)} keys to {name}" if add else
               f"{verb} {len(changed)} of {len(keys)} keys from {name}")
    if same:
        click.echo(f"{'already there' if add else 'not there'}: {', '.join(same)}")


def _keys_command(verb: str, add: bool, help_text: str):
    """``partitions add`` and ``partitions remove``: NAME KEY... [--json]."""

    @partitions_group.command(name=verb, help=help_text)
    @click.argument("name")
    @click.argument("keys", nargs=-1)
    @click.option("--files", "patterns", multiple=True, metavar="PATTERN",
                  help="Also each file name that this glob matches (relative to the project), "
                       "as Snakemake's glob_wildcards: --files 'inbox/*.csv'. Repeatable.")
    @click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
    @click.pass_context
    def command(ctx, name, keys, patterns, as_json):
        _change(ctx, name, keys, patterns, as_json, add=add)

    return command


add_command = _keys_command(
    "add", True, "Add KEYS to the dynamic partitions NAME (keys already there stay as they are).")
remove_command = _keys_command(
    "remove", False, "Remove KEYS from the dynamic partitions NAME (their values stay in the store until gc).")

"""``command_asset``: an asset built by a shell command that reads and writes files in the project.

Example (DVC's ``prepare`` stage)::

    prepare = command_asset(
        "python src/prepare.py data/data.xml",
        inputs=["data/data.xml"],          # files: observed sources; an output path of another command: its asset
        outputs=["data/prepared/"],        # a trailing slash: a folder
        params=["prepare.seed", "prepare.split"],
    )

The code version is the command text with the scripts it names (or ``code=``
declares); each output is an asset kept at its path (``@asset(path=...)``).
"""
from __future__ import annotations

import dataclasses
import keyword
import os
import re
import shlex
import subprocess
import sys
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from datamake.checkout.place import content_hash, place_local
from datamake.commands import PARAMS_FILE_ONLY
from datamake.commands.scripts import command_version, is_script, named_scripts
from datamake.core.errors import DefinitionError
from datamake.core.hashing import hash_value
from datamake.core.records import record
from datamake.define import openwatch
from datamake.define.assets import AssetDef, _make_asset_def
from datamake.define.multiasset import AssetOut, MultiAssetDef, output_named, with_outputs
from datamake.define.sources import Output, SourceDef, source

_OUTPUT_KEYS: Dict[str, str] = {}  # absolute output path -> the key of the asset kept there
_SOURCES: Dict[str, SourceDef] = {}  # absolute input path -> its one source(), shared by every command
_STDERR_TAIL = 2000


class CommandFailed(Exception):
    """A command asset's command exited with a non-zero status (its stderr's end in the message)."""


@record(frozen=True, eq=False)
class CommandAssetDef:
    """What ``command_asset`` declares: its outputs' assets and the sources it reads."""

    cmd: str
    outputs: Tuple[AssetDef, ...]
    sources: Tuple[SourceDef, ...]
    node: Optional[AssetDef] = None  # with several outputs: the asset that runs the command

    @property
    def asset_defs(self) -> Tuple[Any, ...]:
        return (*self.sources, *([self.node] if self.node else []), *self.outputs)

    @property
    def key(self) -> str:
        return (self.node or self.outputs[0]).key

    def __getitem__(self, name: str) -> AssetDef:
        """The output asset ``name`` (its key's last part)."""
        return output_named(self.outputs, name)

    def __repr__(self) -> str:
        return f"<command_asset {self.key}: {self.cmd!r}>"


def command_asset(
    cmd: str,
    *,
    name: Optional[str] = None,
    inputs: Sequence[Union[str, AssetDef, SourceDef, CommandAssetDef]] = (),
    outputs: Union[Sequence[str], Mapping[str, str]] = (),
    params: Sequence[str] = (),
    code: Sequence[str] = (),
    group: Optional[str] = None,
    key_prefix: Optional[Union[str, Sequence[str]]] = None,
    metrics: Sequence[str] = (),
) -> CommandAssetDef:
    """Declare an asset built by running ``cmd`` in the project folder.

    - ``inputs``: files and folders it reads (observed as sources), the output
      path of another command asset (its asset, copied into place first), or
      assets and sources themselves;
    - ``outputs``: the files (``"model.pkl"``) or folders (``"data/prepared/"``)
      it writes, each an asset named after its file (or ``{"name": "path"}``);
    - ``params``: fields of its section in the params file (``prepare.split``
      or ``split``), recorded with each build: a change makes it stale and
      ``datamake why`` names the field;
    - ``code``: script files its code version covers besides those it names;
    - ``metrics``: outputs (by name) that are metrics (a JSON dict of numbers).

    A command starting with ``python`` runs with the interpreter that runs datamake.
    """
    if not isinstance(cmd, str) or not cmd.strip():
        raise DefinitionError(f"command_asset needs a command, got {cmd!r}",
                              hint='e.g. command_asset("python src/prepare.py", outputs=["data/prepared/"])')
    caller = sys._getframe(1).f_globals.get("__file__")
    base = os.path.dirname(os.path.abspath(caller)) if caller else os.getcwd()
    outs = _outputs(outputs, cmd)
    base_name = name or _default_name(cmd, base, outs)
    upstream = _Inputs(base, base_name)
    for item in _listed(inputs):
        upstream.add(item)
    version, scripts = command_version(cmd, [*named_scripts(cmd, base), *upstream.code, *_listed(code)], base)
    config = _params_class(base_name, _listed(params))
    run = _Runner(cmd, base, {p: path for p, (_, path) in upstream.placed.items()}, outs)
    fn = run.function(base_name, ["context", *(["config"] if config else []), *upstream.placed])
    setattr(fn, openwatch.VERSIONED_FILES, tuple(os.path.abspath(os.path.join(base, rel)) for rel in scripts))
    ins = {p: key for p, (key, _) in upstream.placed.items()}
    metrics = _listed(metrics)
    unknown = [m for m in metrics if m not in outs]
    if unknown:
        raise DefinitionError(f"command asset '{base_name}': metrics= names {unknown[0]!r}, which is not an output",
                              hint=f"outputs are: {', '.join(outs)}")
    if len(outs) == 1:
        (out_name, (rel, folder)), = outs.items()
        asset = _make_asset_def(fn, base_name, key_prefix, upstream.deps, ins, version, group,
                                "folder" if folder else "file", {"command": cmd, "scripts": scripts}, 0, 1.0,
                                config, (), path=rel, metric=out_name in metrics)
        made = CommandAssetDef(cmd, (asset,), tuple(upstream.sources))
    else:
        node = _make_asset_def(fn, base_name, key_prefix, upstream.deps, ins, version, group, "json",
                               {"command": cmd, "scripts": scripts}, 0, 1.0, config, ())
        specs = {n: AssetOut(io_manager="folder" if folder else "file", path=rel, metric=n in metrics)
                 for n, (rel, folder) in outs.items()}
        multi: MultiAssetDef = with_outputs(node, specs, key_prefix, _in_project(base))
        made = CommandAssetDef(cmd, multi.outputs, tuple(upstream.sources), multi.node)
    for out in made.outputs:
        _OUTPUT_KEYS[os.path.normpath(os.path.join(base, out.path))] = out.key
    return made


def _listed(items: Any) -> List[Any]:
    """One path or name alone, as users write it (``inputs="data.csv"``), is a list of one."""
    return [items] if isinstance(items, (str, AssetDef, SourceDef, CommandAssetDef)) else list(items or ())


def _outputs(outputs: Any, cmd: str) -> Dict[str, Tuple[str, bool]]:
    """Output name -> (path relative to the project, is a folder)."""
    if isinstance(outputs, str):
        outputs = [outputs]
    pairs = list(outputs.items()) if isinstance(outputs, Mapping) else [(None, o) for o in outputs]
    if not pairs:
        raise DefinitionError(f"command asset {cmd!r} declares no outputs",
                              hint='name the files or folders it writes: outputs=["data/prepared/"]')
    out: Dict[str, Tuple[str, bool]] = {}
    for out_name, path in pairs:
        if not isinstance(path, str) or not path.strip("/"):
            raise DefinitionError(f"command asset {cmd!r}: output {path!r} is not a path",
                                  hint='e.g. outputs=["model.pkl", "data/prepared/"]')
        stem = out_name or _stem(path)
        if stem in out:
            raise DefinitionError(f"command asset {cmd!r}: two outputs are named '{stem}'",
                                  hint='name them: outputs={"train": "data/a/out.csv", "test": "data/b/out.csv"}')
        out[stem] = (path.rstrip("/"), path.endswith("/"))
    return out


def _stem(path: str) -> str:
    """An asset name from a file name: ``data/2024-q1.csv`` -> ``f_2024_q1``."""
    return _name(os.path.basename(path.rstrip("/")).split(".", 1)[0])


def _name(text: str) -> str:
    """``text`` as a key segment: other characters as ``_``, starting with a letter or ``_``."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return base if base[:1].isalpha() or base[:1] == "_" else f"f_{base}"


def _default_name(cmd: str, base: str, outs: Mapping[str, Any]) -> str:
    """The first script's stem (``src/prepare.py`` -> ``prepare``), else the first output's name."""
    scripts = named_scripts(cmd, base)
    return _stem(scripts[0]) if scripts else next(iter(outs))


class _Inputs:
    """The inputs of one command asset, sorted into sources, upstream assets and code."""

    def __init__(self, base: str, owner: str):
        self.base, self.owner = base, owner
        self.deps: List[Any] = []
        self.sources: List[SourceDef] = []
        self.placed: Dict[str, Tuple[str, str]] = {}  # parameter -> (upstream key, its workspace path)
        self.code: List[str] = []

    def add(self, item: Any) -> None:
        if isinstance(item, CommandAssetDef):
            for out in item.outputs:
                self.add(out)
        elif isinstance(item, AssetDef):
            if item.path:
                self.placed[f"in_{len(self.placed)}"] = (item.key, item.path)
            else:
                self.deps.append(item.key)
        elif isinstance(item, SourceDef):
            self.deps.append(item.key)
            self.sources.append(item)
        elif isinstance(item, str):
            self._add_path(item)
        else:
            raise DefinitionError(f"command asset '{self.owner}': inputs= got {item!r}",
                                  hint="name files or folders by path, or pass assets, sources or command assets")

    def _add_path(self, rel: str) -> None:
        full = os.path.normpath(os.path.join(self.base, rel))
        if full in _OUTPUT_KEYS:
            self.placed[f"in_{len(self.placed)}"] = (_OUTPUT_KEYS[full], os.path.relpath(full, self.base))
        elif is_script(rel) and os.path.isfile(full):
            self.code.append(rel)
        else:
            src = _SOURCES.get(full)
            if src is None:
                src = _SOURCES[full] = source(full, name=_source_key(os.path.relpath(full, self.base)))
            self.deps.append(src.key)
            self.sources.append(src)


def _source_key(rel: str) -> str:
    """The key of an input file's source: ``data/data.xml`` -> ``files/data/data_xml``."""
    parts = [_name(p) for p in rel.replace(os.sep, "/").split("/") if p]
    return "/".join(["files", *parts])


def _params_class(owner: str, params: Sequence[str]) -> Optional[type]:
    """A config dataclass with one field per param (its section in the params file is the asset's key)."""
    if not params:
        return None
    fields = []
    for p in params:
        section, dot, field_name = p.rpartition(".")
        if dot and section != owner:
            raise DefinitionError(f"command asset '{owner}': param {p!r} is not in its own section '{owner}'",
                                  hint=f"name fields of the '{owner}:' section of the params file, "
                                       f"e.g. params=['{owner}.{field_name}']; or give the asset name='{section}'")
        if not field_name.isidentifier():
            raise DefinitionError(f"command asset '{owner}': param {p!r} is not a field name")
        fields.append((field_name, Any))
    cls = dataclasses.make_dataclass(f"{owner}_params", fields, frozen=True)
    cls.__module__ = __name__
    setattr(cls, PARAMS_FILE_ONLY, True)
    return cls


def _in_project(base: str) -> Callable[[str, Tuple[str, ...], str], Callable[[Any], Any]]:
    """Pickers for a command's outputs: the output's path, in this project folder."""

    def picker(node_key: str, names: Tuple[str, ...], name: str) -> Callable[[Any], Any]:
        def output_path(outputs: Mapping[str, str]) -> str:
            return os.path.join(base, outputs[name])

        output_path.__qualname__ = output_path.__name__ = f"{node_key.replace('/', '_')}_{name}"
        return output_path

    return picker


class _Runner:
    """Runs one command: inputs copied into place first, outputs checked after."""

    def __init__(self, cmd: str, base: str, placed: Mapping[str, str], outs: Mapping[str, Tuple[str, bool]]):
        self.cmd, self.base, self.placed, self.outs = cmd, base, dict(placed), dict(outs)

    def function(self, name: str, params: List[str]) -> Callable[..., Any]:
        """A function with exactly these parameters (datamake passes inputs by parameter name)."""
        ident = re.sub(r"\W", "_", name)
        ident = ident if ident.isidentifier() and not keyword.iskeyword(ident) else f"command_{ident}"
        text = f"def {ident}({', '.join(params)}):\n    return _run({', '.join(f'{p}={p}' for p in params)})\n"
        namespace: Dict[str, Any] = {"_run": self}
        exec(compile(text, f"<command asset {name}>", "exec"), namespace)  # noqa: S102 - our own text
        return namespace[ident]

    def __call__(self, context: Any, config: Any = None, **values: Any) -> Any:
        for param, value in values.items():
            place_local(value, os.path.join(self.base, self.placed[param]))
        argv = self._argv()
        proc = subprocess.run(argv, shell=isinstance(argv, str), cwd=self.base,
                              capture_output=True, text=True, errors="replace")
        for line in proc.stdout.splitlines()[-200:]:
            context.log.info(line)
        if proc.returncode != 0:
            tail = proc.stderr.strip()[-_STDERR_TAIL:]
            raise CommandFailed(f"command exited with status {proc.returncode}: {self.cmd}"
                                + (f"\n{tail}" if tail else ""))
        paths = {n: os.path.join(self.base, rel) for n, (rel, _) in self.outs.items()}
        for n, (rel, folder) in self.outs.items():
            self._check_written(rel, folder, paths[n])
        if len(paths) == 1:
            return next(iter(paths.values()))
        # several outputs: the command's own value names them (relative: the same on every machine),
        # and its data version moves with their content, so each output is then stored by its asset
        return Output({n: rel for n, (rel, _) in sorted(self.outs.items())},
                      data_version=hash_value("command outputs", [[n, content_hash(p)] for n, p in sorted(paths.items())]))

    def _argv(self) -> Union[str, List[str]]:
        """``python ...`` runs with this interpreter; anything else through the shell."""
        try:
            words = shlex.split(self.cmd)
        except ValueError:
            return self.cmd
        if words and words[0] in ("python", "python3") and not any(c in self.cmd for c in "|&;<>$`"):
            return [sys.executable, *words[1:]]
        return self.cmd

    def _check_written(self, rel: str, folder: bool, full: str) -> None:
        if folder and not os.path.isdir(full):
            what = "a file" if os.path.exists(full) else "nothing"
            raise CommandFailed(f"command {self.cmd!r} wrote {what} at {rel}/, declared as a folder output")
        if not folder and not os.path.isfile(full):
            hint = f" (declare it as '{rel}/' to store a folder)" if os.path.isdir(full) else ""
            raise CommandFailed(f"command {self.cmd!r} did not write the file {rel}{hint}")

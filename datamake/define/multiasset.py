"""Several assets from one function: ``@multi_asset(outs={...})``, Dagster's spelling.

The function is an asset of its own (keyed by its name; its value, the outputs
together, is stored pickled), and each output is an asset that picks its value
out of it. One call of the function builds every output; each output has its own
data version and manifest, so early cutoff works per output: a consumer of
``test`` does not rebuild when only ``train`` changed.

Example::

    @multi_asset(outs={"train": AssetOut(), "test": AssetOut(io_manager="json")})
    def split(raw):
        return {"train": raw[:80], "test": raw[80:]}  # or a tuple in the order of outs
"""
from __future__ import annotations

from dataclasses import field, replace
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple, Union

from datamake.core.errors import DefinitionError
from datamake.core.hashing import hash_value
from datamake.core.keys import validate_key
from datamake.core.records import record
from datamake.define.assets import AssetDef, _make_asset_def, _packages

_WHOLE = "outputs"  # the parameter through which an output receives the function's value


@record(frozen=True)
class AssetOut:
    """One output of a :func:`multi_asset`: the options ``@asset`` would take for it."""

    io_manager: Optional[str] = None
    group: Optional[str] = None
    description: Optional[str] = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    path: Optional[str] = None
    metric: bool = False


@record(frozen=True, eq=False)
class MultiAssetDef:
    """The function's own asset and one asset per output; callable like the function."""

    node: AssetDef
    outputs: Tuple[AssetDef, ...]

    @property
    def asset_defs(self) -> Tuple[AssetDef, ...]:
        """Everything ``Definitions`` takes in for it."""
        return (self.node, *self.outputs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.node.fn(*args, **kwargs)

    def __getitem__(self, name: str) -> AssetDef:
        """The output asset ``name`` (to name it in ``deps=`` or ``ins=``)."""
        return output_named(self.outputs, name)

    def __repr__(self) -> str:
        return f"<multi_asset {self.node.key}: {', '.join(o.key for o in self.outputs)}>"


def output_named(outputs: Sequence[AssetDef], name: str) -> AssetDef:
    """The output whose key ends in ``name``; KeyError names the outputs there are."""
    for out in outputs:
        if out.key.rsplit("/", 1)[-1] == name:
            return out
    raise KeyError(f"no output {name!r}; outputs are: {', '.join(o.key for o in outputs)}")


def multi_asset(
    fn: Optional[Callable[..., Any]] = None,
    *,
    outs: Union[Mapping[str, AssetOut], Sequence[str]],
    name: Optional[str] = None,
    key_prefix: Optional[Union[str, Sequence[str]]] = None,
    deps: Any = (),
    ins: Optional[Mapping[str, Any]] = None,
    code_version: Optional[str] = None,
    group: Optional[str] = None,
    retries: int = 0,
    retry_delay: float = 1.0,
    config: Optional[type] = None,
    track_packages: Union[str, Sequence[str]] = (),
) -> Any:
    """Declare a function that builds several assets at once.

    ``outs`` maps each output's name to an :class:`AssetOut` (or is a list of
    names). The function returns a dict keyed by those names, or a tuple in
    their order. Every other option is ``@asset``'s, for the function itself.
    """
    out_map = _outs(outs)

    def wrap(func: Callable[..., Any]) -> MultiAssetDef:
        node = _make_asset_def(func, name, key_prefix, deps, ins, code_version, group, "pickle", None, retries,
                               retry_delay, config, _packages(track_packages))
        names = tuple(out_map)
        clash = node.key.rsplit("/", 1)[-1]
        if clash in names:
            raise DefinitionError(f"multi_asset '{node.key}': an output has the function's own name '{clash}'",
                                  hint="rename the output, or give the function another name with name=")
        return with_outputs(node, out_map, key_prefix)

    return wrap(fn) if fn is not None else wrap


def with_outputs(node: AssetDef, outs: Mapping[str, AssetOut], key_prefix: Any = None,
                 picker: Optional[Callable[[str, Tuple[str, ...], str], Callable[[Any], Any]]] = None
                 ) -> MultiAssetDef:
    """The multi-asset of the function asset ``node`` with one asset per output; ``picker(node key,
    names, name)`` makes the function that picks an output's value out of the node's."""
    names = tuple(outs)
    make_picker = picker or _picker
    return MultiAssetDef(node, tuple(_output(node, names, n, outs[n], key_prefix, make_picker(node.key, names, n))
                                     for n in names))


def _outs(outs: Any) -> Mapping[str, AssetOut]:
    if isinstance(outs, (list, tuple)):
        outs = {n: AssetOut() for n in outs}
    if not isinstance(outs, Mapping) or not outs:
        raise DefinitionError(f"multi_asset: outs= must name at least one output, got {outs!r}",
                              hint='e.g. outs={"train": AssetOut(), "test": AssetOut()}')
    for n, spec in outs.items():
        validate_key(n)
        if not isinstance(spec, AssetOut):
            raise DefinitionError(f"multi_asset: output '{n}' is {spec!r}, expected an AssetOut()",
                                  hint=f'e.g. outs={{"{n}": AssetOut(io_manager="json")}}')
    return outs


def _output(node: AssetDef, names: Tuple[str, ...], out_name: str, spec: AssetOut, key_prefix: Any,
            picker: Callable[[Any], Any]) -> AssetDef:
    # The picking is datamake's code, the same for every output: pinned, so that the
    # output's version moves only with the function's value (its one input).
    version = hash_value("multi_asset output", out_name, names.index(out_name))[:16]
    out = _make_asset_def(picker, out_name, key_prefix, (),
                          {_WHOLE: node.key}, version, spec.group or node.group, spec.io_manager,
                          spec.metadata, 0, 1.0, None, (), path=spec.path, metric=spec.metric)
    return out if spec.description is None else replace(out, description=spec.description)


def _picker(node_key: str, names: Tuple[str, ...], out_name: str) -> Callable[[Any], Any]:
    index = names.index(out_name)

    def outputs_pick(outputs: Any) -> Any:
        if isinstance(outputs, Mapping) and set(outputs) == set(names):
            return outputs[out_name]
        if isinstance(outputs, (tuple, list)) and len(outputs) == len(names) and len(names) > 1:
            return outputs[index]
        if len(names) == 1 and not isinstance(outputs, Mapping):
            return outputs
        got = f"a dict with keys {sorted(outputs)}" if isinstance(outputs, Mapping) else type(outputs).__name__
        raise DefinitionError(f"multi_asset '{node_key}' returned {got}; expected a dict with the keys "
                              f"{', '.join(names)} or a tuple of {len(names)} values in that order")

    outputs_pick.__qualname__ = outputs_pick.__name__ = f"{node_key.replace('/', '_')}_{out_name}"
    return outputs_pick

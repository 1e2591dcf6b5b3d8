"""``@graph_asset``: an asset whose value a graph of ops computes.

The asset is an ordinary ``@asset`` to the planner: its code version follows
the graph's body into every op it calls (and their helpers), so editing an op
makes the asset stale in ``datamake status``. When it is built, its ops run
content-addressed (see :mod:`datamake.ops.runner`): only the invocations whose
provenance changed run again.

Example::

    @graph_asset(group="reports")
    def order_summary(raw_orders):       # raw_orders: an upstream asset
        return summarize(clean(raw_orders))
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple, Union

from datamake.core.errors import DefinitionError

from datamake.define.assets import AssetDef, _make_asset_def, _packages, _prefix
from datamake.ops.definition import GraphDef, check_config_names, graph as make_graph
from datamake.ops.trace import trace


def graph_asset(fn: Optional[Callable[..., Any]] = None, *, name: Optional[str] = None,
                key_prefix: Optional[Union[str, Sequence[str]]] = None, ins: Optional[Mapping[str, Any]] = None,
                deps: Any = (), group: Optional[str] = None, io_manager: Optional[str] = None,
                metadata: Optional[Mapping[str, Any]] = None, code_version: Optional[str] = None,
                config: Optional[Mapping[str, Mapping[str, Any]]] = None,
                track_packages: Union[str, Sequence[str]] = ()) -> Any:
    """Declare an asset computed by a graph of ops. Usable bare or with the options of ``@asset``.

    The function's parameters are upstream assets (resolved as for ``@asset``);
    its body calls ops; what it returns (one op output) is the asset's value.
    ``config={"op": {...}}`` gives its ops their config values (part of the
    provenance). Retries, resources and config are declared on the ops.
    """

    def wrap(func: Callable[..., Any]) -> AssetDef:
        g = func if isinstance(func, GraphDef) else make_graph(func, name=name)
        return _graph_asset_def(g, name or g.name, None, key_prefix, deps, ins, code_version, group, io_manager,
                                metadata, dict(config or {}), track_packages)

    return wrap(fn) if fn is not None else wrap


def graph_multi_asset(fn: Optional[Callable[..., Any]] = None, *, outs: Any, key_prefix: Any = None,
                      ins: Optional[Mapping[str, Any]] = None, deps: Any = (), group: Optional[str] = None,
                      config: Optional[Mapping[str, Mapping[str, Any]]] = None,
                      track_packages: Union[str, Sequence[str]] = ()) -> Any:
    """Declare several assets computed by one graph; returns one ``AssetDef`` per output, in order.

    ``outs`` lists the output names, or maps each to its options (an object or
    dict with ``io_manager``, ``group``, ``metadata``: an ``AssetOut`` works).
    The graph returns a dict keyed by those names, or a tuple in their order.
    Each output is an asset of its own, with its own data version; the ops they
    share run once, the other outputs finding them in the action cache.

    Example::

        @graph_multi_asset(outs=["train", "test"])
        def splits(raw):
            train, test = split(clean(raw))
            return {"train": train, "test": test}
    """
    options = {n: {} for n in outs} if isinstance(outs, (list, tuple)) else dict(outs or {})
    if not options:
        raise DefinitionError("graph_multi_asset: outs= must name at least one output",
                              hint='e.g. outs=["train", "test"]')

    def wrap(func: Callable[..., Any]) -> Tuple[AssetDef, ...]:
        g = func if isinstance(func, GraphDef) else make_graph(func)
        return tuple(
            _graph_asset_def(g, out, (out, i), key_prefix, deps, ins, None, _option(spec, "group") or group,
                             _option(spec, "io_manager"), _option(spec, "metadata"), dict(config or {}),
                             track_packages)
            for i, (out, spec) in enumerate(options.items()))

    return wrap(fn) if fn is not None else wrap


def _option(spec: Any, name: str) -> Any:
    return spec.get(name) if isinstance(spec, Mapping) else getattr(spec, name, None)


def _graph_asset_def(g: GraphDef, name: str, output: Optional[Tuple[str, int]], key_prefix: Any, deps: Any,
                     ins: Any, code_version: Optional[str], group: Optional[str], io_manager: Optional[str],
                     metadata: Any, op_config: Mapping[str, Mapping[str, Any]], track_packages: Any) -> AssetDef:
    _check(g, _prefix(key_prefix, name), output, op_config)
    body = _body(g, op_config, _prefix(key_prefix, name), output)
    a = _make_asset_def(body, name, key_prefix, deps, ins, code_version, group, io_manager, metadata,
                        0, 1.0, None, _packages(track_packages))
    return dataclasses.replace(a, wants_context=True, description=a.description or g.description)


def _check(g: GraphDef, key: str, output: Optional[Tuple[str, int]],
           op_config: Mapping[str, Mapping[str, Any]]) -> None:
    """Trace the body now, so that a wrong graph (or config for an op it lacks) is a definition
    error (exit 2) when the project loads."""
    plan = trace(g)
    check_config_names(op_config, plan.ops, g.name)
    returned = dict(plan.outputs)
    if output is None and len(returned) != 1:
        raise DefinitionError(f"graph asset '{key}' must return exactly one op output, it returns {len(returned)}",
                              hint="return the output that is the asset's value, or use @graph_multi_asset")
    if output is not None and output[0] not in returned and str(output[1]) not in returned:
        raise DefinitionError(f"graph multi-asset '{key}': the graph returns no output '{output[0]}' "
                              f"(it returns {', '.join(returned) or 'nothing'})",
                              hint="return a dict keyed by the outs= names, or a tuple in their order")
    source = returned.get(output[0], returned.get(str(output[1]))) if output else next(iter(returned.values()))
    if source[0] != "out":
        raise DefinitionError(f"graph asset '{key}' must return an op's output, not a graph input or a collected "
                              f"fan-out", hint="pass dyn.collect() through an op that joins it")


def _body(g: GraphDef, op_config: Mapping[str, Mapping[str, Any]], key: str,
          output: Optional[Tuple[str, int]]) -> Callable[..., Any]:
    """The function the asset's task calls: it runs the graph with the task's store and inputs,
    and returns its one output (or, for one of several assets, the output ``(name, position)``)."""

    def run_graph_asset(context: Any = None, **inputs: Any) -> Any:
        from datamake.ops.inasset import run_in_asset  # lazy: defining an asset imports no runner

        return run_in_asset(g, op_config, context, inputs, output)

    run_graph_asset.__wrapped__ = g.fn  # type: ignore[attr-defined]  # parameters and code version: the graph's
    run_graph_asset.__qualname__ = run_graph_asset.__name__ = key.rsplit("/", 1)[-1]
    run_graph_asset.__doc__ = g.fn.__doc__
    return run_graph_asset

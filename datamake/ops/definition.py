"""Describing ops and graphs: ``@op``, ``Out``, ``DynamicOut`` and ``@graph``.

Nothing here runs an op against the store; it records what the user declared.
An :class:`OpDef` is callable like its function, so ``double(2)`` works in a
unit test; inside a ``@graph`` body, calling an op records an invocation
instead (see :mod:`datamake.ops.trace`).

Example::

    from datamake import op, graph, Out

    @op
    def load():
        return [3, 1, 2]

    @op(out={"low": Out(), "high": Out()})
    def split(numbers):
        return [n for n in numbers if n < 2], [n for n in numbers if n >= 2]

    @graph
    def pipeline():
        low, high = split(load())
        return high
"""
from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

from datamake.core.errors import ConfigError, DefinitionError, did_you_mean
from datamake.define.assets import CONFIG_PARAM, CONTEXT_PARAM, _describe_fn, _is_async, _parameters

RESULT = "result"  # the name of an op's single output

_tracing = threading.local()  # .tracer: the Tracer recording the @graph body running on this thread


def active_tracer() -> Any:
    """The tracer of the ``@graph`` body being traced on this thread, or None."""
    return getattr(_tracing, "tracer", None)


def set_tracer(tracer: Any) -> Any:
    """Make ``tracer`` the active one on this thread; returns the previous one."""
    previous = active_tracer()
    _tracing.tracer = tracer
    return previous


@dataclass(frozen=True)
class Out:
    """One output of an op. ``io_manager`` chooses how it is stored (default: by the value's type)."""

    io_manager: Optional[str] = None
    description: Optional[str] = None


@dataclass(frozen=True)
class DynamicOut(Out):
    """An output of any number of chunks, each stored and versioned on its own.

    The op returns (or yields) the chunks, as plain values or as
    :class:`DynamicOutput` with a ``mapping_key``; in a graph, ``.map(fn)``
    runs ``fn`` once per chunk and ``.collect()`` joins the results into a list.
    """


@dataclass(frozen=True)
class DynamicOutput:
    """One chunk of a :class:`DynamicOut`, named by ``mapping_key`` (default: its position)."""

    value: Any
    mapping_key: Optional[str] = None


@dataclass(frozen=True, eq=False)
class OpDef:
    """One op: a function with inputs (its parameters) and one or more named outputs.

    Calling it outside a graph calls the function; inside a ``@graph`` body it
    records an invocation and returns references to its outputs.
    """

    name: str
    fn: Callable[..., Any]
    inputs: Tuple[str, ...]
    outs: Tuple[Tuple[str, Out], ...] = ((RESULT, Out()),)
    resources: Tuple[str, ...] = ()
    config: Optional[type] = None
    retries: int = 0
    retry_delay: float = 1.0
    code_version: Optional[str] = None
    wants_context: bool = False
    optional_inputs: Tuple[str, ...] = ()
    description: Optional[str] = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def dynamic(self) -> bool:
        """True when the op's (single) output is a :class:`DynamicOut`."""
        return any(isinstance(o, DynamicOut) for _, o in self.outs)

    @property
    def out_names(self) -> Tuple[str, ...]:
        return tuple(name for name, _ in self.outs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tracer = active_tracer()
        if tracer is None:
            return self.fn(*args, **kwargs)
        return tracer.invoke(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<op {self.name}>"


def op(
    fn: Optional[Callable[..., Any]] = None,
    *,
    name: Optional[str] = None,
    out: Union[None, Out, Mapping[str, Out]] = None,
    resources: Sequence[str] = (),
    config: Optional[type] = None,
    retries: int = 0,
    retry_delay: float = 1.0,
    code_version: Optional[str] = None,
    tags: Optional[Mapping[str, str]] = None,
) -> Any:
    """Declare a function as an op. Usable bare (``@op``) or with options.

    - its parameters are its inputs, passed by the graph that calls it;
      a parameter named ``context`` receives an ``OpContext`` (``op_name``,
      ``invocation``, ``run_id``, ``log``);
    - ``out={"a": Out(), "b": Out()}`` declares several outputs: the function
      returns a tuple in that order; ``out=DynamicOut()`` declares chunks;
    - ``resources=["db"]`` fills those parameters with the project's resources
      (``resource()`` definitions and ``[resources.NAME]`` settings);
    - ``config=SomeDataclass`` gives the function a validated ``config`` parameter,
      filled from ``run_graph(config={"OP": {...}})`` (or the job's config);
    - ``retries=N`` re-runs a raising function up to N times with back-off;
    - ``code_version="2"`` pins the code version (otherwise derived from the
      function's normalized source and the helpers it calls, as for assets).

    Example::

        @op(out=DynamicOut())
        def chunks(lines):
            for i in range(0, len(lines), 100):
                yield DynamicOutput(lines[i:i + 100], mapping_key=str(i))
    """

    def wrap(func: Callable[..., Any]) -> OpDef:
        return _make_op_def(func, name, out, tuple(resources), config, retries, retry_delay, code_version, tags)

    return wrap(fn) if fn is not None else wrap


def _outs(op_name: str, out: Union[None, Out, Mapping[str, Out]]) -> Tuple[Tuple[str, Out], ...]:
    if out is None:
        return ((RESULT, Out()),)
    if isinstance(out, Out):
        return ((RESULT, out),)
    if not isinstance(out, Mapping) or not out or not all(isinstance(o, Out) for o in out.values()):
        raise DefinitionError(f"op '{op_name}': out= must be an Out(), a DynamicOut() or a dict of them, got {out!r}",
                              hint='e.g. out={"train": Out(), "test": Out()}')
    outs = tuple((str(k), o) for k, o in out.items())
    if len(outs) > 1 and any(isinstance(o, DynamicOut) for _, o in outs):
        raise DefinitionError(f"op '{op_name}': a DynamicOut must be the op's only output",
                              hint="split the op in two: one that yields the chunks, one for the rest")
    return outs


def _make_op_def(func, name, out, resources, config, retries, retry_delay, code_version, tags) -> OpDef:
    if not callable(func) or isinstance(func, type):
        raise DefinitionError(f"@op must decorate a function, got {func!r}")
    op_name = name or func.__name__
    if _is_async(func):
        raise DefinitionError(f"op '{op_name}': {_describe_fn(func)} is an async function; ops are called "
                              f"synchronously",
                              hint="make it a plain def; to await inside it: return asyncio.run(fetch())")
    params = _parameters(func)
    names = [n for n, _, variadic in params if not variadic]
    if any(variadic for _, _, variadic in params):
        raise DefinitionError(f"op '{op_name}' has *args/**kwargs; name each input as a parameter")
    for res in resources:
        if res not in names:
            raise DefinitionError(f"op '{op_name}': resources= names '{res}', which is not a parameter of "
                                  f"{_describe_fn(func)}", hint=f"add the parameter: def {func.__name__}(..., {res})")
    if config is not None and (not dataclasses.is_dataclass(config) or CONFIG_PARAM not in names):
        raise DefinitionError(f"op '{op_name}': config= must be a dataclass and the function must have a "
                              f"parameter named '{CONFIG_PARAM}'",
                              hint=f"def {func.__name__}(..., {CONFIG_PARAM}): ...")
    special = {CONTEXT_PARAM, *resources, *([CONFIG_PARAM] if config is not None else [])}
    inputs = tuple(n for n in names if n not in special)
    optional = tuple(n for n, has_default, _ in params if has_default and n in inputs)
    doc = func.__doc__.strip().splitlines()[0] if isinstance(func.__doc__, str) and func.__doc__.strip() else None
    return OpDef(name=op_name, fn=func, inputs=inputs, outs=_outs(op_name, out), resources=resources, config=config,
                 retries=int(retries), retry_delay=float(retry_delay),
                 code_version=None if code_version is None else str(code_version),
                 wants_context=CONTEXT_PARAM in names, optional_inputs=optional, description=doc,
                 tags=dict(tags or {}))


@dataclass(frozen=True, eq=False)
class GraphDef:
    """A graph of ops: a function whose body calls ops and passes their outputs on.

    Its parameters are the graph's inputs; what it returns is its output (an
    op's output, a tuple of them, or a dict of them). Calling a graph inside
    another graph inlines it.
    """

    name: str
    fn: Callable[..., Any]
    inputs: Tuple[str, ...]
    description: Optional[str] = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if active_tracer() is None:
            raise DefinitionError(f"graph '{self.name}' is run by datamake, not called directly",
                                  hint="run it with datamake.ops.run_graph(project, graph), a job(graph=...), "
                                       "or put it behind an asset with @graph_asset")
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<graph {self.name}>"


def graph(fn: Optional[Callable[..., Any]] = None, *, name: Optional[str] = None) -> Any:
    """Declare a function composing ops as a graph. Usable bare (``@graph``) or with ``name=``.

    Example::

        @graph
        def totals():
            return add_up(parse(fetch()))
    """

    def wrap(func: Callable[..., Any]) -> GraphDef:
        if not callable(func) or isinstance(func, type):
            raise DefinitionError(f"@graph must decorate a function, got {func!r}")
        params = _parameters(func)
        if any(variadic for _, _, variadic in params):
            raise DefinitionError(f"graph '{name or func.__name__}' has *args/**kwargs; name each input")
        doc = func.__doc__.strip().splitlines()[0] if isinstance(func.__doc__, str) and func.__doc__.strip() else None
        return GraphDef(name or func.__name__, func, tuple(n for n, _, _ in params), doc)

    return wrap(fn) if fn is not None else wrap


def check_config_names(config: Optional[Mapping[str, Any]], known: Dict[str, OpDef], graph_name: str) -> None:
    """Config may only name ops of the graph that take config."""
    for name in config or {}:
        op_def = known.get(name)
        if op_def is None:
            raise ConfigError(f"config given for '{name}', which is not an op of graph '{graph_name}'",
                              hint=did_you_mean(name, known) or f"its ops are {', '.join(sorted(known))}")
        if op_def.config is None:
            raise ConfigError(f"config given for op '{name}' of graph '{graph_name}', which takes no config",
                              hint=f"give the op config=SomeDataclass, or remove the config for '{name}'")

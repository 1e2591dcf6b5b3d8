"""Describing assets: the ``@asset`` decorator and ``Definitions``.

Nothing here runs an asset or touches storage; it only records what the user
declared and resolves names into a dependency map.

Example::

    from datamake import asset

    @asset
    def raw_orders():
        return pyarrow.table({"id": [1, 2]})

    @asset(code_version="2", group="sales")
    def clean_orders(raw_orders, context):
        context.log.info("cleaning %d rows", raw_orders.num_rows)
        return raw_orders.filter(...)
"""
from __future__ import annotations

from collections import abc
import sys
import types
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from datamake.core.errors import DefinitionError, DuplicateKeyError, MissingDependencyError, did_you_mean
from datamake.core.keys import validate_key
from datamake.core.records import field, filled, record, replace
from datamake.define.checkdef import AssetCheckDef, group_checks
from datamake.define.sources import ResourceDef, SourceDef

if TYPE_CHECKING:
    from datamake.automation.rules.definitions import ScheduleDef, SensorDef
    from datamake.jobs.definition import Job

_AUTOMATION = "datamake.automation.rules.definitions"  # loaded by a project that defines a schedule or sensor
_JOBS = "datamake.jobs.definition"  # loaded by a project that defines a job

CONFIG_PARAM = "config"

CONTEXT_PARAM = "context"


@record(frozen=True, eq=False)
class AssetDef:
    """One asset: its key, function and declared options.

    An ``AssetDef`` is callable like the function it wraps, so an asset can be
    unit-tested as ``clean_orders(my_table)`` with no datamake machinery.
    """

    key: str
    fn: Callable[..., Any]
    params: Tuple[str, ...]
    ins: Mapping[str, str]
    deps: Tuple[str, ...] = ()
    code_version: Optional[str] = None
    group: str = "default"
    io_manager: Optional[str] = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    description: Optional[str] = None
    wants_context: bool = False
    optional_params: Tuple[str, ...] = ()
    retries: int = 0
    retry_delay: float = 1.0
    config: Optional[type] = None
    packages: Tuple[str, ...] = ()
    partitions: Any = None  # a PartitionsDefinition, or None
    partition_mapping: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    path: Optional[str] = None  # a workspace path kept holding a copy of the current value
    metric: bool = False  # a dict of numbers that `datamake metrics` shows and compares
    goal: Any = None  # a freshness goal (datamake.automation.rules.goals.Goal), or None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<asset {self.key}>"


def asset(
    fn: Optional[Callable[..., Any]] = None,
    *,
    name: Optional[str] = None,
    key_prefix: Optional[Union[str, Sequence[str]]] = None,
    deps: Union[str, AssetDef, SourceDef, Sequence[Union[str, AssetDef, SourceDef]]] = (),
    ins: Optional[Mapping[str, Union[str, AssetDef, SourceDef]]] = None,
    code_version: Optional[str] = None,
    group: Optional[str] = None,
    io_manager: Optional[str] = None,
    metadata: Optional[Mapping[str, Any]] = None,
    retries: int = 0,
    retry_delay: float = 1.0,
    config: Optional[type] = None,
    track_packages: Union[str, Sequence[str]] = (),
    partitions: Any = None,
    partition_mapping: Optional[Mapping[Union[str, AssetDef], Any]] = None,
    tags: Optional[Mapping[str, str]] = None,
    path: Optional[str] = None,
    metric: bool = False,
    fresh_within: Any = None,
    fresh_by: Any = None,
    automation: Optional[str] = None,
) -> Any:
    """Declare a function as an asset. Usable bare (``@asset``) or with options.

    - parameters named after other assets receive their loaded values; a
      parameter named ``context`` receives an :class:`AssetContext`;
    - a parameter named after a module-level variable that holds a
      ``source()`` receives that source, whatever its key;
    - ``ins={"param": "sales/orders"}`` maps a parameter to a key explicitly;
    - ``deps=[...]`` adds upstream assets (keys, assets or sources) for
      ordering and versioning only; one key alone may be given as a string;
    - ``key_prefix="sales"`` (or ``["sales", "eu"]``, Dagster's spelling)
      prefixes the key: ``sales/eu/NAME``;
    - ``code_version="2"`` pins the code version (otherwise derived from the
      function's normalized source, so comments and formatting do not count);
    - ``io_manager`` is one of ``arrow``, ``pandas``, ``bytes``, ``text``,
      ``json``, ``pickle`` (default: chosen by the value's type);
    - ``retries=N`` re-runs a raising function up to N times with back-off;
    - ``config=SomeDataclass`` gives the function a validated ``config``
      parameter, filled from ``[config.KEY]`` in datamake.toml and ``--config``;
    - ``track_packages=["pyarrow"]`` (or one name as a string) makes those
      packages' installed versions part of the code version;
    - ``partitions=DailyPartitions(start="2024-01-01")`` splits the asset into
      partitions with their own versions; ``partition_mapping={"up": ...}``
      says which upstream partitions each one reads (see ``datamake.core.partitions``);
    - ``tags={"tier": "gold"}`` labels the asset for selections (``tag:tier=gold``);
      tags do not change what the function computes, so they are not part of its provenance.
    - ``path="reports/metrics.json"`` keeps a copy of the current value's stored bytes
      (a folder's files) at that project path after each ``make``, restored from the
      store when the value is cached; the store's artifact never changes through it;
    - ``metric=True`` marks an asset returning a dict of numbers for ``datamake metrics``.
    - ``fresh_within="1h"``, ``fresh_by="0 9 * * *"`` (or ``("0 9 * * *", "Europe/Paris")``) and
      ``automation="eager"`` declare a freshness goal that ``datamake daemon`` keeps and
      ``datamake status`` reports (see docs/automation.md).

    Example::

        @asset(deps=["raw_files"], group="reports", io_manager="text")
        def summary(clean_orders):
            return f"{clean_orders.num_rows} orders"
    """

    options = (name, key_prefix, deps, ins, code_version, group, io_manager, metadata, retries, retry_delay, config,
               track_packages, partitions, partition_mapping, tags, path, metric, fresh_within, fresh_by, automation)
    if fn is not None:  # bare ``@asset``: no decorator made (a closure over every option costs a cell each)
        return _asset_of(fn, *options)
    return lambda func: _asset_of(func, *options)


def _asset_of(func, name, key_prefix, deps, ins, code_version, group, io_manager, metadata, retries, retry_delay,
              config, track_packages, partitions, partition_mapping, tags, path, metric, fresh_within, fresh_by,
              automation):
    """What ``@asset(...)`` makes of ``func`` with those options."""
    packages = () if type(track_packages) is tuple and not track_packages else _packages(track_packages)  # (default)
    a = _make_asset_def(
        func, name, key_prefix, deps, ins, code_version, group, io_manager, metadata, retries, retry_delay,
        config, packages, partitions, partition_mapping, tags, path, metric,
    )
    if fresh_within is None and fresh_by is None and automation is None:
        return a
    from datamake.automation.rules.goals import parse_goal  # lazy: import datamake stays fast (no cronsim)

    return replace(a, goal=parse_goal(a.key, fresh_within, fresh_by, automation))


def _packages(track_packages: Union[str, Sequence[str]]) -> Tuple[str, ...]:
    """``"pyarrow"`` is one package, like ``["pyarrow"]`` (not the letters p, y, a, ...)."""
    if isinstance(track_packages, str):
        return (track_packages,)
    packages = tuple(track_packages or ())
    bad = [p for p in packages if not isinstance(p, str) or not p]
    if bad:
        raise DefinitionError(f"track_packages= takes package names, got {bad[0]!r}",
                              hint='e.g. track_packages=["pyarrow", "pandas"]')
    return packages


def _key_of(ref: Union[str, AssetDef, SourceDef], asset_key: Optional[str] = None, where: str = "") -> str:
    """The key an upstream reference names: a key string, an ``@asset`` or a ``source()``."""
    if isinstance(ref, (AssetDef, SourceDef)):
        return ref.key
    if asset_key is None:
        return validate_key(ref)
    if not isinstance(ref, str):
        raise DefinitionError(f"asset '{asset_key}': {where} got {ref!r}, which is not an asset key",
                              hint="name an upstream with its key ('orders', 'sales/orders'), "
                                   "the @asset function itself, or a source()")
    try:
        return validate_key(ref)
    except DefinitionError as exc:
        raise DefinitionError(f"asset '{asset_key}': {where} names {ref!r}, which is not a valid asset key",
                              hint=exc.hint) from None


def _prefix(key_prefix: Any, base: str) -> str:
    """``key_prefix`` (a string, or a list/tuple of segments as in Dagster) joined to ``base``."""
    if not key_prefix:
        return base
    if isinstance(key_prefix, str):
        return f"{key_prefix.strip('/')}/{base}"
    if isinstance(key_prefix, (list, tuple)) and all(isinstance(p, str) and p for p in key_prefix):
        return "/".join([*(p.strip("/") for p in key_prefix), base])
    raise DefinitionError(f"asset '{base}': key_prefix= must be a string or a list of strings, got {key_prefix!r}",
                          hint='e.g. key_prefix="sales" or key_prefix=["sales", "eu"]')


def _describe_fn(func: Any) -> str:
    return getattr(func, "__qualname__", None) or repr(func)


def _make_asset_def(func, name, key_prefix, deps, ins, code_version, group, io_manager, metadata, retries, retry_delay,
                    config, packages, partitions=None, partition_mapping=None, tags=None, path=None, metric=False):
    if isinstance(func, type):
        raise DefinitionError(
            f"@asset decorates a function, got the class {func.__qualname__}",
            hint=f"write a function that returns the value, e.g. def {func.__name__.lower()}(): return {func.__name__}(...)",
        )
    if not callable(func):
        raise DefinitionError(f"@asset must decorate a function, got {func!r}")
    base = name or func.__name__
    key = validate_key(_prefix(key_prefix, base))
    code = _plain_code(func)
    if _is_async(func, code):
        raise DefinitionError(
            f"asset '{key}': {_describe_fn(func)} is an async function; datamake calls asset functions synchronously",
            hint="make it a plain def; to await inside it, wrap the async code: return asyncio.run(fetch())",
        )
    if isinstance(deps, (str, AssetDef, SourceDef)):
        deps = (deps,)  # one upstream, as Dagster users write it: deps="orders"
    elif type(deps) not in (tuple, list) and not isinstance(deps, abc.Iterable):  # (an ABC's check costs more)
        raise DefinitionError(f"asset '{key}': deps= must be a list of upstream keys, got {deps!r}",
                              hint='e.g. deps=["orders"] or deps=[orders]')
    if ins is not None and not isinstance(ins, abc.Mapping):
        raise DefinitionError(f"asset '{key}': ins= must map parameter names to keys, got {ins!r}",
                              hint="e.g. ins={'orders': 'sales/orders'}")
    params, optional = [], []
    wants_context = False
    all_params = _parameters(func, code)
    names = [n for n, _, variadic in all_params if not variadic] if ins or config is not None else []
    for param_name in ins or ():
        if param_name not in names:
            raise DefinitionError(
                f"asset '{key}': ins= maps parameter '{param_name}', which {_describe_fn(func)} does not have",
                hint=did_you_mean(str(param_name), names)
                or f"ins= keys are parameter names of the function ({', '.join(names) or 'it has none'}); "
                   f"add the parameter or remove it from ins=",
            )
    if config is not None and CONFIG_PARAM not in names:
        raise DefinitionError(
            f"asset '{key}': config= is given but {_describe_fn(func)} has no parameter named '{CONFIG_PARAM}'",
            hint=f"add it: def {func.__name__}({', '.join([*names, CONFIG_PARAM])}): ..., or remove config=",
        )
    for param_name, has_default, variadic in all_params:
        if variadic:
            raise DefinitionError(f"asset '{key}' has *args/**kwargs; name each upstream asset as a parameter")
        if param_name == CONTEXT_PARAM:
            wants_context = True
            continue
        if config is not None and param_name == CONFIG_PARAM:
            continue
        params.append(param_name)
        if has_default:
            optional.append(param_name)
    if config is not None and not _is_dataclass(config):
        raise DefinitionError(f"asset '{key}': config= must be a dataclass, got {config!r}")
    if code_version is not None and not isinstance(code_version, str):
        code_version = str(code_version)
    doc = _cleandoc(func.__doc__) if isinstance(getattr(func, "__doc__", None), str) else None
    # not AssetDef(...): its frozen __init__ was a third of the decorator's time, and a project's
    # every @asset runs on each command's start-up; every field without a plain default is named here
    return filled(
        AssetDef,
        key=key,
        fn=func,
        params=tuple(params),
        ins={p: _key_of(k, key, f"ins= for parameter '{p}'") for p, k in ins.items()} if ins else {},
        deps=tuple([_key_of(d, key, "deps=") for d in deps]) if deps else (),
        code_version=code_version,
        group=group or "default",
        io_manager=io_manager,
        metadata=dict(metadata) if metadata else {},
        description=doc.splitlines()[0] if doc else None,
        wants_context=wants_context,
        optional_params=tuple(optional),
        retries=int(retries),
        retry_delay=float(retry_delay),
        config=config,
        packages=packages,
        partitions=None if partitions is None else _check_partitions(key, partitions),
        partition_mapping={_key_of(k, key, "partition_mapping="): v for k, v in partition_mapping.items()}
        if partition_mapping else {},
        tags={} if tags is None else _check_tags(key, tags),
        path=None if path is None else _check_path(key, path, partitions),
        metric=metric if type(metric) is bool else bool(metric),
        goal=None,  # (every field named: no merge with the defaults)
    )


def _check_path(key: str, path: Any, partitions: Any = None) -> Optional[str]:
    """A given workspace path: relative to the project, inside it; for an unpartitioned asset."""
    if partitions is not None:
        raise DefinitionError(f"asset '{key}': path= keeps one value at one path, and the asset is partitioned",
                              hint="drop path=, or write each partition's file from an unpartitioned asset")
    if not isinstance(path, str) or not path.strip("/") or path.startswith("/") or ".." in path.split("/"):
        raise DefinitionError(f"asset '{key}': path= must be a relative path inside the project, got {path!r}",
                              hint='e.g. path="reports/metrics.json"')
    return path


_CO_VARARGS, _CO_VARKEYWORDS = 0x04, 0x08
_CO_COROUTINE, _CO_ASYNC_GENERATOR = 0x80, 0x200  # inspect.CO_COROUTINE, inspect.CO_ASYNC_GENERATOR


def _is_dataclass(value: Any) -> bool:
    import dataclasses  # a config is the user's dataclass: its module imported dataclasses
    return dataclasses.is_dataclass(value)


def _cleandoc(doc: str) -> str:
    """``inspect.cleandoc(doc)``; a one-line docstring without importing ``inspect`` (and its ``ast``, ``dis``)."""
    if "\n" not in doc and "\t" not in doc:
        text = doc.lstrip(" ")
        if not text[:1].isspace():  # then every Python's cleandoc strips just these spaces
            return text
    import inspect
    return inspect.cleandoc(doc)


def _unwrapped(fn: Any) -> Any:
    """``inspect.unwrap(fn)`` (``inspect`` imported only for a function decorated with ``functools.wraps``)."""
    if not hasattr(fn, "__wrapped__"):
        return fn
    import inspect
    return inspect.unwrap(fn)


def _plain_code(func: Any) -> Optional[types.CodeType]:
    """The code of a plain function (not one decorated with ``functools.wraps``), else None.

    Read once for ``@asset``: each read of a function's ``__code__``, ``__defaults__`` or
    ``__kwdefaults__`` raises an audit event, which datamake's audit hook (:mod:`~datamake.define.openwatch`)
    receives, and that costs more than the rest of the read."""
    return func.__code__ if type(func) is types.FunctionType and not hasattr(func, "__wrapped__") else None


def _is_async(func: Callable[..., Any], code: Optional[types.CodeType] = None) -> bool:
    """An ``async def`` (or async generator), seen through ``functools.wraps`` decorators (``code``:
    its :func:`_plain_code`, when read already).

    Read from the code flags: ``inspect.iscoroutinefunction`` costs more than all the rest of
    ``@asset`` for thousands of assets.
    """
    if code is None:
        code = getattr(_unwrapped(func), "__code__", None)
    return code is not None and bool(code.co_flags & (_CO_COROUTINE | _CO_ASYNC_GENERATOR))


def _parameters(func: Callable[..., Any], code: Optional[types.CodeType] = None) -> List[Tuple[str, bool, bool]]:
    """(name, has a default, is *args/**kwargs) of each parameter (``code``: its :func:`_plain_code`,
    when read already).

    Read from the code object for plain functions (``inspect.signature`` costs
    tens of microseconds, which adds up over thousands of assets).
    """
    if code is None:
        code = _plain_code(func)
    if code is None:
        import inspect
        return [(p.name, p.default is not p.empty, p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
                for p in inspect.signature(func).parameters.values()]
    positional, keyword_only = code.co_argcount, code.co_kwonlyargcount
    names = code.co_varnames[:positional + keyword_only]
    # defaults read only where they can apply (each read is audited, see _plain_code)
    defaults = len(func.__defaults__ or ()) if positional else 0
    kwdefaults = (func.__kwdefaults__ or {}) if keyword_only else {}
    if not defaults and not kwdefaults and not code.co_flags & (_CO_VARARGS | _CO_VARKEYWORDS):
        return [(n, False, False) for n in names]  # most assets: plain parameters
    out = [(n, i >= positional - defaults if i < positional else n in kwdefaults, False) for i, n in enumerate(names)]
    extra = positional + keyword_only
    for flag in (_CO_VARARGS, _CO_VARKEYWORDS):
        if code.co_flags & flag:
            out.append((code.co_varnames[extra], False, True))
            extra += 1
    return out


def _check_tags(key: str, tags: Any) -> Dict[str, str]:
    """A given ``tags=``: a mapping of names to string values, as selections match them (``tag:tier=gold``)."""
    if not isinstance(tags, abc.Mapping) or not all(isinstance(n, str) and n and isinstance(v, (str, int, float, bool))
                                                    for n, v in tags.items()):
        raise DefinitionError(f"asset '{key}': tags= must map names to string values, got {tags!r}",
                              hint='e.g. tags={"tier": "gold", "slow": "true"}')
    bad = [n for n in tags if any(c in n for c in ' "=()+:')]
    if bad:
        raise DefinitionError(f"asset '{key}': the tag name {bad[0]!r} holds a character selections cannot name",
                              hint="use letters, digits, '_', '.', '-' and '/' in tag names")
    return {n: str(v).lower() if isinstance(v, bool) else str(v) for n, v in tags.items()}


def _check_partitions(key: str, partitions: Any) -> Any:
    """A given ``partitions=``: a partitions definition."""
    from datamake.core.partitions import PartitionsDefinition  # lazy: import datamake stays fast

    if not isinstance(partitions, PartitionsDefinition):
        raise DefinitionError(f"asset '{key}': partitions= must be a partitions definition such as "
                              f"DailyPartitions(start=...) or StaticPartitions([...]), got {partitions!r}")
    return partitions


class Definitions:
    """The assets, sources and resources of a project, with every dependency resolved to a key.

    Expose one as ``defs = Definitions(assets=[...])`` in the definitions
    module (sources, resources and checks may go in the same list, or in
    ``sources=``, ``resources=`` and ``checks=``); without it, every one defined
    at module level is taken. ``warnings`` lists what the module defines but
    these definitions leave out (``@asset_check`` definitions when ``checks=`` is not given).
    ``jobs=[job(...)]`` registers jobs (:func:`datamake.job`), run by ``datamake run NAME``.
    """

    def __init__(self, assets: Iterable[Any] = (), resources: Iterable[ResourceDef] = (),
                 checks: Optional[Iterable[Any]] = None, jobs: Iterable[Job] = (), sources: Iterable[SourceDef] = (),
                 schedules: Iterable[ScheduleDef] = (), sensors: Iterable[SensorDef] = ()):
        self.checks_given = checks is not None  # an explicit checks= (even empty) says which checks are meant
        self.schedules: Dict[str, ScheduleDef] = {}
        self.sensors: Dict[str, SensorDef] = {}
        for item in [*schedules, *sensors]:
            self._add_automation(item)
        self._checks: List[Any] = list(checks or ())  # @asset_check definitions, also accepted in assets=
        self.assets: Dict[str, AssetDef] = {}
        self.sources: Dict[str, SourceDef] = {}
        self.resources: Dict[str, ResourceDef] = {}
        self.jobs: Dict[str, Job] = {}
        self.warnings: List[str] = []
        for item in sources:
            if not isinstance(item, SourceDef):
                raise DefinitionError(f"Definitions(sources=...) got {item!r}, which is not a source()",
                                      hint="put assets in assets= and resources in resources=")
        for item in [*assets, *sources, *resources, *jobs]:
            if type(item) is AssetDef:  # most items: an @asset, none of the kinds _add looks for
                self._add_node(item)
            else:
                self._add(item)
        self.inputs: Dict[str, Dict[str, str]] = {}
        self.resource_params: Dict[str, Dict[str, str]] = {}
        self.deps: Dict[str, Tuple[str, ...]] = {k: () for k in self.sources}
        self._by_base: Dict[str, List[str]] = {}
        nodes = self.nodes
        for k in nodes:
            self._by_base.setdefault(k.rsplit("/", 1)[-1] if "/" in k else k, []).append(k)
        for a in self.assets.values():
            inputs, used_resources = self._resolve_params(a, nodes)
            self.inputs[a.key] = inputs
            self.resource_params[a.key] = used_resources
            ordering = [self._check_dep(a, d) for d in a.deps] if a.deps else ()
            self.deps[a.key] = tuple(dict.fromkeys([*inputs.values(), *ordering] if ordering else inputs.values()))
        self.checks = group_checks(self._checks, self.assets)  # asset key -> its checks

    @property
    def nodes(self) -> Dict[str, Any]:
        """Assets and sources by key: everything that can be a dependency (built once)."""
        cached = self.__dict__.get("_nodes")
        if cached is None or len(cached) != len(self.sources) + len(self.assets):
            cached = self.__dict__["_nodes"] = {**self.sources, **self.assets}
        return cached

    def _add(self, item: Any) -> None:
        bundle = _bundle(item)
        if bundle is not None:  # a multi-asset or command asset: the definitions it stands for
            for part in bundle:
                self._add(part)
            return
        if isinstance(item, AssetCheckDef):
            self._checks.append(item)
            return
        if isinstance(item, ResourceDef):
            self.resources[item.name] = item
            return
        if isinstance(item, _job_types()):
            self._add_job(item)
            return
        if isinstance(item, _automation_types()):
            self._add_automation(item)
            return
        if not isinstance(item, (AssetDef, SourceDef)):
            raise DefinitionError(f"Definitions(assets=...) got {item!r}, which is not an @asset, source() or resource()")
        self._add_node(item)

    def _add_node(self, item: Any) -> None:
        """An asset or a source, under a key no other definition has."""
        other = self.assets.get(item.key) or self.sources.get(item.key)
        if other is not None and other is not item:
            raise DuplicateKeyError(
                f"two definitions have the key '{item.key}': {_where(other)} and {_where(item)}",
                hint="rename one of them, or give it name= or key_prefix=",
            )
        (self.assets if isinstance(item, AssetDef) else self.sources)[item.key] = item

    def _add_job(self, item: Job) -> None:
        other = self.jobs.get(item.name)
        if other is not None and other is not item:
            raise DuplicateKeyError(f"two jobs are named '{item.name}': {other!r} and {item!r}",
                                    hint="rename one of them")
        self.jobs[item.name] = item

    def _add_automation(self, item: Any) -> None:
        """A schedule or sensor (in ``schedules=``/``sensors=``, or ``assets=``); names are unique across both."""
        from datamake.automation.rules.definitions import ScheduleDef, SensorDef  # lazy: only a project that has one

        if not isinstance(item, (ScheduleDef, SensorDef)):
            raise DefinitionError(f"Definitions(schedules=/sensors=) got {item!r}, which is not a schedule() or @sensor")
        if item.name in self.schedules or item.name in self.sensors:
            raise DuplicateKeyError(f"two schedules or sensors are named '{item.name}'", hint="give one of them name=")
        (self.schedules if isinstance(item, ScheduleDef) else self.sensors)[item.name] = item

    def _resolve_params(self, a: AssetDef, nodes: Dict[str, Any]) -> Tuple[Dict[str, str], Dict[str, str]]:
        """The upstream key each parameter of ``a`` names, and the resources it names (``nodes``: :attr:`nodes`)."""
        inputs: Dict[str, str] = {}
        used_resources: Dict[str, str] = {}
        prefix = a.key.rsplit("/", 1)[0] + "/" if "/" in a.key else ""
        for param in a.params:
            if param in a.ins:
                inputs[param] = self._check_dep(a, a.ins[param], param)
                continue
            found = param if param in nodes else prefix + param if prefix and prefix + param in nodes else None
            matches = self._by_base.get(param, ())
            if found is None and len(matches) == 1:
                found = matches[0]
            if found is None and param in self.resources:
                used_resources[param] = param
                continue
            if found is None:
                found = self._source_variable(a, param)
            if found is None and len(matches) > 1:
                raise MissingDependencyError(
                    f"asset '{a.key}': parameter '{param}' matches several assets: {', '.join(sorted(matches))}",
                    hint=f"say which with @asset(ins={{'{param}': 'prefix/{param}'}})",
                )
            if found is None:
                if param in a.optional_params:
                    continue  # a plain keyword argument with a default, not an upstream asset
                raise MissingDependencyError(
                    f"asset '{a.key}' has parameter '{param}', which names no asset",
                    hint=_left_out_hint(a, param) or did_you_mean(param, [*nodes, *self.resources])
                    or "define an asset, source or resource with that name, or rename the parameter",
                )
            if found == a.key:
                raise DefinitionError(f"asset '{a.key}' names itself as a parameter")
            inputs[param] = found
        return inputs, used_resources

    def _source_variable(self, a: AssetDef, param: str) -> Optional[str]:
        """The key of the source held by the module-level variable ``param`` of the asset's module.

        ``orders_csv = source("data/orders.csv")`` is keyed ``orders`` (the file's stem); a
        parameter named ``orders_csv`` after the variable receives it too.
        """
        value = _module_global(a, param)
        if isinstance(value, SourceDef) and self.sources.get(value.key) is value:
            return value.key
        return None

    def _check_dep(self, a: AssetDef, dep: str, param: Optional[str] = None) -> str:
        if dep not in self.assets and dep not in self.sources:
            where = f"parameter '{param}' maps to" if param else "deps= names"
            raise MissingDependencyError(
                f"asset '{a.key}': {where} '{dep}', which is not an asset",
                hint=did_you_mean(dep, self.nodes) or "define that asset, or remove it from the declaration",
            )
        return dep

    def __len__(self) -> int:
        return len(self.assets)

    def __repr__(self) -> str:
        return f"<Definitions: {len(self.assets)} assets, {len(self.sources)} sources>"


def _module_global(a: AssetDef, name: str) -> Any:
    """The value of the global ``name`` of the module that defines ``a``'s function, or None."""
    fn = a.fn
    try:
        fn = _unwrapped(fn)
    except ValueError:
        pass
    return getattr(fn, "__globals__", {}).get(name)


def _left_out_hint(a: AssetDef, param: str) -> Optional[str]:
    """The fix when ``param`` names a source or asset of the module that ``Definitions(...)`` leaves out."""
    value = _module_global(a, param)
    if isinstance(value, SourceDef):
        return f"'{param}' is a source that Definitions(...) leaves out: add it, Definitions(sources=[{param}, ...])"
    if isinstance(value, AssetDef):
        return f"'{param}' is an asset that Definitions(...) leaves out: add it, Definitions(assets=[{param}, ...])"
    return None


def _where(item: Any) -> str:
    if isinstance(item, SourceDef):
        return f"source({item.url!r})"
    fn = item.fn
    code = getattr(fn, "__code__", None)
    return f"{fn.__qualname__} ({code.co_filename}:{code.co_firstlineno})" if code else repr(fn)


def _bundle(item: Any) -> Optional[Tuple[Any, ...]]:
    """The definitions a bundle (``@multi_asset``, ``command_asset``) stands for, or None."""
    if isinstance(item, (AssetDef, SourceDef)):
        return None
    # looked up on the class: an object of the project whose __getattr__ connects or raises is not touched
    cls = type(item)
    if type(cls) is type and not any("asset_defs" in vars(k) for k in cls.__mro__):
        return None  # what inspect.getattr_static finds on a plain class that no class of it defines
    import inspect
    prop = inspect.getattr_static(cls, "asset_defs", None)
    parts = prop.fget(item) if isinstance(prop, property) else None
    return parts if isinstance(parts, tuple) else None


def definitions_from_module(module: ModuleType) -> Definitions:
    """The module's ``defs``, or every asset, source and resource defined at its top level."""
    defs = getattr(module, "defs", None)
    if isinstance(defs, Definitions):
        if not defs.checks_given:
            _warn_left_out_checks(module, defs)
        return defs
    found: List[AssetDef] = []
    seen = set()
    kinds = (AssetDef, SourceDef, ResourceDef, AssetCheckDef, *_job_types(), *_automation_types())
    for value in vars(module).values():
        group = value if isinstance(value, (list, tuple)) else (value,)
        for item in group:
            if (isinstance(item, kinds) or _bundle(item)) \
                    and item not in seen:
                seen.add(item)  # compared by identity (eq=False)
                found.append(item)
    defs = Definitions(found)
    if not found:
        where = f" ({module.__file__})" if getattr(module, "__file__", None) else ""
        defs.warnings.append(f"{module.__name__}{where} defines no asset: "
                             "decorate each function that makes one with @asset")
    return defs


def _automation_types() -> Tuple[type, ...]:
    """The schedule and sensor classes, or none when their module was never imported (then nothing is one of
    them): ``import datamake`` and a project without automation do not load it."""
    return _classes_if_loaded(_AUTOMATION, "ScheduleDef", "SensorDef")


def _job_types() -> Tuple[type, ...]:
    """The job class, or none when its module was never imported (as :func:`_automation_types`)."""
    return _classes_if_loaded(_JOBS, "Job")


def _classes_if_loaded(module_name: str, *names: str) -> Tuple[type, ...]:
    module = sys.modules.get(module_name)
    return tuple(getattr(module, name) for name in names) if module is not None else ()


def _warn_left_out_checks(module: ModuleType, defs: Definitions) -> None:
    """Name the module's ``@asset_check`` definitions that ``defs`` leaves out (they would silently never run)."""
    included = [c for checks in defs.checks.values() for c in checks]
    left_out = {id(v): v for v in vars(module).values()
                if isinstance(v, AssetCheckDef) and not any(v is c for c in included)}
    if left_out:
        names = ", ".join(f"{c.asset_key}:{c.name}" for c in left_out.values())
        warning = (
            f"{module.__name__} defines asset checks that its Definitions(...) leaves out, so they never run: {names}; "
            "pass them with Definitions(checks=[...]) (or checks=[] to leave them out on purpose)")
        if warning not in defs.warnings:
            defs.warnings.append(warning)

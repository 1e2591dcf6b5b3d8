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

import inspect
import re
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from .errors import DefinitionError, DuplicateKeyError, MissingDependencyError, did_you_mean

CONTEXT_PARAM = "context"
_KEY_SEGMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def validate_key(key: str) -> str:
    """Check that ``key`` is a valid asset key (segments joined by '/')."""
    if not isinstance(key, str) or not key or not all(_KEY_SEGMENT.match(s) for s in key.split("/")):
        raise DefinitionError(
            f"invalid asset key {key!r}",
            hint="keys are names like 'orders' or 'sales/orders': letters, digits, '_', '.', '-'",
        )
    return key


@dataclass(frozen=True, eq=False)
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

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<asset {self.key}>"


def asset(
    fn: Optional[Callable[..., Any]] = None,
    *,
    name: Optional[str] = None,
    key_prefix: Optional[str] = None,
    deps: Sequence[Union[str, AssetDef]] = (),
    ins: Optional[Mapping[str, Union[str, AssetDef]]] = None,
    code_version: Optional[str] = None,
    group: Optional[str] = None,
    io_manager: Optional[str] = None,
    metadata: Optional[Mapping[str, Any]] = None,
    retries: int = 0,
    retry_delay: float = 1.0,
) -> Any:
    """Declare a function as an asset. Usable bare (``@asset``) or with options.

    - parameters named after other assets receive their loaded values; a
      parameter named ``context`` receives an :class:`AssetContext`;
    - ``ins={"param": "sales/orders"}`` maps a parameter to a key explicitly;
    - ``deps=[...]`` adds upstream assets for ordering and versioning only;
    - ``code_version="2"`` pins the code version (otherwise derived from the
      function's normalized source, so comments and formatting do not count);
    - ``io_manager`` is one of ``arrow``, ``pandas``, ``bytes``, ``text``,
      ``json``, ``pickle`` (default: chosen by the value's type);
    - ``retries=N`` re-runs a raising function up to N times with back-off.

    Example::

        @asset(deps=["raw_files"], group="reports", io_manager="text")
        def summary(clean_orders):
            return f"{clean_orders.num_rows} orders"
    """

    def wrap(func: Callable[..., Any]) -> AssetDef:
        return _make_asset_def(
            func, name, key_prefix, deps, ins, code_version, group, io_manager, metadata, retries, retry_delay
        )

    return wrap(fn) if fn is not None else wrap


def _key_of(ref: Union[str, AssetDef]) -> str:
    return ref.key if isinstance(ref, AssetDef) else validate_key(ref)


def _make_asset_def(func, name, key_prefix, deps, ins, code_version, group, io_manager, metadata, retries, retry_delay):
    if not callable(func):
        raise DefinitionError(f"@asset must decorate a function, got {func!r}")
    base = name or func.__name__
    key = validate_key(f"{key_prefix.strip('/')}/{base}" if key_prefix else base)
    signature = inspect.signature(func)
    params, optional = [], []
    wants_context = False
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise DefinitionError(f"asset '{key}' has *args/**kwargs; name each upstream asset as a parameter")
        if param.name == CONTEXT_PARAM:
            wants_context = True
            continue
        params.append(param.name)
        if param.default is not param.empty:
            optional.append(param.name)
    if code_version is not None and not isinstance(code_version, str):
        code_version = str(code_version)
    doc = inspect.getdoc(func)
    return AssetDef(
        key=key,
        fn=func,
        params=tuple(params),
        ins={p: _key_of(k) for p, k in (ins or {}).items()},
        deps=tuple(_key_of(d) for d in deps),
        code_version=code_version,
        group=group or "default",
        io_manager=io_manager,
        metadata=dict(metadata or {}),
        description=doc.splitlines()[0] if doc else None,
        wants_context=wants_context,
        optional_params=tuple(optional),
        retries=int(retries),
        retry_delay=float(retry_delay),
    )


class Definitions:
    """The set of assets of a project, with every dependency resolved to a key.

    Expose one as ``defs = Definitions(assets=[...])`` in the definitions
    module; without it, every asset defined at module level is taken.
    """

    def __init__(self, assets: Iterable[AssetDef] = ()):
        self.assets: Dict[str, AssetDef] = {}
        for a in assets:
            if not isinstance(a, AssetDef):
                raise DefinitionError(f"Definitions(assets=...) got {a!r}, which is not an @asset")
            other = self.assets.get(a.key)
            if other is not None and other is not a:
                raise DuplicateKeyError(
                    f"two assets have the key '{a.key}': {_where(other.fn)} and {_where(a.fn)}",
                    hint="rename one of them, or give it name= or key_prefix=",
                )
            self.assets[a.key] = a
        self.inputs: Dict[str, Dict[str, str]] = {}
        self.deps: Dict[str, Tuple[str, ...]] = {}
        by_base: Dict[str, List[str]] = {}
        for k in self.assets:
            by_base.setdefault(k.rsplit("/", 1)[-1], []).append(k)
        for a in self.assets.values():
            inputs = self._resolve_params(a, by_base)
            self.inputs[a.key] = inputs
            ordering = [self._check_dep(a, d) for d in a.deps]
            self.deps[a.key] = tuple(dict.fromkeys([*inputs.values(), *ordering]))

    def _resolve_params(self, a: AssetDef, by_base: Mapping[str, List[str]]) -> Dict[str, str]:
        inputs: Dict[str, str] = {}
        prefix = a.key.rsplit("/", 1)[0] + "/" if "/" in a.key else ""
        for param in a.params:
            if param in a.ins:
                inputs[param] = self._check_dep(a, a.ins[param], param)
                continue
            candidates = [param, prefix + param] if prefix else [param]
            found = next((c for c in candidates if c in self.assets), None)
            if found is None and len(by_base.get(param, ())) == 1:
                found = by_base[param][0]
            if found is None and len(by_base.get(param, ())) > 1:
                raise MissingDependencyError(
                    f"asset '{a.key}': parameter '{param}' matches several assets: {', '.join(sorted(by_base[param]))}",
                    hint=f"say which with @asset(ins={{'{param}': 'prefix/{param}'}})",
                )
            if found is None:
                if param in a.optional_params:
                    continue  # a plain keyword argument with a default, not an upstream asset
                raise MissingDependencyError(
                    f"asset '{a.key}' has parameter '{param}', which names no asset",
                    hint=did_you_mean(param, self.assets) or "define an asset with that name, or rename the parameter",
                )
            if found == a.key:
                raise DefinitionError(f"asset '{a.key}' names itself as a parameter")
            inputs[param] = found
        return inputs

    def _check_dep(self, a: AssetDef, dep: str, param: Optional[str] = None) -> str:
        if dep not in self.assets:
            where = f"parameter '{param}' maps to" if param else "deps= names"
            raise MissingDependencyError(
                f"asset '{a.key}': {where} '{dep}', which is not an asset",
                hint=did_you_mean(dep, self.assets) or "define that asset, or remove it from the declaration",
            )
        return dep

    def __len__(self) -> int:
        return len(self.assets)

    def __repr__(self) -> str:
        return f"<Definitions: {len(self.assets)} assets>"


def _where(fn: Callable[..., Any]) -> str:
    code = getattr(fn, "__code__", None)
    return f"{fn.__qualname__} ({code.co_filename}:{code.co_firstlineno})" if code else repr(fn)


def definitions_from_module(module: ModuleType) -> Definitions:
    """The module's ``defs``, or every asset defined at its top level."""
    defs = getattr(module, "defs", None)
    if isinstance(defs, Definitions):
        return defs
    found: List[AssetDef] = []
    seen = set()
    for value in vars(module).values():
        group = value if isinstance(value, (list, tuple)) else (value,)
        for item in group:
            if isinstance(item, AssetDef) and id(item) not in seen:
                seen.add(id(item))
                found.append(item)
    return Definitions(found)

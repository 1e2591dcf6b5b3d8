"""``job(...)``: describe a job. Nothing here runs it (``datamake run``, :func:`datamake.api.run_job`)."""
from __future__ import annotations

import re
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

from datamake.core.errors import DatamakeError, DefinitionError, did_you_mean
from datamake.core.executor_names import EXECUTORS
from datamake.core.records import field, record

_NAME = r"[A-Za-z_][A-Za-z0-9_.\-]*"  # compiled at the first job (re caches it)


@record(frozen=True, eq=False)
class Job:
    """A job: a selection of assets or a graph of ops, with what a run of it uses.

    Built by :func:`job`; registered with ``Definitions(jobs=[...])``.
    """

    name: str
    selection: Optional[Tuple[str, ...]] = None
    graph: Any = None
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    tags: Mapping[str, Any] = field(default_factory=dict)
    partitions: Optional[str] = None
    executor: Optional[str] = None
    jobs: Optional[int] = None
    description: Optional[str] = None

    @property
    def selection_text(self) -> str:
        """The selection as one string (its parts side by side: a union)."""
        return " ".join(self.selection or ())

    def __repr__(self) -> str:
        what = f"selection={self.selection_text!r}" if self.graph is None else f"graph={self.graph!r}"
        return f"<job {self.name}: {what}>"


def job(name: str, selection: Union[str, Any, Sequence[Union[str, Any]], None] = None, graph: Any = None,
        config: Optional[Mapping[str, Mapping[str, Any]]] = None, tags: Optional[Mapping[str, Any]] = None,
        partitions: Optional[str] = None, executor: Optional[str] = None, jobs: Optional[int] = None,
        description: Optional[str] = None) -> Job:
    """Declare a job: exactly one of ``selection`` (assets) or ``graph`` (a graph of ops).

    - ``selection``: a selection string (``"group:sales and not tag:slow=true"``), or a
      list of them and of ``@asset`` functions (a union);
    - ``config={"clean": {"min_qty": 3}}``: config values for assets of the job, under
      ``--config`` and over ``[config.ASSET]`` in datamake.toml (for a graph: its ops' config);
    - ``tags``: recorded with each run of the job, beside ``{"job": name}``;
    - ``partitions``: which partitions a run makes, as ``-p`` takes them (``2024-01-01...2024-01-31``);
    - ``executor`` and ``jobs``: where and how many in parallel (default: ``[execution]``).

    Example::

        nightly = job("nightly", selection=["+report", "tag:tier=gold"], jobs=4)
    """
    if not isinstance(name, str) or not re.fullmatch(_NAME, name):
        raise DefinitionError(f"job name {name!r} is not a valid name",
                              hint="use letters, digits, '_', '.' and '-', starting with a letter")
    if (selection is None) == (graph is None):
        both = "both selection= and graph=" if graph is not None else "neither selection= nor graph="
        raise DefinitionError(f"job '{name}' has {both}",
                              hint="a job runs either a selection of assets (selection=...) or a graph of ops (graph=...)")
    parts = None if selection is None else _selection_parts(name, selection)
    if parts is not None:
        from datamake.selection import parse  # lazy: import datamake does not load the selection language

        try:
            parse(parts)
        except DatamakeError as exc:
            raise DefinitionError(f"job '{name}': bad selection: {exc.message}", hint=exc.hint) from None
    if executor is not None and executor not in EXECUTORS:
        raise DefinitionError(f"job '{name}': unknown executor {executor!r}",
                              hint=did_you_mean(str(executor), EXECUTORS) or f"executors are: {', '.join(EXECUTORS)}")
    return Job(name=name, selection=parts, graph=graph, config=_config(name, config), tags=_tags(name, tags),
               partitions=partitions, executor=executor, jobs=_jobs(name, jobs), description=description)


def _selection_parts(name: str, selection: Any) -> Tuple[str, ...]:
    items = [selection] if isinstance(selection, str) or hasattr(selection, "key") else list(selection)
    parts = []
    for item in items:
        key = getattr(item, "key", None)  # an @asset or a source(): its key
        if isinstance(item, str) and item.strip():
            parts.append(item.strip())
        elif isinstance(key, str):
            parts.append(f"key:{key}")  # key: names even an asset called 'and'
        else:
            raise DefinitionError(f"job '{name}': selection= holds {item!r}, which is neither a selection nor an asset",
                                  hint='e.g. selection="group:sales" or selection=[clean_orders, "report+"]')
    if not parts:
        raise DefinitionError(f"job '{name}': selection= is empty",
                              hint='name what the job makes, e.g. selection="*" for every asset')
    return tuple(parts)


def _config(name: str, config: Any) -> Dict[str, Dict[str, Any]]:
    if config is None:
        return {}
    if not isinstance(config, Mapping) or not all(isinstance(v, Mapping) for v in config.values()):
        raise DefinitionError(f"job '{name}': config= must map each asset to its values, got {config!r}",
                              hint='e.g. config={"clean": {"min_qty": 3}}')
    return {str(k): dict(v) for k, v in config.items()}


def _tags(name: str, tags: Any) -> Dict[str, Any]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping) or not all(isinstance(k, str) for k in tags):
        raise DefinitionError(f"job '{name}': tags= must map names to values, got {tags!r}",
                              hint='e.g. tags={"team": "sales"}')
    return dict(tags)


def _jobs(name: str, jobs: Any) -> Optional[int]:
    if jobs is not None and (not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1):
        raise DefinitionError(f"job '{name}': jobs= must be a positive number of parallel workers, got {jobs!r}")
    return jobs

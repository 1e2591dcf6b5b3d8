"""Schedules and sensors, as the user declares them: ``schedule(...)``, ``@sensor``, and run requests.

Example::

    import datamake

    nightly = datamake.schedule("group:daily", cron="0 1 * * *", timezone="Europe/Paris")

    @datamake.sensor("load_files", minimum_interval=30)
    def new_files(context):
        names = sorted(os.listdir("incoming"))
        if names == (context.cursor or []):
            return datamake.SkipReason("no new file")
        context.update_cursor(names)
        return datamake.RunRequest(run_key=names[-1])

    defs = datamake.Definitions(assets=[...], schedules=[nightly], sensors=[new_files])

Nothing here runs anything: the daemon (``datamake daemon``) evaluates them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Tuple

from datamake.automation.rules.targets import Target, as_target
from datamake.core.errors import DefinitionError

CATCH_UP = ("latest", "all")


@dataclass(frozen=True, eq=False)
class ScheduleDef:
    """A cron schedule of a target. ``catch_up``: ticks missed while no daemon ran are run
    ``"latest"`` (the most recent once, the default) or ``"all"`` (each of them)."""

    name: str
    target: Target
    cron: Any  # a datamake.automation.rules.cron.Cron
    catch_up: str = "latest"
    tags: Mapping[str, str] = field(default_factory=dict)
    partitioned: Optional[bool] = None  # None: decided from the target's assets (time-partitioned: yes)


@dataclass(frozen=True, eq=False)
class SensorDef:
    """A sensor: ``fn(context)`` returns run requests or a skip reason; evaluated at most every
    ``minimum_interval`` seconds. ``kind`` is ``function``, ``source``, ``asset`` or ``run_status``."""

    name: str
    target: Optional[Target]
    fn: Optional[Callable[..., Any]] = None
    minimum_interval: float = 30.0
    kind: str = "function"
    watched: Optional[str] = None  # the source or asset key watched, or the run status
    job: Optional[str] = None  # run_status: only the runs of this job
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRequest:
    """One run a sensor asks for. A ``run_key`` makes it idempotent: a key is launched once, ever.
    ``selection`` (or ``target``) overrides the sensor's target; ``partition_keys`` narrows it."""

    run_key: Optional[str] = None
    selection: Tuple[str, ...] = ()
    partition_keys: Tuple[str, ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("selection", "partition_keys"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, (value,))
            else:
                object.__setattr__(self, name, tuple(value))


@dataclass(frozen=True)
class SkipReason:
    """A sensor's answer when there is nothing to run, shown in ``datamake ticks``."""

    message: str = ""


def schedule(target: Any, cron: str, timezone: str = "UTC", name: Optional[str] = None,
             catch_up: str = "latest", tags: Optional[Mapping[str, str]] = None,
             partitioned: Optional[bool] = None) -> ScheduleDef:
    """Run ``target`` (a selection, an asset, or a job) at each tick of ``cron`` in ``timezone``.

    On time-partitioned assets a tick runs the partition whose window just closed: the 01:00
    tick of 2 March makes ``2024-03-01``. Example::

        daily = schedule("group:daily", cron="0 1 * * *", timezone="Europe/Paris")
    """
    from datamake.automation.rules.cron import Cron  # lazy: import datamake stays fast (no cronsim, zoneinfo)

    who = f"schedule {name or cron!r}"
    tgt = as_target(target, who)
    if catch_up not in CATCH_UP:
        raise DefinitionError(f"{who}: catch_up={catch_up!r} is not a policy", hint="catch_up='latest' or 'all'")
    name = name or _default_name(tgt)
    return ScheduleDef(name=_check_name(name), target=tgt, cron=Cron(cron, timezone), catch_up=catch_up,
                       tags=dict(tags or {}), partitioned=partitioned)


def sensor(target: Any = None, *, minimum_interval: float = 30.0, name: Optional[str] = None,
           tags: Optional[Mapping[str, str]] = None) -> Callable[[Callable[..., Any]], SensorDef]:
    """Declare ``fn(context)`` as a sensor of ``target``. ``context.cursor`` holds what it stored
    with ``context.update_cursor(value)`` (any JSON value) at its last evaluation."""

    def wrap(fn: Callable[..., Any]) -> SensorDef:
        sensor_name = _check_name(name or fn.__name__)
        tgt = None if target is None else as_target(target, f"sensor '{sensor_name}'")
        return SensorDef(sensor_name, tgt, fn, _interval(minimum_interval, sensor_name), tags=dict(tags or {}))

    return wrap


def source_sensor(source: Any, target: Any = None, *, minimum_interval: float = 30.0,
                  name: Optional[str] = None) -> SensorDef:
    """Watch an observed ``source(...)``; when its version changes, make what depends on it
    (or ``target``). One run per version (the version is the run key)."""
    key = _key(source, "source_sensor")
    sensor_name = _check_name(name or f"{key.replace('/', '_')}_changed")
    tgt = None if target is None else as_target(target, f"sensor '{sensor_name}'")
    return SensorDef(sensor_name, tgt, None, _interval(minimum_interval, sensor_name), "source", key)


def asset_sensor(asset: Any, target: Any, *, minimum_interval: float = 30.0, name: Optional[str] = None) -> SensorDef:
    """When ``asset`` is materialized (by any process, per the event log), run ``target``."""
    key = _key(asset, "asset_sensor")
    sensor_name = _check_name(name or f"{key.replace('/', '_')}_materialized")
    return SensorDef(sensor_name, as_target(target, f"sensor '{sensor_name}'"), None,
                     _interval(minimum_interval, sensor_name), "asset", key)


def run_status_sensor(status: str = "failed", *, job: Any = None, minimum_interval: float = 30.0,
                      name: Optional[str] = None) -> Callable[[Callable[..., Any]], SensorDef]:
    """Call ``fn(context, run)`` for each run that ends with ``status`` (``failed``, ``ok``,
    ``interrupted``): e.g. to notify. ``run`` is the run's row of ``datamake log --json``;
    ``job`` (a job or its name) keeps only that job's runs."""
    if status not in ("failed", "ok", "interrupted", "error"):
        raise DefinitionError(f"run_status_sensor: unknown status {status!r}",
                              hint="one of 'failed', 'ok', 'interrupted', 'error'")

    def wrap(fn: Callable[..., Any]) -> SensorDef:
        sensor_name = _check_name(name or fn.__name__)
        job_name = job if job is None or isinstance(job, str) else getattr(job, "name", None)
        return SensorDef(sensor_name, None, fn, _interval(minimum_interval, sensor_name), "run_status", status,
                         job=job_name)

    return wrap


def _key(item: Any, who: str) -> str:
    key = item if isinstance(item, str) else getattr(item, "key", None)
    if not isinstance(key, str) or not key:
        raise DefinitionError(f"{who}: {item!r} is not an asset or source", hint="pass the object or its key")
    return key


def _interval(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise DefinitionError(f"sensor '{name}': minimum_interval must be a number of seconds, got {value!r}")
    return float(value)


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        raise DefinitionError(f"{name!r} is not a schedule or sensor name", hint="use a word such as 'nightly'")
    return name


def _default_name(target: Target) -> str:
    base = target.job or "_".join(s.replace("/", "_").replace(":", "_") for s in target.selection) or "all"
    return f"{base}_schedule"


__all__ = ["RunRequest", "ScheduleDef", "SensorDef", "SkipReason", "asset_sensor", "run_status_sensor", "schedule",
           "sensor", "source_sensor"]

"""Partition definitions and the mappings between partitioned assets. Pure: no IO, no clock.

Time partitions are windows in a timezone, starting at ``start`` and ending
at the last complete window before ``end`` (the caller passes "now" when no
end is set). Keys: ``2024-01-05`` (daily, weekly, monthly: the window's first
day), ``2024-01-05-13:00`` (hourly). Static partitions are a list of names;
``MultiPartitions`` is the product of two, keyed ``2024-01-05|eu``.

Example::

    daily = DailyPartitions(start="2024-01-01", timezone="Europe/Berlin")

    @asset(partitions=daily)
    def sales(context, raw_sales):
        start, end = context.partition_time_window
        ...

    @asset(partitions=daily, partition_mapping={"sales": TimeWindowMapping(start_offset=-6)})
    def sales_7d(sales):          # a dict {partition key: value} of the last 7 days
        ...
"""
from __future__ import annotations

import bisect
import datetime as dt
import functools
import re
from dataclasses import field
from typing import AbstractSet, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from datamake.core.compat import fromisoformat
from datamake.core.errors import DefinitionError, SelectionError
from datamake.core.records import record

MULTI_SEPARATOR = "|"
RANGE_SEPARATOR = "..."


@functools.lru_cache(maxsize=None)
def _zone(name: str):
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # lazy: it reads sysconfig; only time partitions need it

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DefinitionError(f"unknown timezone '{name}'", hint="use an IANA name such as 'UTC' or 'Europe/Berlin'") from None


def _parse_date(value: Union[str, dt.date, dt.datetime], what: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    try:
        return fromisoformat(str(value))
    except ValueError:
        raise DefinitionError(f"{what} '{value}' is not a date", hint="write it as YYYY-MM-DD") from None


class PartitionsDefinition:
    """Base class: a named, ordered set of partition keys."""

    dimensions: Tuple[str, ...] = ()

    def keys(self, now: dt.datetime) -> List[str]:
        raise NotImplementedError

    def time_window(self, key: str) -> Optional[Tuple[dt.datetime, dt.datetime]]:
        return None


@record(frozen=True)
class TimeWindowPartitions(PartitionsDefinition):
    """Consecutive time windows of one ``unit`` (hour, day, week, month) from ``start``."""

    unit: str
    start: str
    end: Optional[str] = None
    timezone: str = "UTC"
    name: str = "date"

    def __post_init__(self):
        if self.unit not in ("hour", "day", "week", "month"):
            raise DefinitionError(f"unknown partition unit '{self.unit}'")
        _zone(self.timezone)
        _parse_date(self.start, "partition start")
        if self.end is not None:
            _parse_date(self.end, "partition end")

    @property
    def dimensions(self) -> Tuple[str, ...]:  # type: ignore[override]
        return (self.name,)

    # -- windows in local time, made aware in the zone --------------------------------
    def _first(self) -> dt.datetime:
        start = _parse_date(self.start, "partition start")
        if self.unit == "hour":
            return start.replace(minute=0, second=0, microsecond=0)
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.unit == "week":  # weeks start on Monday
            return day + dt.timedelta(days=(7 - day.weekday()) % 7)
        if self.unit == "month":
            return day if day.day == 1 else _add_months(day.replace(day=1), 1)
        return day

    def _next(self, local: dt.datetime) -> dt.datetime:
        if self.unit == "day":
            return local + dt.timedelta(days=1)
        if self.unit == "week":
            return local + dt.timedelta(days=7)
        return _add_months(local, 1)

    def _aware(self, local: dt.datetime) -> dt.datetime:
        return local.replace(tzinfo=_zone(self.timezone))

    def _format(self, local: dt.datetime) -> str:
        return local.strftime("%Y-%m-%d-%H:%M" if self.unit == "hour" else "%Y-%m-%d")

    def windows(self, now: dt.datetime) -> List[Tuple[str, dt.datetime, dt.datetime]]:
        """(key, start, end) of every complete window, as aware datetimes."""
        return list(_windows(self, now))

    def _windows(self, now: dt.datetime) -> List[Tuple[str, dt.datetime, dt.datetime]]:
        zone = _zone(self.timezone)
        limit = self._aware(_parse_date(self.end, "partition end")) if self.end else now.astimezone(zone)
        out = []
        if self.unit == "hour":  # step in UTC so that DST days have 23 or 25 hours
            cursor = self._aware(self._first()).astimezone(dt.timezone.utc)
            seen = set()
            while True:
                end = cursor + dt.timedelta(hours=1)
                if end > limit:
                    break
                local = cursor.astimezone(zone)
                key = self._format(local.replace(tzinfo=None))
                if key in seen:  # the repeated hour when clocks go back
                    key += local.strftime("%z")
                seen.add(key)
                out.append((key, local, end.astimezone(zone)))
                cursor = end
            return out
        local = self._first()
        while True:
            following = self._next(local)
            start, end = self._aware(local), self._aware(following)
            if end > limit:
                break
            out.append((self._format(local), start, end))
            local = following
        return out

    def keys(self, now: dt.datetime) -> List[str]:
        return [k for k, _s, _e in self.windows(now)]

    def time_window(self, key: str) -> Optional[Tuple[dt.datetime, dt.datetime]]:
        zone = _zone(self.timezone)
        if self.unit == "hour":
            stamp = key[:16]
            local = dt.datetime.strptime(stamp, "%Y-%m-%d-%H:%M")
            start = local.replace(tzinfo=zone)
            if len(key) > 16:  # the second occurrence of a repeated hour
                start = start.replace(fold=1)
            utc = start.astimezone(dt.timezone.utc)
            return start, (utc + dt.timedelta(hours=1)).astimezone(zone)
        local = dt.datetime.strptime(key, "%Y-%m-%d")
        return self._aware(local), self._aware(self._next(local))


@functools.lru_cache(maxsize=64)
def _windows(pdef: TimeWindowPartitions, now: dt.datetime) -> Tuple[Tuple[str, dt.datetime, dt.datetime], ...]:
    """Memoized: one planning asks for the same windows once per asset and per mapping."""
    return tuple(pdef._windows(now))


def _add_months(day: dt.datetime, months: int) -> dt.datetime:
    month = day.month - 1 + months
    return day.replace(year=day.year + month // 12, month=month % 12 + 1, day=1)


def DailyPartitions(start, end=None, timezone: str = "UTC", name: str = "date") -> TimeWindowPartitions:
    """One partition per calendar day in ``timezone`` (23 or 25 hours on DST days)."""
    return TimeWindowPartitions("day", str(start), None if end is None else str(end), timezone, name)


def HourlyPartitions(start, end=None, timezone: str = "UTC", name: str = "hour") -> TimeWindowPartitions:
    """One partition per hour; keys ``YYYY-MM-DD-HH:MM`` in local time."""
    return TimeWindowPartitions("hour", str(start), None if end is None else str(end), timezone, name)


def WeeklyPartitions(start, end=None, timezone: str = "UTC", name: str = "week") -> TimeWindowPartitions:
    """One partition per week, Monday to Monday, keyed by the Monday."""
    return TimeWindowPartitions("week", str(start), None if end is None else str(end), timezone, name)


def MonthlyPartitions(start, end=None, timezone: str = "UTC", name: str = "month") -> TimeWindowPartitions:
    """One partition per calendar month, keyed by its first day."""
    return TimeWindowPartitions("month", str(start), None if end is None else str(end), timezone, name)


@record(frozen=True)
class StaticPartitions(PartitionsDefinition):
    """A fixed list of partition keys, e.g. regions."""

    values: Tuple[str, ...]
    name: str = "key"

    def __init__(self, values: Iterable[str], name: str = "key"):
        values = tuple(str(v) for v in values)
        bad = [v for v in values if not v or any(c in v for c in f"{MULTI_SEPARATOR}/[]=") or v.startswith(".")]
        if bad or len(set(values)) != len(values):
            raise DefinitionError(f"static partition keys must be unique, non-empty, without | / [ ] =: {bad or values}")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "name", name)

    @property
    def dimensions(self) -> Tuple[str, ...]:  # type: ignore[override]
        return (self.name,)

    def keys(self, now: dt.datetime) -> List[str]:
        return list(self.values)


@record(frozen=True)
class DynamicPartitions(PartitionsDefinition):
    """Partition keys added at run time, one per arriving file, customer, experiment…

    The keys are kept with the project's state (``datamake partitions add NAME
    KEY...``, or ``datamake.api.add_partitions(project, NAME, [...])``), in the
    order they were added; a loaded project binds them to the definition, so
    ``keys()`` is a plain read of what was known when the project was loaded.
    ``keys()`` are sorted, not in the order added: a collection of them (an
    unpartitioned downstream's dict) depends on which keys exist, as its
    provenance does, never on when each was added. Two definitions with the
    same ``name`` share their keys.
    """

    name: str
    known: Tuple[str, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self):
        if not isinstance(self.name, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_.-]*$", self.name):
            raise DefinitionError(f"dynamic partitions need a name of letters, digits, _ . -, got {self.name!r}",
                                  hint='e.g. DynamicPartitions("files")')

    @property
    def dimensions(self) -> Tuple[str, ...]:  # type: ignore[override]
        return (self.name,)

    def keys(self, now: dt.datetime) -> List[str]:
        return sorted(self.known)

    def bind(self, keys: Sequence[str]) -> None:
        """Set the keys known now (called by the project layer when it loads the project's state)."""
        object.__setattr__(self, "known", tuple(keys))


def check_partition_keys(keys: Iterable[str]) -> List[str]:
    """Keys valid for static and dynamic partitions (unique, non-empty, no ``| / [ ] =``); DefinitionError otherwise."""
    keys = [str(k) for k in keys]
    bad = [k for k in keys if not k or any(c in k for c in f"{MULTI_SEPARATOR}/[]=") or k.startswith(".")]
    if bad:
        raise DefinitionError(f"partition keys must be non-empty, without | / [ ] = and not start with '.': {bad}",
                              hint="replace those characters, e.g. a file name 'a/b.csv' by 'a_b.csv'")
    return keys


def dynamic_definitions(pdefs: Iterable[Optional[PartitionsDefinition]]) -> List[DynamicPartitions]:
    """The dynamic definitions among ``pdefs`` (also inside a MultiPartitions)."""
    found: List[DynamicPartitions] = []
    for pdef in pdefs:
        parts = (pdef.first, pdef.second) if isinstance(pdef, MultiPartitions) else (pdef,)
        found.extend(p for p in parts if isinstance(p, DynamicPartitions))
    return found


@record(frozen=True)
class MultiPartitions(PartitionsDefinition):
    """The product of two partition definitions, keyed ``first|second``."""

    first: PartitionsDefinition
    second: PartitionsDefinition

    def __post_init__(self):
        if isinstance(self.first, MultiPartitions) or isinstance(self.second, MultiPartitions):
            raise DefinitionError("MultiPartitions takes two single partition definitions")
        if self.first.dimensions == self.second.dimensions:
            raise DefinitionError(f"both dimensions are named '{self.first.dimensions[0]}'; pass name= to one")

    @property
    def dimensions(self) -> Tuple[str, ...]:  # type: ignore[override]
        return (*self.first.dimensions, *self.second.dimensions)

    def keys(self, now: dt.datetime) -> List[str]:
        return [f"{a}{MULTI_SEPARATOR}{b}" for a in self.first.keys(now) for b in self.second.keys(now)]

    def time_window(self, key: str):
        a, _, b = key.partition(MULTI_SEPARATOR)
        return self.first.time_window(a) or self.second.time_window(b)

    def part(self, key: str, dimension: str) -> str:
        a, _, b = key.partition(MULTI_SEPARATOR)
        return a if dimension == self.first.dimensions[0] else b


# -- mappings ------------------------------------------------------------------------------

@record(frozen=True)
class TimeWindowMapping:
    """Map a time partition to the upstream windows from ``start_offset`` to ``end_offset``
    downstream windows around it: ``TimeWindowMapping(start_offset=-6)`` is a 7-day rolling input."""

    start_offset: int = 0
    end_offset: int = 0
    concat: bool = False  # pass the windows as one table (see AllPartitionsMapping)


@record(frozen=True)
class AllPartitionsMapping:
    """Every upstream partition: what an unpartitioned downstream reads by default.

    ``concat=True`` passes them as one table (Arrow or pandas, in partition
    order) instead of a ``{partition key: value}`` dict, as a database IO
    manager would; the partitions must be stored as tables (``arrow``/``pandas``).
    """

    concat: bool = False


@record(frozen=True)
class ExistingPartitionsMapping:
    """The upstream partitions that exist: those with a value, and those the same run builds.

    For an unpartitioned downstream of an unbounded partitioned asset (hourly
    since 2020): it reads what has been materialized, instead of depending on
    every partition the definition could have. ``concat=True`` as for
    :class:`AllPartitionsMapping`.
    """

    concat: bool = False


@record(frozen=True)
class FunctionMapping:
    """Map a downstream partition key to upstream keys with a function of your own."""

    fn: Callable[[str], Iterable[str]]


@record(frozen=True)
class ResolvedMapping:
    """How one dependency edge maps partitions: ``upstream(pk)`` and whether the value is a dict."""

    upstream: Callable[[Optional[str]], List[Optional[str]]]
    collection: bool


def resolve_mapping(
    down_key: str, down: Optional[PartitionsDefinition], up_key: str, up: Optional[PartitionsDefinition],
    mapping: Optional[object], now: dt.datetime, existing: Optional[AbstractSet[str]] = None,
) -> ResolvedMapping:
    """The partition mapping of one edge; DefinitionError for combinations that need a mapping.

    ``existing``: the upstream partitions that exist (for an ExistingPartitionsMapping), read when mapping.
    """
    if up is None:
        if isinstance(mapping, (AllPartitionsMapping, ExistingPartitionsMapping)):
            raise DefinitionError(f"asset '{down_key}': partition_mapping for '{up_key}' maps partitions, "
                                  f"but '{up_key}' is not partitioned", hint=f"remove '{up_key}' from partition_mapping=")
        return ResolvedMapping(lambda pk: [None], False)
    up_keys = up.keys(now)
    if isinstance(mapping, ExistingPartitionsMapping):
        position = {k: i for i, k in enumerate(up_keys)}
        have = existing if existing is not None else frozenset()
        return ResolvedMapping(lambda pk: sorted((k for k in have if k in position), key=position.__getitem__), True)
    if isinstance(mapping, AllPartitionsMapping):
        return ResolvedMapping(lambda pk: list(up_keys), True)
    if isinstance(mapping, FunctionMapping) or callable(mapping) and not isinstance(mapping, TimeWindowMapping):
        fn = mapping.fn if isinstance(mapping, FunctionMapping) else mapping
        known = set(up_keys)
        return ResolvedMapping(lambda pk: [k for k in fn(pk) if k in known], True)
    if down is None:  # the whole collection of upstream partitions
        return ResolvedMapping(lambda pk: list(up_keys), True)
    if isinstance(mapping, TimeWindowMapping) or (mapping is None and _both_time(down, up) and down != up):
        return _time_mapping(down_key, down, up_key, up, mapping or TimeWindowMapping(), now)
    if mapping is not None:
        raise DefinitionError(f"asset '{down_key}': partition_mapping for '{up_key}' must be a TimeWindowMapping "
                              f"or a function from a partition key to upstream keys, got {mapping!r}",
                              hint=f"e.g. partition_mapping={{'{up_key}': TimeWindowMapping(start_offset=-6)}}")
    if down == up:
        return ResolvedMapping(lambda pk: [pk], False)
    if isinstance(down, StaticPartitions) and isinstance(up, StaticPartitions) and set(down.values) <= set(up.values):
        return ResolvedMapping(lambda pk: [pk], False)
    projected = _projection(down, up, now)
    if projected is not None:
        return projected
    raise DefinitionError(
        f"asset '{down_key}' and its upstream '{up_key}' are partitioned differently and datamake cannot map one to the other",
        hint=_unmapped_hint(down, up_key, up),
    )


def _unmapped_hint(down: PartitionsDefinition, up_key: str, up: PartitionsDefinition) -> str:
    """What to write for an edge no default maps: the same time definition, a TimeWindowMapping, or a function."""
    function = f"give @asset(partition_mapping={{'{up_key}': lambda key: [...]}}) returning the upstream keys of each partition"
    down_time, up_time = _time_dimension(down), _time_dimension(up)
    if down_time is None or up_time is None or down_time == up_time:
        return function
    return (f"their time partitions differ ({label(down_time)}; '{up_key}': {label(up_time)}): use one definition "
            f"for both, or read the overlapping windows with partition_mapping={{'{up_key}': TimeWindowMapping()}}; or {function}")


def _both_time(a, b) -> bool:
    return isinstance(a, TimeWindowPartitions) and isinstance(b, TimeWindowPartitions)


def _time_mapping(down_key, down, up_key, up, mapping: TimeWindowMapping, now) -> ResolvedMapping:
    """Upstream windows that overlap the downstream window widened by the offsets, compared in UTC."""
    if not _time_dimension(down) or not _time_dimension(up):
        raise DefinitionError(f"asset '{down_key}': a TimeWindowMapping needs time partitions on both sides ('{up_key}')",
                              hint=f"map '{up_key}' with a function instead: partition_mapping={{'{up_key}': lambda key: [...]}}")
    down_time, up_time = _time_dimension(down), _time_dimension(up)
    if down_time.timezone != up_time.timezone:
        raise DefinitionError(
            f"asset '{down_key}' ({down_time.timezone}) and its upstream '{up_key}' ({up_time.timezone}) "
            "have time partitions in different timezones",
            hint="give both the same timezone=, or map them with a function: "
                 f"partition_mapping={{'{up_key}': lambda key: [...]}}")
    windows = up_time.windows(now)
    starts, ends = _utc_bounds(up_time, now)
    onto_up = _onto_upstream_keys(down, up, up_time, now)
    widened = _WidenedWindows(down_time, now, mapping)

    def upstream(pk):
        own = down.part(pk, down_time.name) if isinstance(down, MultiPartitions) else pk
        lo, hi = widened.bounds(own)
        first = bisect.bisect_right(ends, lo)   # the first window that ends after lo
        last = bisect.bisect_left(starts, hi)   # windows that start before hi
        return onto_up(pk, [w[0] for w in windows[first:last]])

    return ResolvedMapping(upstream, True)


def _onto_upstream_keys(down, up, up_time: TimeWindowPartitions, now) -> Callable[[str, List[str]], List[str]]:
    """Keys of ``up`` from keys of its time dimension: the same for a single definition; for a
    MultiPartitions, with the downstream partition's value of the other dimension when the downstream
    shares that dimension (``2024-01-05|eu`` reads the ``eu`` windows), else with every value of it."""
    if not isinstance(up, MultiPartitions):
        return lambda pk, times: times
    time_first = up.first is up_time
    other = up.second if time_first else up.first
    shared = isinstance(down, MultiPartitions) and other in (down.first, down.second)
    every = None if shared else other.keys(now)
    dimension = other.dimensions[0]

    def keys(pk: str, times: List[str]) -> List[str]:
        values = [down.part(pk, dimension)] if shared else every
        return [f"{t}{MULTI_SEPARATOR}{o}" if time_first else f"{o}{MULTI_SEPARATOR}{t}" for t in times for o in values]

    return keys


@functools.lru_cache(maxsize=16)
def _utc_bounds(pdef: TimeWindowPartitions, now: dt.datetime) -> Tuple[List[dt.datetime], List[dt.datetime]]:
    """The starts and the ends of ``pdef``'s windows in UTC, in order (memoized as the windows are)."""
    utc = dt.timezone.utc
    windows = pdef.windows(now)
    return [w[1].astimezone(utc) for w in windows], [w[2].astimezone(utc) for w in windows]


class _WidenedWindows:
    """A downstream window widened by a TimeWindowMapping's offsets, as UTC bounds ``(lo, hi)``.

    The windows of a definition are consecutive, so the window ``offset`` windows away from the
    i-th one is the (i + offset)-th: a look-up per partition. Keys outside the definition's windows,
    and shifts that leave them, take :func:`_shift`, which steps from the key (the same result).
    """

    def __init__(self, time_def: TimeWindowPartitions, now: dt.datetime, mapping: TimeWindowMapping):
        self.time_def, self.mapping = time_def, mapping
        self.starts, self.ends = _utc_bounds(time_def, now)
        self.position = _positions(time_def, now)

    def bounds(self, key: str) -> Tuple[dt.datetime, dt.datetime]:
        i, n = self.position.get(key), len(self.ends)
        first, last = (-1, -1) if i is None else (i + self.mapping.start_offset, i + self.mapping.end_offset)
        if not (0 <= first < n and 0 <= last < n):
            utc = dt.timezone.utc
            return (_shift(self.time_def, key, self.mapping.start_offset)[0].astimezone(utc),
                    _shift(self.time_def, key, self.mapping.end_offset)[1].astimezone(utc))
        return self.starts[first], self.ends[last]


@functools.lru_cache(maxsize=16)
def _positions(pdef: TimeWindowPartitions, now: dt.datetime) -> Dict[str, int]:
    """Each key of ``pdef`` -> its place among the windows."""
    return {w[0]: i for i, w in enumerate(pdef.windows(now))}


def _shift(time_def: TimeWindowPartitions, key: str, offset: int) -> Tuple[dt.datetime, dt.datetime]:
    start, end = time_def.time_window(key)
    if offset == 0:
        return start, end
    if time_def.unit == "hour":  # in UTC: across a DST change the previous hour is one real hour earlier
        shifted = start.astimezone(dt.timezone.utc) + dt.timedelta(hours=offset)
        return shifted, shifted + dt.timedelta(hours=1)
    local = start.replace(tzinfo=None)
    for _ in range(abs(offset)):
        if offset > 0:
            local = time_def._next(local)
        else:
            local = _previous(time_def, local)
    shifted = time_def._format(local)
    return time_def.time_window(shifted)


def _previous(time_def: TimeWindowPartitions, local: dt.datetime) -> dt.datetime:
    if time_def.unit == "hour":
        return local - dt.timedelta(hours=1)
    if time_def.unit == "day":
        return local - dt.timedelta(days=1)
    if time_def.unit == "week":
        return local - dt.timedelta(days=7)
    return _add_months(local, -1)


def _time_dimension(pdef) -> Optional[TimeWindowPartitions]:
    if isinstance(pdef, TimeWindowPartitions):
        return pdef
    if isinstance(pdef, MultiPartitions):
        for part in (pdef.first, pdef.second):
            if isinstance(part, TimeWindowPartitions):
                return part
    return None


def _projection(down, up, now) -> Optional[ResolvedMapping]:
    """Multi <-> single along a shared dimension."""
    if isinstance(down, MultiPartitions) and not isinstance(up, MultiPartitions):
        for part in (down.first, down.second):
            if part == up:
                dim = part.dimensions[0]
                return ResolvedMapping(lambda pk: [down.part(pk, dim)], False)
    if isinstance(up, MultiPartitions) and not isinstance(down, MultiPartitions):
        for part in (up.first, up.second):
            if part == down:
                other_keys = (up.second if part is up.first else up.first).keys(now)
                first = part is up.first

                def upstream(pk, _others=other_keys, _first=first):
                    return [f"{pk}{MULTI_SEPARATOR}{o}" if _first else f"{o}{MULTI_SEPARATOR}{pk}" for o in _others]

                return ResolvedMapping(upstream, True)
    return None


# -- canonical descriptions (versioning) ------------------------------------------------------

def describe(obj: object, fn_version: Optional[Callable[[Callable], str]] = None) -> object:
    """A canonical, JSON-friendly description of a partitions definition or a partition mapping.

    It names everything that decides what one partition receives (unit,
    timezone, dimension names, offsets), never a memory address. Which
    partitions exist (``start``, ``end``, static and dynamic keys) is left
    out: widening a range adds partitions without touching the others, and a
    mapping cut at the new start shows as changed dependencies. A function
    mapping is described by ``fn_version(fn)``, its code version (the caller
    fingerprints it).
    """
    if isinstance(obj, TimeWindowPartitions):
        return ["time", obj.unit, obj.timezone, obj.name]
    if isinstance(obj, StaticPartitions):
        return ["static", obj.name]
    if isinstance(obj, MultiPartitions):
        return ["multi", describe(obj.first, fn_version), describe(obj.second, fn_version)]
    if isinstance(obj, DynamicPartitions):  # its keys are state, not definition: adding one is no code change
        return ["dynamic", obj.name]
    if isinstance(obj, TimeWindowMapping):  # concat only when set: existing code versions stay as they were
        return ["time_window", obj.start_offset, obj.end_offset, *(["concat"] if obj.concat else [])]
    if isinstance(obj, (AllPartitionsMapping, ExistingPartitionsMapping)):
        return [type(obj).__name__, obj.concat]
    fn = obj.fn if isinstance(obj, FunctionMapping) else obj
    if callable(fn):
        if fn_version is None:
            raise ValueError("describing a function mapping needs fn_version")
        return ["function", fn_version(fn)]
    if isinstance(obj, PartitionsDefinition):  # a user subclass: its public state, by type name
        state = {k: v for k, v in sorted(vars(obj).items()) if not k.startswith("_")}
        return ["custom", type(obj).__qualname__, repr(state)]
    return ["value", type(obj).__qualname__, repr(obj)]


def definition_text(pdef: PartitionsDefinition) -> str:
    """Everything that decides a definition's keys (start, end, static keys, time zone, ...): what code
    that reads the definition itself (``len(days.keys(None))``) depends on. A dynamic definition's keys
    are state, not part of it."""
    if type(pdef).__module__.startswith("datamake."):
        return repr(pdef)  # (a record: its fields, in order)
    state = {k: v for k, v in sorted(vars(pdef).items()) if not k.startswith("_")}
    return f"{type(pdef).__module__}.{type(pdef).__qualname__}{state!r}"


def reading_parts(down: Optional[PartitionsDefinition],
                  ups: Mapping[str, Tuple[PartitionsDefinition, object]]) -> Dict[str, object]:
    """What a code version must hold about how ``down`` receives its partitioned upstreams, beyond their mappings.

    ``ups`` maps each partitioned upstream to (its partitions, its ``partition_mapping`` or None).

    - ``passing UP by windows``: between two time definitions that differ (a daily asset starting later
      than its daily upstream) each partition receives ``{partition key: value}`` of the overlapping
      windows; between equal ones, the value. An edit of ``start`` or ``end`` can turn one into the
      other on the same dependencies.
    - ``order of UP``: a collection follows the order of the upstream's static keys; when
      that order is not sorted, reordering the list changes what the function receives (a dict's
      order, a table's rows) on the same dependencies. A sorted order adds nothing.
    - ``sorted dynamic keys of UP``: a collection of dynamic partitions comes in sorted order (it came
      in the order the keys were added, which the provenance does not hold): values built before are stale.
    """
    parts: Dict[str, object] = {}
    for key, (up, mapping) in sorted(ups.items()):
        if mapping is None and _both_time(down, up) and down != up:
            parts[f"passing {key} by windows"] = True
        order = _unsorted_static_keys(up)
        dynamic = dynamic_definitions([up])
        if (order or dynamic) and _collection_in_upstream_order(down, up, mapping):
            if order:
                parts[f"order of {key}"] = order
            if dynamic:
                parts[f"sorted dynamic keys of {key}"] = True
    return parts


def _unsorted_static_keys(pdef: PartitionsDefinition) -> List[List[str]]:
    parts = (pdef.first, pdef.second) if isinstance(pdef, MultiPartitions) else (pdef,)
    return [list(p.values) for p in parts if isinstance(p, StaticPartitions) and list(p.values) != sorted(p.values)]


def _collection_in_upstream_order(down: Optional[PartitionsDefinition], up: PartitionsDefinition, mapping) -> bool:
    """Whether ``down`` receives ``up`` as a collection in the order of up's keys (a function gives its own)."""
    if isinstance(mapping, (AllPartitionsMapping, ExistingPartitionsMapping, TimeWindowMapping)):
        return True
    if mapping is not None:
        return False
    return down is None or (isinstance(up, MultiPartitions) and not isinstance(down, MultiPartitions))


def label(pdef: PartitionsDefinition) -> str:
    """A short description for people: ``daily from 2024-01-01 (UTC)``, ``static: eu, us``."""
    if isinstance(pdef, TimeWindowPartitions):
        unit = {"hour": "hourly", "day": "daily", "week": "weekly", "month": "monthly"}[pdef.unit]
        until = f" to {pdef.end}" if pdef.end else ""
        return f"{unit} from {pdef.start}{until} ({pdef.timezone})"
    if isinstance(pdef, StaticPartitions):
        return f"static: {', '.join(pdef.values)}"
    if isinstance(pdef, MultiPartitions):
        return f"{label(pdef.first)} x {label(pdef.second)}"
    if isinstance(pdef, DynamicPartitions):
        return f"dynamic: {pdef.name}"
    return type(pdef).__name__


# -- selecting partitions --------------------------------------------------------------------

def select_partitions(pdef: PartitionsDefinition, all_keys: Sequence[str], spec: str) -> List[str]:
    """Keys of ``all_keys`` that ``spec`` names: ``KEY``, ``FIRST...LAST``, or ``dim=value`` (comma-joined)."""
    chosen: List[str] = []
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        if RANGE_SEPARATOR in part:
            first, last = part.split(RANGE_SEPARATOR, 1)
            time_def = _time_dimension(pdef)
            if time_def is not None:
                _check_range_end(time_def, part, first, "start")
                _check_range_end(time_def, part, last, "end")
            # the end is inclusive at its own precision: ...2024-01-31 takes every hour of that day
            chosen.extend(k for k in all_keys if first <= _sortable(pdef, k) and _sortable(pdef, k)[:len(last)] <= last)
        elif "=" in part and isinstance(pdef, MultiPartitions):
            dim, value = part.split("=", 1)
            if dim not in pdef.dimensions:
                raise SelectionError(f"--partition {part}: no dimension '{dim}'", hint=f"dimensions: {', '.join(pdef.dimensions)}")
            chosen.extend(k for k in all_keys if pdef.part(k, dim) == value)
        elif "=" in part:
            dim, value = part.split("=", 1)
            if dim not in pdef.dimensions:
                raise SelectionError(f"--partition {part}: no dimension '{dim}'", hint=f"dimensions: {', '.join(pdef.dimensions)}")
            chosen.extend(k for k in all_keys if k == value)
        else:
            chosen.extend(k for k in all_keys if k == part or (isinstance(pdef, MultiPartitions) and part in k.split(MULTI_SEPARATOR)))
    if not chosen:
        raise SelectionError(f"--partition {spec!r} matches no partition", hint=_no_match_hint(pdef, all_keys, spec))
    return list(dict.fromkeys(chosen))


def _no_match_hint(pdef: PartitionsDefinition, all_keys: Sequence[str], spec: str) -> str:
    """What exists, and what was probably meant: three dots, a range the right way round, a day of hours as a range."""
    sample = ", ".join(all_keys[:3]) + (" … " + all_keys[-1] if len(all_keys) > 3 else "")
    hint = f"partitions are {sample or 'none yet'}"
    if ".." in spec and RANGE_SEPARATOR not in spec:
        return hint + f"; a range is FIRST{RANGE_SEPARATOR}LAST, with three dots"
    prefix = spec.strip()
    first, _, last = prefix.partition(RANGE_SEPARATOR)
    if first and last and "," not in prefix and first > last:
        return hint + f"; the range runs backwards: {last}{RANGE_SEPARATOR}{first}"
    if RANGE_SEPARATOR not in prefix and _time_dimension(pdef) is not None and _RANGE_END.match(prefix) \
            and any(_sortable(pdef, k).startswith(prefix) for k in all_keys):
        return hint + f"; for every partition in {prefix}, write a range: {prefix}{RANGE_SEPARATOR}{prefix}"
    containing = _key_containing_day(_time_dimension(pdef), prefix)
    if containing is not None and any(_sortable(pdef, k) == containing for k in all_keys):
        return hint + f"; {prefix} is in the {_time_dimension(pdef).unit} {containing}"
    return hint


def _key_containing_day(time_def: Optional[TimeWindowPartitions], day: str) -> Optional[str]:
    """The key of the week or month that holds ``day`` (``YYYY-MM-DD``), for a day that is not a key itself."""
    if time_def is None or time_def.unit not in ("week", "month"):
        return None
    try:
        date = dt.date.fromisoformat(day)
    except ValueError:
        return None
    first = date - dt.timedelta(days=date.weekday()) if time_def.unit == "week" else date.replace(day=1)
    return first.isoformat()


def unmatched_parts(spec: str, candidates: Sequence[Tuple[PartitionsDefinition, Sequence[str]]]) -> List[str]:
    """The comma-separated parts of ``spec`` that select nothing of any (definition, keys) of ``candidates``:
    a typo in a list (``2024-01-05,2024-13-01``) that the other parts would otherwise hide."""
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if len(parts) < 2:
        return []
    return [part for part in parts if not any(_selects(pdef, keys, part) for pdef, keys in candidates)]


def _selects(pdef: PartitionsDefinition, keys: Sequence[str], part: str) -> bool:
    try:
        return bool(select_partitions(pdef, keys, part))
    except SelectionError:
        return False


# the forms a range end may take: a time key or a prefix of one, at most as precise as the key
_RANGE_FORMATS = (("%Y", 4), ("%Y-%m", 7), ("%Y-%m-%d", 10), ("%Y-%m-%d-%H", 13), ("%Y-%m-%d-%H:%M", 16))
_RANGE_END = re.compile(r"^\d{4}(-\d{2}(-\d{2}(-\d{2}(:\d{2})?)?)?)?$")
_REPEATED_HOUR = re.compile(r"^\d{4}-\d{2}-\d{2}-\d{2}:\d{2}[+-]\d{4}$")


def _check_range_end(time_def: "TimeWindowPartitions", part: str, value: str, which: str) -> None:
    """Reject a range end that is not a date (or a prefix of one) in the partition keys' format.

    Ends are compared with keys as text, so ``2024-1-9`` would silently mean "to the end".
    """
    if not value:
        return  # an open end: from the first, or to the last partition
    if time_def.unit == "hour" and _REPEATED_HOUR.match(value):
        value = value[:16]  # the repeated autumn hour, as its key is written: 2024-10-27-02:00+0100
    precise = 16 if time_def.unit == "hour" else 10
    ok = bool(_RANGE_END.match(value)) and len(value) <= precise
    if ok:
        fmt = next(f for f, n in _RANGE_FORMATS if n == len(value))
        try:
            dt.datetime.strptime(value, fmt)
        except ValueError:
            ok = False
    if not ok:
        example = "2024-01-05-00:00...2024-01-09-23:00" if time_def.unit == "hour" else "2024-01-05...2024-01-09"
        form = "YYYY-MM-DD-HH:MM" if time_def.unit == "hour" else "YYYY-MM-DD"
        raise SelectionError(
            f"--partition {part}: the range {which} '{value}' is not {'an' if time_def.unit == 'hour' else 'a'} {time_def.unit} key: expected {form}",
            hint=f"write both ends as {form} (or a prefix such as YYYY-MM), zero-padded: {example}",
        )


def _sortable(pdef, key: str) -> str:
    """The part of a key a range compares: the time dimension of a multi key (else its first part)."""
    if not isinstance(pdef, MultiPartitions):
        return key
    first, _, second = key.partition(MULTI_SEPARATOR)
    return second if pdef.first is not _time_dimension(pdef) and pdef.second is _time_dimension(pdef) else first

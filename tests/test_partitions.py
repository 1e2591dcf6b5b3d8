"""Partition definitions, time windows, mappings and --partition specs (datamake.core.partitions: pure)."""
from __future__ import annotations

import datetime as dt

import pytest

from datamake.core.errors import DefinitionError, SelectionError
from datamake.core.partitions import (
    DailyPartitions, FunctionMapping, HourlyPartitions, MonthlyPartitions, MultiPartitions, StaticPartitions, TimeWindowMapping, WeeklyPartitions, resolve_mapping, select_partitions,
)

UTC = dt.timezone.utc
NOW = dt.datetime(2030, 1, 1, tzinfo=UTC)  # far after every fixed end below
BERLIN = "Europe/Berlin"


def utc_hours(start: dt.datetime, end: dt.datetime) -> float:
    return (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() / 3600


# -- time windows ------------------------------------------------------------------------------

def test_daily_windows_on_dst_days_are_23_and_25_real_hours():
    spring = DailyPartitions("2024-03-30", "2024-04-02", timezone=BERLIN)
    autumn = DailyPartitions("2024-10-26", "2024-10-29", timezone=BERLIN)
    assert {k: utc_hours(s, e) for k, s, e in spring.windows(NOW)} == {
        "2024-03-30": 24, "2024-03-31": 23, "2024-04-01": 24}
    assert {k: utc_hours(s, e) for k, s, e in autumn.windows(NOW)} == {
        "2024-10-26": 24, "2024-10-27": 25, "2024-10-28": 24}
    start, end = autumn.time_window("2024-10-27")
    assert (start.isoformat(), end.isoformat()) == ("2024-10-27T00:00:00+02:00", "2024-10-28T00:00:00+01:00")


@pytest.mark.parametrize("day, count", [("2024-03-31", 23), ("2024-10-27", 25), ("2024-06-01", 24)])
def test_hourly_keys_are_unique_and_one_per_real_hour(day, count):
    following = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    hourly = HourlyPartitions(day, following, timezone=BERLIN)
    windows = hourly.windows(NOW)
    keys = [k for k, _s, _e in windows]
    assert len(keys) == count and len(set(keys)) == count
    assert all(utc_hours(s, e) == 1 for _k, s, e in windows)
    # consecutive and gap-free in real time
    assert all(a[2].astimezone(UTC) == b[1].astimezone(UTC) for a, b in zip(windows, windows[1:]))
    # every key maps back to its own window, including the repeated hour when clocks go back
    for key, start, end in windows:
        got = hourly.time_window(key)
        assert (got[0].astimezone(UTC), got[1].astimezone(UTC)) == (start.astimezone(UTC), end.astimezone(UTC))


def test_the_repeated_autumn_hour_gets_a_distinct_key():
    keys = HourlyPartitions("2024-10-27", "2024-10-28", timezone=BERLIN).keys(NOW)
    assert keys[1:5] == ["2024-10-27-01:00", "2024-10-27-02:00", "2024-10-27-02:00+0100", "2024-10-27-03:00"]
    assert "2024-03-31-02:00" not in HourlyPartitions("2024-03-31", "2024-04-01", timezone=BERLIN).keys(NOW)


def test_monthly_windows_cover_month_ends_and_leap_february():
    monthly = MonthlyPartitions("2024-01-01", "2024-04-01")
    lengths = {k: (e - s).days for k, s, e in monthly.windows(NOW)}
    assert lengths == {"2024-01-01": 31, "2024-02-01": 29, "2024-03-01": 31}
    assert (MonthlyPartitions("2023-02-01", "2023-03-01").windows(NOW)[0][2]
            - MonthlyPartitions("2023-02-01", "2023-03-01").windows(NOW)[0][1]).days == 28
    # a start on Jan 31 begins at the first whole month; December rolls into the next year
    assert MonthlyPartitions("2024-01-31", "2024-04-01").keys(NOW) == ["2024-02-01", "2024-03-01"]
    assert MonthlyPartitions("2024-11-01", "2025-02-01").keys(NOW) == ["2024-11-01", "2024-12-01", "2025-01-01"]


def test_daily_keys_across_month_ends_and_feb_29():
    keys = DailyPartitions("2024-01-30", "2024-03-02").keys(NOW)
    assert keys[:3] == ["2024-01-30", "2024-01-31", "2024-02-01"]
    assert keys[-2:] == ["2024-02-29", "2024-03-01"]
    assert len(keys) == 32
    assert DailyPartitions("2023-02-27", "2023-03-02").keys(NOW) == ["2023-02-27", "2023-02-28", "2023-03-01"]


def test_weekly_windows_start_on_monday():
    weekly = WeeklyPartitions("2024-01-03", "2024-02-12")  # a Wednesday: the first whole week starts Monday 8th
    windows = weekly.windows(NOW)
    assert [k for k, _s, _e in windows] == ["2024-01-08", "2024-01-15", "2024-01-22", "2024-01-29", "2024-02-05"]
    assert all(s.weekday() == 0 and (e - s).days == 7 for _k, s, e in windows)
    assert WeeklyPartitions("2024-01-01", "2024-01-08").keys(NOW) == ["2024-01-01"]  # already a Monday


def test_open_end_uses_the_now_passed_in_and_keeps_only_complete_windows():
    daily = DailyPartitions("2024-11-25")
    assert daily.keys(dt.datetime(2024, 11, 28, 13, 0, tzinfo=UTC)) == ["2024-11-25", "2024-11-26", "2024-11-27"]
    assert daily.keys(dt.datetime(2024, 11, 28, 0, 0, tzinfo=UTC)) == ["2024-11-25", "2024-11-26", "2024-11-27"]
    assert daily.keys(dt.datetime(2024, 11, 25, 23, 59, tzinfo=UTC)) == []
    # "now" is read in the partitions' timezone: 23:30 UTC is already the next day in Berlin
    berlin = DailyPartitions("2024-11-25", timezone=BERLIN)
    assert berlin.keys(dt.datetime(2024, 11, 26, 23, 30, tzinfo=UTC)) == ["2024-11-25", "2024-11-26"]
    assert MonthlyPartitions("2024-01-01").keys(dt.datetime(2024, 3, 31, 23, tzinfo=UTC)) == ["2024-01-01", "2024-02-01"]
    hourly = HourlyPartitions("2024-11-25")
    assert hourly.keys(dt.datetime(2024, 11, 25, 2, 59, tzinfo=UTC)) == ["2024-11-25-00:00", "2024-11-25-01:00"]


def test_bad_definitions_say_what_to_write():
    with pytest.raises(DefinitionError, match="timezone 'Mars/Olympus'") as exc:
        DailyPartitions("2024-01-01", timezone="Mars/Olympus")
    assert "IANA" in exc.value.hint
    with pytest.raises(DefinitionError, match="not a date") as exc:
        DailyPartitions("yesterday")
    assert "YYYY-MM-DD" in exc.value.hint
    with pytest.raises(DefinitionError, match="unique"):
        StaticPartitions(["eu", "eu"])
    with pytest.raises(DefinitionError):
        StaticPartitions(["a|b"])
    with pytest.raises(DefinitionError, match="name="):
        MultiPartitions(StaticPartitions(["a"]), StaticPartitions(["b"]))


def test_multi_partition_keys_are_the_product():
    multi = MultiPartitions(DailyPartitions("2024-01-01", "2024-01-03"), StaticPartitions(["eu", "us"], name="region"))
    assert multi.keys(NOW) == ["2024-01-01|eu", "2024-01-01|us", "2024-01-02|eu", "2024-01-02|us"]
    assert multi.dimensions == ("date", "region")
    assert multi.time_window("2024-01-02|us")[0].isoformat() == "2024-01-02T00:00:00+00:00"
    assert StaticPartitions(["eu"]).time_window("eu") is None


# -- --partition specs -------------------------------------------------------------------------

DAILY = DailyPartitions("2024-01-01", "2024-03-01")
REGIONS = StaticPartitions(["eu", "us", "asia"], name="region")
MULTI = MultiPartitions(DAILY, REGIONS)


def select(pdef, spec):
    return select_partitions(pdef, pdef.keys(NOW), spec)


def test_select_single_key_range_and_lists():
    assert select(DAILY, "2024-01-05") == ["2024-01-05"]
    jan = select(DAILY, "2024-01-01...2024-01-31")
    assert len(jan) == 31 and jan[0] == "2024-01-01" and jan[-1] == "2024-01-31"
    assert select(DAILY, "2024-02-27...2024-03-05") == ["2024-02-27", "2024-02-28", "2024-02-29"]
    assert select(DAILY, "2024-01-05, 2024-01-03,2024-01-05") == ["2024-01-05", "2024-01-03"]
    assert select(DAILY, "date=2024-01-07") == ["2024-01-07"]


def test_a_day_range_over_hourly_partitions_includes_the_last_day():
    hourly = HourlyPartitions("2024-01-01", "2024-01-05")
    chosen = select(hourly, "2024-01-02...2024-01-03")
    assert len(chosen) == 48 and chosen[0] == "2024-01-02-00:00" and chosen[-1] == "2024-01-03-23:00"


def test_select_on_multi_partitions_by_dimension_date_and_range():
    assert select(MULTI, "region=eu")[:2] == ["2024-01-01|eu", "2024-01-02|eu"] and len(select(MULTI, "region=eu")) == 60
    assert select(MULTI, "2024-01-05") == ["2024-01-05|eu", "2024-01-05|us", "2024-01-05|asia"]
    assert select(MULTI, "2024-01-05|us") == ["2024-01-05|us"]
    assert select(MULTI, "us") == select(MULTI, "region=us")
    assert len(select(MULTI, "2024-01-01...2024-01-10")) == 30
    assert select(MULTI, "date=2024-02-29") == ["2024-02-29|eu", "2024-02-29|us", "2024-02-29|asia"]
    # the range applies to the time dimension wherever it is
    flipped = MultiPartitions(REGIONS, DAILY)
    assert select(flipped, "2024-01-01...2024-01-02") == [
        "eu|2024-01-01", "eu|2024-01-02", "us|2024-01-01", "us|2024-01-02", "asia|2024-01-01", "asia|2024-01-02"]


def test_select_errors_name_the_spec_and_show_what_exists():
    with pytest.raises(SelectionError, match="'2023-12-31' matches no partition") as exc:
        select(DAILY, "2023-12-31")
    assert "2024-01-01" in exc.value.hint and "2024-02-29" in exc.value.hint
    with pytest.raises(SelectionError, match="no dimension 'regoin'") as exc:
        select(MULTI, "regoin=eu")
    assert exc.value.hint == "dimensions: date, region"
    with pytest.raises(SelectionError, match="matches no partition"):
        select(DAILY, "2024-03-01...2024-04-01")
    with pytest.raises(SelectionError, match="matches no partition"):
        select(REGIONS, "region=mars")


# -- mappings ----------------------------------------------------------------------------------

def upstream(down, up, mapping=None, pk=None, down_key="down", up_key="up"):
    return resolve_mapping(down_key, down, up_key, up, mapping, NOW).upstream(pk)


def test_identity_is_the_default_for_equal_definitions():
    m = resolve_mapping("b", DAILY, "a", DailyPartitions("2024-01-01", "2024-03-01"), None, NOW)
    assert not m.collection
    assert m.upstream("2024-02-29") == ["2024-02-29"]
    assert resolve_mapping("b", REGIONS, "a", REGIONS, None, NOW).upstream("us") == ["us"]


def test_rolling_window_is_cut_at_the_start_boundary():
    m = resolve_mapping("sales_7d", DAILY, "sales", DAILY, TimeWindowMapping(start_offset=-6), NOW)
    assert m.collection
    assert m.upstream("2024-01-01") == ["2024-01-01"]
    assert m.upstream("2024-01-03") == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert m.upstream("2024-02-29") == [
        "2024-02-23", "2024-02-24", "2024-02-25", "2024-02-26", "2024-02-27", "2024-02-28", "2024-02-29"]
    # a forward-looking window is cut at the end
    ahead = resolve_mapping("x", DAILY, "sales", DAILY, TimeWindowMapping(end_offset=2), NOW)
    assert ahead.upstream("2024-02-28") == ["2024-02-28", "2024-02-29"]


def test_previous_hour_across_dst_is_one_real_hour_earlier():
    hourly = HourlyPartitions("2024-10-26", "2024-10-29", timezone=BERLIN)
    m = resolve_mapping("delta", hourly, "hits", hourly, TimeWindowMapping(start_offset=-1), NOW)
    assert m.upstream("2024-10-27-03:00") == ["2024-10-27-02:00+0100", "2024-10-27-03:00"]
    assert m.upstream("2024-10-27-02:00+0100") == ["2024-10-27-02:00", "2024-10-27-02:00+0100"]
    spring = HourlyPartitions("2024-03-30", "2024-04-01", timezone=BERLIN)
    m = resolve_mapping("delta", spring, "hits", spring, TimeWindowMapping(start_offset=-1), NOW)
    assert m.upstream("2024-03-31-03:00") == ["2024-03-31-01:00", "2024-03-31-03:00"]


def test_monthly_downstream_of_daily_reads_the_days_of_its_month():
    monthly = MonthlyPartitions("2024-01-01", "2024-04-01")
    m = resolve_mapping("month", monthly, "day", DAILY, None, NOW)
    assert m.collection
    feb = m.upstream("2024-02-01")
    assert len(feb) == 29 and feb[0] == "2024-02-01" and feb[-1] == "2024-02-29"
    assert len(m.upstream("2024-01-01")) == 31
    assert m.upstream("2024-03-01") == []  # the daily partitions end with February
    prev = resolve_mapping("month", monthly, "day", DAILY, TimeWindowMapping(start_offset=-1), NOW)
    assert len(prev.upstream("2024-02-01")) == 31 + 29


def test_daily_downstream_of_monthly_reads_its_month():
    monthly = MonthlyPartitions("2024-01-01", "2024-04-01")
    m = resolve_mapping("day", DAILY, "month", monthly, None, NOW)
    assert m.upstream("2024-01-31") == ["2024-01-01"]
    assert m.upstream("2024-02-01") == ["2024-02-01"]
    assert m.upstream("2024-02-29") == ["2024-02-01"]


def test_daily_in_berlin_reads_its_23_or_25_hours():
    day = DailyPartitions("2024-10-26", "2024-10-29", timezone=BERLIN)
    hour = HourlyPartitions("2024-10-26", "2024-10-29", timezone=BERLIN)
    m = resolve_mapping("day", day, "hour", hour, None, NOW)
    assert [len(m.upstream(k)) for k in day.keys(NOW)] == [24, 25, 24]


def test_weekly_reads_monday_to_sunday():
    m = resolve_mapping("week", WeeklyPartitions("2024-01-01", "2024-03-01"), "day", DAILY, None, NOW)
    assert m.upstream("2024-01-29") == [f"2024-{d}" for d in
                                        ("01-29", "01-30", "01-31", "02-01", "02-02", "02-03", "02-04")]


def test_static_subset_maps_by_identity():
    m = resolve_mapping("eu_us", StaticPartitions(["eu", "us"], name="region"), "all", REGIONS, None, NOW)
    assert not m.collection and m.upstream("us") == ["us"]


def test_multi_to_single_projects_onto_the_shared_dimension():
    by_date = resolve_mapping("regional", MULTI, "sales", DAILY, None, NOW)
    assert not by_date.collection and by_date.upstream("2024-01-05|eu") == ["2024-01-05"]
    by_region = resolve_mapping("regional", MULTI, "targets", REGIONS, None, NOW)
    assert not by_region.collection and by_region.upstream("2024-01-05|asia") == ["asia"]


def test_single_downstream_of_multi_reads_every_value_of_the_other_dimension():
    per_day = resolve_mapping("daily_total", DAILY, "regional", MULTI, None, NOW)
    assert per_day.collection and per_day.upstream("2024-01-05") == ["2024-01-05|eu", "2024-01-05|us", "2024-01-05|asia"]
    per_region = resolve_mapping("region_total", REGIONS, "regional", MULTI, None, NOW)
    assert len(per_region.upstream("us")) == 60 and all(k.endswith("|us") for k in per_region.upstream("us"))


def test_multi_with_a_rolling_window_over_its_time_dimension():
    m = resolve_mapping("regional_3d", MULTI, "sales", DAILY, TimeWindowMapping(start_offset=-2), NOW)
    assert m.upstream("2024-01-05|us") == ["2024-01-03", "2024-01-04", "2024-01-05"]


def test_function_mapping_keeps_only_keys_that_exist():
    def previous_and_first(pk):
        day = dt.date.fromisoformat(pk)
        return [(day - dt.timedelta(days=1)).isoformat(), "2024-01-01", "not-a-day"]

    for mapping in (previous_and_first, FunctionMapping(previous_and_first)):
        m = resolve_mapping("delta", DAILY, "sales", DAILY, mapping, NOW)
        assert m.collection
        assert m.upstream("2024-01-10") == ["2024-01-09", "2024-01-01"]
        assert m.upstream("2024-01-01") == ["2024-01-01"]
    static = resolve_mapping("by_region", REGIONS, "sales", DAILY, lambda pk: ["2024-01-01"] if pk == "eu" else [], NOW)
    assert static.upstream("eu") == ["2024-01-01"] and static.upstream("us") == []


def test_unpartitioned_downstream_reads_the_whole_collection():
    m = resolve_mapping("total", None, "sales", DAILY, None, NOW)
    assert m.collection and m.upstream(None) == DAILY.keys(NOW)
    assert resolve_mapping("sales", DAILY, "prices", None, None, NOW).upstream("2024-01-05") == [None]


@pytest.mark.parametrize("down, up, mapping, match", [
    (DAILY, REGIONS, None, "partitioned differently"),
    (REGIONS, DAILY, None, "partitioned differently"),
    (REGIONS, StaticPartitions(["eu", "mars"], name="region"), None, "partitioned differently"),
    (StaticPartitions(["eu", "us", "asia", "mars"]), REGIONS, None, "partitioned differently"),
    (REGIONS, DAILY, TimeWindowMapping(start_offset=-1), "needs time partitions on both sides"),
    (DAILY, DAILY, "previous day", "must be a TimeWindowMapping or a function"),
    (MonthlyPartitions("2024-01-01"), DailyPartitions("2024-01-01", timezone=BERLIN), None, "different timezones"),
])
def test_invalid_combinations_are_definition_errors_with_a_hint(down, up, mapping, match):
    with pytest.raises(DefinitionError, match=match) as exc:
        resolve_mapping("down", down, "up", up, mapping, NOW)
    assert "'down'" in exc.value.message and "up" in exc.value.message
    assert exc.value.hint and "partition_mapping" in exc.value.hint
    assert exc.value.exit_code == 2

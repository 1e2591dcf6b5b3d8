"""The pure part of automation on an injected clock: cron ticks across DST and month ends, the
catch-up policy for missed ticks, the partition a tick makes, freshness goals and queue limits."""
from __future__ import annotations

import datetime as dt

import pytest

from datamake import DailyPartitions, MonthlyPartitions, StaticPartitions
from datamake.automation.rules.cron import Cron
from datamake.automation.rules.definitions import schedule
from datamake.automation.rules.goals import assess, parse_goal
from datamake.automation.rules.queue import Limits, QueuedRun, admit, parse_limits
from datamake.automation.rules.ticks import due_ticks, partition_for_tick
from datamake.core.errors import ConfigError, DefinitionError

UTC = dt.timezone.utc


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


# -- cron in a time zone ----------------------------------------------------------------------

def test_a_daily_local_time_keeps_its_local_hour_across_both_dst_changes():
    cron = Cron("0 6 * * *", "Europe/Paris")
    spring = cron.between(utc(2024, 3, 29), utc(2024, 4, 1))
    assert spring == [utc(2024, 3, 29, 5), utc(2024, 3, 30, 5), utc(2024, 3, 31, 4)]  # 06:00 CET, then CEST
    autumn = cron.between(utc(2024, 10, 26), utc(2024, 10, 28))
    assert autumn == [utc(2024, 10, 26, 4), utc(2024, 10, 27, 5)]


def test_a_tick_in_the_skipped_hour_runs_once_and_one_in_the_repeated_hour_runs_once():
    cron = Cron("30 2 * * *", "Europe/Paris")
    assert cron.between(utc(2024, 3, 30, 12), utc(2024, 3, 31, 12)) == [utc(2024, 3, 31, 1)]  # 03:00 CEST
    assert len(cron.between(utc(2024, 10, 26, 12), utc(2024, 10, 27, 12))) == 1


def test_month_ends_a_31st_schedule_skips_short_months_and_leap_days_exist():
    assert [t.month for t in Cron("0 12 31 * *").between(utc(2024, 1, 1), utc(2025, 1, 1))] == [1, 3, 5, 7, 8, 10, 12]
    assert Cron("0 0 29 2 *").between(utc(2023, 1, 1), utc(2025, 1, 1)) == [utc(2024, 2, 29)]
    assert Cron("0 0 L * *").next_after(utc(2024, 2, 10)) == utc(2024, 2, 29)


def test_latest_tick_at_or_before_counts_a_tick_exactly_now():
    cron = Cron("0 * * * *")
    assert cron.latest_at_or_before(utc(2024, 1, 1, 5)) == utc(2024, 1, 1, 5)
    assert cron.latest_at_or_before(utc(2024, 1, 1, 5, 59, 59)) == utc(2024, 1, 1, 5)
    assert cron.next_after(utc(2024, 1, 1, 5)) == utc(2024, 1, 1, 6)


@pytest.mark.parametrize("expr, zone, words", [
    ("0 6 * *", "UTC", ["not a valid cron expression", "0 6 * * *"]),
    ("61 * * * *", "UTC", ["not a valid cron expression"]),
    ("every day", "UTC", ["not a valid cron expression"]),
    ("0 6 * * *", "Europe/Pariss", ["unknown timezone 'Europe/Pariss'", "IANA"]),
])
def test_bad_cron_or_zone_is_a_definition_error_naming_it(expr, zone, words):
    with pytest.raises(DefinitionError) as info:
        schedule("report", cron=expr, timezone=zone)
    text = f"{info.value.message} {info.value.hint}"
    assert all(w in text for w in words), text
    assert info.value.exit_code == 2


# -- the catch-up policy ------------------------------------------------------------------------

HOURLY = Cron("0 * * * *")


def test_a_new_schedule_starts_at_its_next_tick_not_in_the_past():
    plan = due_ticks(HOURLY, None, utc(2024, 1, 1, 5, 30))
    assert plan.run == () and plan.cursor == utc(2024, 1, 1, 5)


def test_missed_ticks_run_the_latest_once_by_default_and_each_with_catch_up_all():
    cursor, now = utc(2024, 1, 1, 5), utc(2024, 1, 1, 8, 30)
    latest = due_ticks(HOURLY, cursor, now)
    assert latest.run == (utc(2024, 1, 1, 8),) and latest.skipped == (utc(2024, 1, 1, 6), utc(2024, 1, 1, 7))
    every = due_ticks(HOURLY, cursor, now, "all")
    assert every.run == (utc(2024, 1, 1, 6), utc(2024, 1, 1, 7), utc(2024, 1, 1, 8)) and every.skipped == ()
    assert latest.cursor == every.cursor == utc(2024, 1, 1, 8)


def test_nothing_is_due_between_ticks_and_a_tick_is_due_once():
    plan = due_ticks(HOURLY, utc(2024, 1, 1, 5), utc(2024, 1, 1, 6))
    assert plan.run == (utc(2024, 1, 1, 6),)
    again = due_ticks(HOURLY, plan.cursor, utc(2024, 1, 1, 6, 59))
    assert again.run == () and again.cursor == plan.cursor


# -- the partition a tick makes -------------------------------------------------------------------

def test_the_0100_tick_of_2_march_makes_1_march_and_month_ends_and_dst_days_are_right():
    daily = DailyPartitions(start="2024-01-01")
    assert partition_for_tick(daily, utc(2024, 3, 2, 1)) == "2024-03-01"
    assert partition_for_tick(daily, utc(2024, 3, 1, 1)) == "2024-02-29"
    paris = DailyPartitions(start="2024-01-01", timezone="Europe/Paris")
    tick = Cron("0 1 * * *", "Europe/Paris").next_after(utc(2024, 3, 31, 0, 30))  # 01:00 CEST, 1 April
    assert partition_for_tick(paris, tick) == "2024-03-31"  # the 23-hour day
    autumn = Cron("0 1 * * *", "Europe/Paris").next_after(utc(2024, 10, 27, 12))
    assert partition_for_tick(paris, autumn) == "2024-10-27"  # the 25-hour day
    assert partition_for_tick(MonthlyPartitions(start="2024-01-01"), utc(2024, 3, 1, 1)) == "2024-02-01"
    assert partition_for_tick(StaticPartitions(["a", "b"]), utc(2024, 3, 1)) is None


# -- freshness goals --------------------------------------------------------------------------------

NOW = utc(2024, 5, 1, 12).timestamp()
HOUR = 3600.0


def test_fresh_within_counts_from_the_last_build():
    goal = parse_goal("report", fresh_within="1h")
    assert assess(goal, stale=True, built=NOW - 0.5 * HOUR, now=NOW).meets
    late = assess(goal, stale=True, built=NOW - 2 * HOUR, now=NOW)
    assert not late.meets and late.overdue and late.rebuild_by == NOW - HOUR
    assert assess(goal, stale=False, built=NOW - 48 * HOUR, now=NOW).meets  # nothing to rebuild: fresh


def test_fresh_by_a_cron_deadline_and_eager():
    goal = parse_goal("report", fresh_by=("0 9 * * *", "Europe/Paris"))
    before = assess(goal, stale=True, built=utc(2024, 5, 1, 6).timestamp(), now=utc(2024, 5, 1, 6, 30).timestamp())
    assert before.meets and before.rebuild_by == utc(2024, 5, 1, 7).timestamp()  # 09:00 CEST
    after = assess(goal, stale=True, built=utc(2024, 5, 1, 6).timestamp(), now=NOW)
    assert after.overdue
    eager = parse_goal("report", automation="eager")
    assert assess(eager, stale=True, built=NOW - 1, now=NOW).overdue
    assert assess(eager, stale=True, built=None, now=NOW).overdue  # never built


@pytest.mark.parametrize("kwargs, words", [
    ({"fresh_within": "an hour"}, ["fresh_within='an hour'", "1h"]),
    ({"fresh_within": "0"}, ["not a duration"]),
    ({"fresh_by": "9am"}, ["fresh_by", "not a valid cron"]),
    ({"fresh_by": ("0 9 * * *", "Paris")}, ["unknown timezone 'Paris'"]),
    ({"automation": "lazy"}, ["automation='lazy'", "eager"]),
])
def test_bad_goals_are_definition_errors_naming_the_asset(kwargs, words):
    with pytest.raises(DefinitionError) as info:
        parse_goal("report", **kwargs)
    text = f"{info.value.message} {info.value.hint}"
    assert "asset 'report'" in text and all(w in text for w in words), text


# -- queue limits ------------------------------------------------------------------------------------

def runs(*tag_sets):
    return [QueuedRun(f"r{i}", tags) for i, tags in enumerate(tag_sets)]


def test_max_concurrent_runs_caps_the_runs_in_flight_and_keeps_the_rest_waiting_in_order():
    waiting = runs({}, {}, {}, {})
    assert admit(waiting, [], Limits(max_concurrent=2)) == ["r0", "r1"]
    assert admit(waiting, runs({}), Limits(max_concurrent=2)) == ["r0"]
    assert admit(waiting, [], Limits()) == ["r0", "r1", "r2", "r3"]


def test_a_tag_limit_holds_back_runs_with_that_tag_only():
    limits = parse_limits(None, {"db=warehouse": 1, "team": 2}, "datamake.toml")
    waiting = runs({"db": "warehouse"}, {"db": "warehouse"}, {"db": "lake"}, {"team": "a"}, {"team": "b"},
                   {"team": "c"})
    assert admit(waiting, [], limits) == ["r0", "r2", "r3", "r4"]
    running = [QueuedRun("x", {"db": "warehouse"})]
    assert admit(waiting[:2], running, limits) == []  # both wait: none is dropped


@pytest.mark.parametrize("max_runs, tags", [(0, {}), ("2", {}), (None, {"db=x": -1}), (None, {"db": "one"})])
def test_bad_daemon_limits_are_config_errors(max_runs, tags):
    with pytest.raises(ConfigError):
        parse_limits(max_runs, tags, "datamake.toml")

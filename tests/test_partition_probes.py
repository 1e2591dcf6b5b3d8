"""Partitions, mappings and selections probed as a user would: edit, rebuild, look at status and values."""
from __future__ import annotations

import pytest

WINDOW = '''
from datamake import DailyPartitions, StaticPartitions, TimeWindowMapping, asset

daily = DailyPartitions(start="{start}", end="{end}")
regions = StaticPartitions({regions}, name="region")


@asset(partitions=daily, io_manager="json")
def orders(context):
    return int(context.partition_key[-2:]) * 10


@asset(partitions=daily, partition_mapping={{"orders": TimeWindowMapping(start_offset=-2)}}, io_manager="json")
def orders_3d(orders):
    return sum(orders.values())


@asset(partitions=regions, io_manager="json")
def targets(context):
    return len(context.partition_key)
'''


@pytest.fixture
def project(inprocess_project):
    return inprocess_project


def window(project, start="2024-01-01", end="2024-01-06", regions=("eu", "us")):
    project.pipeline(WINDOW.format(start=start, end=end, regions=list(regions)))


def made(project, *args):
    """{(asset, partition): outcome} of a `make --json`."""
    return {(a["key"], a["partition"]): a["outcome"] for a in project.json("make", *args)["assets"]}


def built(project, *args):
    return {node for node, outcome in made(project, *args).items() if outcome == "built"}


def stale(project, *args):
    return {(a["key"], a["partition"]) for a in project.json("status", *args)["assets"] if a["state"] == "stale"}


def value(project, key, partition):
    """What `datamake show` prints of one partition (``partition`` None: an unpartitioned asset)."""
    proc = project.run("show", key, *(["-p", partition] if partition else []))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


# -- editing a definition's range --------------------------------------------------------------

def test_widening_the_end_builds_only_the_new_days(project):
    window(project)
    made(project)
    window(project, end="2024-01-08")
    assert stale(project) == {("orders", "2024-01-06"), ("orders", "2024-01-07"),
                              ("orders_3d", "2024-01-06"), ("orders_3d", "2024-01-07")}
    assert built(project) == {("orders", "2024-01-06"), ("orders", "2024-01-07"),
                              ("orders_3d", "2024-01-06"), ("orders_3d", "2024-01-07")}
    assert value(project, "orders_3d", "2024-01-07") == str(50 + 60 + 70)


def test_a_later_start_rebuilds_only_the_windows_it_cuts_and_keeps_the_rest(project):
    window(project)
    made(project)
    window(project, start="2024-01-03")
    # orders_3d of 3 and 4 January no longer read 1 and 2 January; every other partition is as it was
    assert stale(project) == {("orders_3d", "2024-01-03"), ("orders_3d", "2024-01-04")}
    assert built(project) == {("orders_3d", "2024-01-03"), ("orders_3d", "2024-01-04")}
    assert value(project, "orders_3d", "2024-01-04") == str(30 + 40)
    window(project)  # back to the first start: the cut windows come back from the cache
    outcomes = made(project)
    assert {node for node, outcome in outcomes.items() if outcome != "skipped"} == {
        ("orders_3d", "2024-01-03"), ("orders_3d", "2024-01-04")}
    assert value(project, "orders_3d", "2024-01-04") == str(20 + 30 + 40)


def test_a_static_key_added_builds_only_that_key(project):
    window(project)
    made(project)
    window(project, regions=("eu", "us", "asia"))
    assert stale(project) == {("targets", "asia")}
    assert built(project) == {("targets", "asia")}


# -- selecting partitions with -p ----------------------------------------------------------------


def test_an_asset_that_reads_a_definition_itself_is_stale_when_its_keys_change(project):
    """Left out of partitioned assets' code versions, a definition's keys still count for code that reads
    the definition as data: an edited end or an added static key makes such an asset stale."""
    source = """
        from datamake import DailyPartitions, StaticPartitions, asset

        regions = StaticPartitions(["eu", "us"])
        days = DailyPartitions(start="2024-01-01", end="2024-01-03")

        @asset
        def region_list():
            return list(regions.keys(None))

        @asset
        def day_count():
            return len(days.keys(None))
    """
    project.pipeline(source)
    assert project.outcomes() == {"region_list": "built", "day_count": "built"}
    project.pipeline(source.replace('["eu", "us"]', '["eu", "us", "asia"]').replace('end="2024-01-03"', 'end="2024-01-05"'))
    reasons = {a["key"]: a["reasons"] for a in project.json("status")["assets"]}
    assert "regions changed" in reasons["region_list"][0]["message"]
    assert "days changed" in reasons["day_count"][0]["message"]
    assert project.outcomes() == {"region_list": "built", "day_count": "built"}
    assert project.run("show", "day_count").stdout.strip() == "4"  # (end is exclusive)

AUTUMN = '''
from datamake import HourlyPartitions, asset

hourly = HourlyPartitions(start="2024-10-27-00:00", end="2024-10-27-06:00", timezone="Europe/Berlin")


@asset(partitions=hourly, io_manager="json")
def clicks(context):
    return context.partition_time_window[0].isoformat()
'''


def selected(project, spec, *assets):
    """The partitions `status -p SPEC` lists."""
    return [a["partition"] for a in project.json("status", "-p", spec, *assets)["assets"]]


def test_a_range_may_end_or_start_at_the_repeated_autumn_hour_as_status_prints_it(project):
    project.pipeline(AUTUMN)
    made(project)
    assert selected(project, "2024-10-27-01:00...2024-10-27-02:00+0100") == [
        "2024-10-27-01:00", "2024-10-27-02:00", "2024-10-27-02:00+0100"]
    assert selected(project, "2024-10-27-02:00+0100...2024-10-27-03:00") == [
        "2024-10-27-02:00+0100", "2024-10-27-03:00"]
    proc = project.run("status", "-p", "2024-10-27-01:00...2024-10-27-2:00")
    assert proc.returncode == 2 and "is not an hour key" in proc.stderr, proc.stderr


def test_a_partition_spec_that_matches_nothing_says_what_was_meant(project):
    project.pipeline(AUTUMN)
    proc = project.run("status", "-p", "2024-10-27")  # a day of an hourly asset
    assert proc.returncode == 2
    assert "write a range: 2024-10-27...2024-10-27" in proc.stderr, proc.stderr
    assert len(selected(project, "2024-10-27...2024-10-27")) == 7  # six hours, one of them twice
    proc = project.run("status", "-p", "2024-10-27-04:00...2024-10-27-01:00")
    assert proc.returncode == 2
    assert "the range runs backwards: 2024-10-27-01:00...2024-10-27-04:00" in proc.stderr, proc.stderr


# -- what a partition receives ---------------------------------------------------------------------

LATER_START = '''
from datamake import DailyPartitions, asset


@asset(partitions=DailyPartitions(start="{up_start}", end="2024-01-06"), io_manager="json")
def up(context):
    return int(context.partition_key[-2:])


@asset(partitions=DailyPartitions(start="2024-01-03", end="2024-01-06"), io_manager="json")
def down(up):
    return repr(up)
'''


def test_an_upstream_range_edited_to_equal_its_downstream_s_rebuilds_what_now_gets_a_value(project):
    """A daily asset that starts later than its daily upstream receives {day: value}; once the ranges are
    equal it receives the value: the same dependencies, another argument, so another value."""
    project.pipeline(LATER_START.format(up_start="2024-01-01"))
    made(project)
    assert value(project, "down", "2024-01-04") == "{'2024-01-04': 4}"
    project.pipeline(LATER_START.format(up_start="2024-01-03"))
    assert stale(project) == {("down", "2024-01-03"), ("down", "2024-01-04"), ("down", "2024-01-05")}
    made(project)
    assert value(project, "down", "2024-01-04") == "4"
    project.pipeline(LATER_START.format(up_start="2024-01-02"))  # and back
    assert ("down", "2024-01-04") in stale(project)
    made(project)
    assert value(project, "down", "2024-01-04") == "{'2024-01-04': 4}"


REGIONAL = '''
from datamake import DailyPartitions, MultiPartitions, StaticPartitions, TimeWindowMapping, asset


@asset(partitions=DailyPartitions(start="2024-01-01", end="2024-01-04"), io_manager="json")
def up(context):
    return int(context.partition_key[-2:])


@asset(partitions=MultiPartitions(DailyPartitions(start="2024-01-01", end="2024-01-05"),
                                  StaticPartitions(["eu", "us"], name="region")){mapping}, io_manager="json")
def down(up):
    return sum(up.values())
'''


def test_a_date_x_region_asset_whose_days_differ_from_its_upstream_s_is_told_how_to_map_them(project):
    project.pipeline(REGIONAL.format(mapping=""))  # one more day than its upstream
    proc = project.run("status")
    assert proc.returncode == 2
    assert "their time partitions differ" in proc.stderr and "TimeWindowMapping()" in proc.stderr, proc.stderr
    project.pipeline(REGIONAL.format(mapping=', partition_mapping={"up": TimeWindowMapping()}'))
    made(project)
    assert value(project, "down", "2024-01-03|eu") == "3"
    assert value(project, "down", "2024-01-04|eu") == "0"  # a day its upstream does not have


# -- dynamic partitions -------------------------------------------------------------------------

DYNAMIC = '''
from datamake import DynamicPartitions, asset

files = DynamicPartitions("files")


@asset(partitions=files, io_manager="json")
def parsed(context):
    return len(context.partition_key)
'''


def test_adding_the_files_a_pattern_matches_says_when_it_matches_none(project):
    project.pipeline(DYNAMIC)
    proc = project.run("partitions", "add", "files", "--files", "inbox/*.csv")  # a typo, or nothing arrived yet
    assert proc.returncode == 0
    assert "no file matches 'inbox/*.csv'" in proc.stderr, proc.stderr
    project.write("inbox/a.csv", "1")
    proc = project.run("partitions", "add", "files", "--files", "inbox/*.csv")
    assert "added 1 of 1 keys" in proc.stdout and "no file matches" not in proc.stderr


ROLLING_OVER_REGIONS = '''
from datamake import DailyPartitions, MultiPartitions, StaticPartitions, TimeWindowMapping, asset

daily = DailyPartitions(start="2024-01-01", end="2024-01-05")
by_region = MultiPartitions(daily, StaticPartitions(["eu", "us"], name="region"))


@asset(partitions=by_region, io_manager="json")
def sales(context):
    return context.partition_key


@asset(partitions=daily, partition_mapping={"sales": TimeWindowMapping(start_offset=-1)}, io_manager="json")
def sales_2d(sales):
    return sorted(sales)


@asset(partitions=by_region, partition_mapping={"sales": TimeWindowMapping(start_offset=-1)}, io_manager="json")
def regional_2d(sales):
    return sorted(sales)
'''


def test_a_rolling_window_over_a_date_x_region_upstream_reads_its_partitions(project):
    project.pipeline(ROLLING_OVER_REGIONS)
    outcomes = made(project)
    assert set(outcomes.values()) == {"built"}
    assert value(project, "sales_2d", "2024-01-03") == str(
        ["2024-01-02|eu", "2024-01-02|us", "2024-01-03|eu", "2024-01-03|us"]).replace("'", '"')
    assert value(project, "regional_2d", "2024-01-03|us") == '["2024-01-02|us", "2024-01-03|us"]'
    assert value(project, "sales_2d", "2024-01-01") == '["2024-01-01|eu", "2024-01-01|us"]'


REGION_TOTAL = '''
from datamake import StaticPartitions, asset


@asset(partitions=StaticPartitions({regions}, name="region"), io_manager="json")
def targets(context):
    return context.partition_key


@asset(io_manager="json")
def listing(targets):
    return list(targets)
'''


def test_reordering_static_keys_rebuilds_what_receives_them_in_that_order(project):
    project.pipeline(REGION_TOTAL.format(regions=["us", "eu"]))
    made(project)
    assert value(project, "listing", None) == '["us", "eu"]'
    project.pipeline(REGION_TOTAL.format(regions=["eu", "us"]))
    assert stale(project) == {("listing", None)}  # the partitions themselves are as they were
    assert built(project) == {("listing", None)}
    assert value(project, "listing", None) == '["eu", "us"]'


def test_a_typo_in_a_list_of_partitions_is_an_error_not_a_smaller_selection(project):
    window(project)
    proc = project.run("make", "-p", "2024-01-02,2024-13-01", "orders")
    assert proc.returncode == 2, proc.stdout
    assert "'2024-13-01' matches no partition" in proc.stderr, proc.stderr
    assert stale(project, "orders") == {("orders", f"2024-01-0{d}") for d in range(1, 6)}  # nothing was built
    listed = {(a["key"], a["partition"]) for a in project.json("status", "-p", "2024-01-02,eu")["assets"]}
    assert {("orders", "2024-01-02"), ("targets", "eu")} <= listed  # each part matches some asset


DAILY_TOTAL = '''
from datamake import DailyPartitions, asset


@asset(partitions=DailyPartitions(start="2024-01-01", end="{end}"), io_manager="json")
def orders(context):
    return 1


@asset(io_manager="json")
def total(orders):
    return sum(orders.values())
'''


def test_a_year_of_days_added_to_a_range_is_one_short_reason_of_its_total(project):
    project.pipeline(DAILY_TOTAL.format(end="2024-01-03"))
    made(project)
    project.pipeline(DAILY_TOTAL.format(end="2025-01-01"))
    proc = project.run("status", "total")
    line = next(line for line in proc.stdout.splitlines() if "deps_changed" in line)
    assert line.endswith("dependencies changed: added orders[2024-01-03…2024-12-31] (364 partitions)"), line
    assert max(len(line) for line in proc.stdout.splitlines()) < 200
    made(project)
    assert value(project, "total", None) == "366"


WEEKLY = '''
from datamake import WeeklyPartitions, asset


@asset(partitions=WeeklyPartitions(start="2024-01-01", end="2024-02-05"), io_manager="json")
def weekly(context):
    return context.partition_key
'''


def test_a_day_given_for_a_weekly_asset_is_pointed_at_its_week(project):
    project.pipeline(WEEKLY)
    proc = project.run("make", "-p", "2024-01-17", "weekly")  # a Wednesday
    assert proc.returncode == 2
    assert "2024-01-17 is in the week 2024-01-15" in proc.stderr, proc.stderr
    assert built(project, "-p", "2024-01-15", "weekly") == {("weekly", "2024-01-15")}


# -- the selection language ---------------------------------------------------------------------------

@pytest.mark.parametrize("selection,hint", [
    ("orders | orders_3d", "write 'or' instead"),
    ("orders && orders_3d", "write 'and' instead"),
    ("!orders", "write 'not orders'"),
    ("orders,orders_3d", "separate keys with spaces: orders orders_3d"),
])
def test_operators_of_other_languages_are_told_their_word(project, selection, hint):
    window(project)
    proc = project.run("status", selection)
    assert proc.returncode == 2
    assert hint in proc.stderr, proc.stderr

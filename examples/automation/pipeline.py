"""A daily partitioned pipeline kept up to date with nobody at the keyboard.

- ``daily_orders`` (one partition per day) is made by the ``nightly`` schedule at 01:00 Paris
  time: each tick makes the day that just ended;
- ``incoming`` is a folder where files land; the ``incoming_changed`` sensor makes what
  depends on it whenever its contents change;
- ``dashboard`` must never lag the files by more than an hour: the daemon rebuilds it in time.

Run ``datamake daemon`` here (or ``datamake daemon --once --wait`` for one pass).
"""
import csv
import glob
import os

from datamake import DailyPartitions, Definitions, asset, schedule, source, source_sensor

HERE = os.path.dirname(os.path.abspath(__file__))

incoming = source("incoming/*.csv", name="incoming")


@asset(partitions=DailyPartitions(start="2024-01-01", timezone="Europe/Paris"), io_manager="json")
def daily_orders(context):
    """The orders of one day (here: a stand-in computed from the partition key)."""
    day = context.partition_key
    return {"day": day, "orders": int(day[-2:])}


@asset(io_manager="json")
def landed(incoming):
    """Every row of every CSV file in incoming/."""
    rows = []
    for path in sorted(glob.glob(os.path.join(HERE, "incoming", "*.csv"))):
        with open(path, newline="") as f:
            rows.extend(csv.DictReader(f))
    return rows


@asset(fresh_within="1h", io_manager="text")
def dashboard(landed):
    """What the team looks at: it must reflect the incoming files within the hour."""
    return f"{len(landed)} rows landed"


nightly = schedule(daily_orders, cron="0 1 * * *", timezone="Europe/Paris", name="nightly",
                   tags={"db": "warehouse"})

defs = Definitions(
    assets=[incoming, daily_orders, landed, dashboard],
    schedules=[nightly],
    sensors=[source_sensor(incoming, minimum_interval=10)],
)

"""Daily partitions, a 7-day rolling window, a region x day product, config and a check.

    cd examples/daily_sales
    datamake make -p 2024-03-01...2024-03-07     # backfill one week
    datamake status                               # ranges of fresh / stale partitions
    datamake make --config daily_orders.orders_per_day=50 -p 2024-03-03
"""
import random
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from datamake import (DailyPartitions, MultiPartitions, StaticPartitions, TimeWindowMapping, asset,
                      asset_check)

days = DailyPartitions(start="2024-03-01", end="2024-04-01", timezone="Europe/Berlin")
regions = StaticPartitions(["north", "south"], name="region")


@dataclass
class Generator:
    orders_per_day: int = 40


@asset(partitions=days, config=Generator)
def daily_orders(context, config) -> pa.Table:
    """Synthetic orders for one day (seeded by the day, so a rebuild gives the same table)."""
    rng = random.Random(context.partition_key)
    n = config.orders_per_day
    return pa.table({
        "region": [rng.choice(["north", "south"]) for _ in range(n)],
        "amount": [round(rng.uniform(5, 120), 2) for _ in range(n)],
    })


@asset_check(asset=daily_orders, blocking=True)
def amounts_are_positive(daily_orders):
    """Every order has a positive amount."""
    return pc.all(pc.greater(daily_orders["amount"], 0)).as_py()


@asset(partitions=days, partition_mapping={"daily_orders": TimeWindowMapping(start_offset=-6)})
def revenue_7d(daily_orders) -> float:
    """Revenue of the 7 days ending on this partition's day (fewer at the start)."""
    return round(sum(pc.sum(t["amount"]).as_py() for t in daily_orders.values()), 2)


@asset(partitions=MultiPartitions(days, regions))
def regional_revenue(context, daily_orders) -> float:
    """One region's revenue on one day."""
    region = context.partition_key.split("|")[1]
    rows = daily_orders.filter(pc.equal(daily_orders["region"], region))
    return round(pc.sum(rows["amount"]).as_py() or 0.0, 2)


@asset(io_manager="text")
def march_report(revenue_7d) -> str:
    """The rolling revenue of every day built so far."""
    return "".join(f"{day}  {value:>10,.2f}\n" for day, value in sorted(revenue_7d.items()))

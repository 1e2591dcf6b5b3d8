"""``datamake init``: write a starter project that ``datamake make`` builds right away."""
from __future__ import annotations

import os
from typing import Dict, List

from datamake.core.errors import ConfigError

_PIPELINE = '''"""A starter datamake project. Edit a function, then run `datamake status` to see what became stale."""
import csv
import io

from datamake import asset, source

# An observed source: editing the file makes its users stale, touching it does not.
orders_csv = source("data/orders.csv", name="orders_csv", load="text")


@asset
def orders(orders_csv):
    """The orders, one dict per row of the CSV file."""
    return [dict(row, amount=float(row["amount"])) for row in csv.DictReader(io.StringIO(orders_csv))]


@asset
def revenue_by_region(orders):
    """Total revenue per region."""
    totals = {}
    for row in orders:
        totals[row["region"]] = round(totals.get(row["region"], 0.0) + row["amount"], 2)
    return dict(sorted(totals.items()))


@asset(io_manager="text")
def report(revenue_by_region):
    """A plain-text report: `datamake show report` prints it."""
    lines = [f"{region}: {amount:.2f}" for region, amount in revenue_by_region.items()]
    return "Revenue by region\\n" + "\\n".join(lines) + "\\n"
'''

_ORDERS = """order_id,region,amount
1,north,120.50
2,south,80.00
3,north,42.25
4,east,310.00
5,south,19.99
"""

_TOML = """[project]
definitions = "pipeline.py"

[storage]
root = ".datamake"
"""

STARTER_FILES: Dict[str, str] = {
    "datamake.toml": _TOML,
    "pipeline.py": _PIPELINE,
    os.path.join("data", "orders.csv"): _ORDERS,
    ".gitignore": ".datamake/\n",
}


def write_starter(directory: str) -> List[str]:
    """Write the starter project into ``directory`` (created if needed); returns the files written.

    Nothing is overwritten: a folder that already holds a ``datamake.toml`` (or
    any of the starter's files) is a ConfigError naming them.
    """
    existing = [name for name in STARTER_FILES if os.path.exists(os.path.join(directory, name))]
    if existing:
        raise ConfigError(f"{os.path.abspath(directory)} already has {', '.join(sorted(existing))}; "
                          "datamake init writes a new project and overwrites nothing",
                          hint="run it in an empty folder: datamake init NEW_FOLDER")
    written = []
    for name, text in STARTER_FILES.items():
        path = os.path.join(directory, name)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "x", encoding="utf-8") as f:
            f.write(text)
        written.append(name)
    return written

"""A small sales pipeline: bundled CSV -> cleaned table -> aggregates -> a text report.

Run it from the repository root with `datamake make`, then edit a function and
run `datamake status` to see what became stale and why.
"""
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as csv

from datamake import asset, source

# An observed source: datamake hashes the file (size+mtime first, content to
# confirm), so editing it makes raw_orders stale; touching it does not.
orders_csv = source("data/orders.csv", name="orders_csv")

MIN_QUANTITY = 1  # a constant the cleaning step uses: changing it makes clean_orders stale


@asset(group="ingest")
def raw_orders(orders_csv: str) -> pa.Table:
    """Orders as exported by the shop, one row per order line."""
    return csv.read_csv(orders_csv)


def is_complete(table: pa.Table):
    """Rows with a quantity of at least MIN_QUANTITY (a helper: its code is part of clean_orders' version)."""
    return pc.and_(pc.is_valid(table["quantity"]), pc.greater_equal(table["quantity"], MIN_QUANTITY))


@asset(group="clean")
def clean_orders(raw_orders: pa.Table, context) -> pa.Table:
    """Shipped orders with a quantity, and their revenue."""
    shipped = raw_orders.filter(pc.and_(pc.equal(raw_orders["status"], "shipped"), is_complete(raw_orders)))
    revenue = pc.multiply(pc.cast(shipped["quantity"], pa.float64()), shipped["unit_price"])
    context.log.info("kept %d of %d orders", shipped.num_rows, raw_orders.num_rows)
    context.add_metadata(dropped=raw_orders.num_rows - shipped.num_rows)
    return shipped.append_column("revenue", pc.round(revenue, 2))


@asset(group="marts")
def revenue_by_region(clean_orders: pa.Table) -> pa.Table:
    """Total revenue and order count per region."""
    grouped = clean_orders.group_by("region").aggregate([("revenue", "sum"), ("order_id", "count")])
    grouped = grouped.rename_columns(["region", "revenue", "orders"])
    return grouped.sort_by("region").set_column(1, "revenue", pc.round(grouped.sort_by("region")["revenue"], 2))


@asset(group="marts")
def revenue_by_month(clean_orders: pa.Table) -> pa.Table:
    """Total revenue per calendar month."""
    months = pc.strftime(clean_orders["order_date"], format="%Y-%m")
    table = pa.table({"month": months, "revenue": clean_orders["revenue"]})
    grouped = table.group_by("month").aggregate([("revenue", "sum")]).sort_by("month")
    return pa.table({"month": grouped["month"], "revenue": pc.round(grouped["revenue_sum"], 2)})


@asset(group="reports", io_manager="text")
def sales_report(revenue_by_region: pa.Table, revenue_by_month: pa.Table) -> str:
    """A plain-text summary for the weekly email."""
    total = pc.sum(revenue_by_region["revenue"]).as_py()
    lines = [f"Revenue, all regions: {total:,.2f}", "", "By region:"]
    for row in revenue_by_region.to_pylist():
        lines.append(f"  {row['region']:<6} {row['revenue']:>10,.2f}  ({row['orders']} orders)")
    lines += ["", "By month:"]
    lines += [f"  {row['month']}  {row['revenue']:>10,.2f}" for row in revenue_by_month.to_pylist()]
    return "\n".join(lines) + "\n"

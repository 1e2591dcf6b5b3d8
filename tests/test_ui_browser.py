"""The web UI in a real headless Chromium (Debian's, driven by Playwright): the tour a user takes,
live progress of a run started in a terminal, and first paint of a 10,000-asset graph.

Without Chromium these tests skip, except under CI (the ``CI`` variable set), where they fail:
``.ci/run`` installs it. ``DATAMAKE_UI_SCREENSHOTS=DIR`` keeps the screenshots (docs/img).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("DATAMAKE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

TOUR = '''
import pyarrow as pa
from datamake import DailyPartitions, asset

@asset(group="ingest")
def orders():
    """Orders as exported by the shop."""
    return pa.table({"order_id": list(range(1, 301)), "qty": [i % 7 for i in range(300)],
                     "price": [round(3.5 + i % 11, 2) for i in range(300)]})

@asset(group="ingest")
def customers():
    return pa.table({"customer": ["ada", "grace", "linus"], "country": ["UK", "US", "FI"]})

@asset(group="sales")
def clean_orders(orders):
    return orders.filter(pa.compute.greater(orders["qty"], THRESHOLD))

@asset(group="sales")
def revenue(clean_orders, customers):
    return {"revenue": sum(clean_orders["price"].to_pylist()), "customers": customers.num_rows}

@asset(group="ingest", partitions=DailyPartitions(start="2024-01-01", end="2024-02-15"))
def visits(context):
    return {"day": context.partition_key, "visits": int(context.partition_key[-2:]) * 7}

@asset(group="reports")
def report(revenue):
    return f"revenue: {revenue['revenue']:.2f}"
'''


def _browser_executable() -> str:
    if os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    message = f"no Chromium at {CHROMIUM} (install Debian's chromium package; .ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``datamake ui`` in its own process, as a user starts it."""

    def __init__(self, root: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "datamake", "-C", str(root), "ui", "--port", str(self.port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"datamake ui exited: {self.proc.stdout.read()}")
            try:
                with urllib.request.urlopen(self.url + "/api/project", timeout=60) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("datamake ui did not answer within 120 s")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def _project(root: Path, source: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pipeline.py").write_text(source)
    (root / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    return root


@pytest.fixture(scope="session")
def browser():
    executable = _browser_executable()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="session")
def tour(tmp_path_factory):
    """A small shop project: built once, then clean_orders edited (stale: code_changed), report never built."""
    root = _project(tmp_path_factory.mktemp("tour"), TOUR.replace("THRESHOLD", "0"))
    subprocess.run([sys.executable, "-m", "datamake", "-C", str(root), "make", "revenue", "visits",
                    "-p", "2024-01-01...2024-01-20"], check=True, capture_output=True, timeout=120)
    (root / "pipeline.py").write_text(TOUR.replace("THRESHOLD", "2"))
    server = Server(root)
    yield root, server
    server.stop()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    pg = context.new_page()
    yield pg
    context.close()


def _shot(page, name: str, tmp_path: Path) -> None:
    target = os.environ.get("DATAMAKE_UI_SCREENSHOTS")
    path = Path(target) / name if target else tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))


def test_the_tour_graph_search_asset_why_make_run(tour, page, tmp_path):
    root, server = tour
    page.goto(server.url + "/")
    page.wait_for_selector('body[data-ready="1"]')
    page.wait_for_selector('.node[data-key="clean_orders"].stale')
    assert page.locator('.node[data-key="report"].never').count() == 1
    assert page.locator('.node[data-key="orders"].fresh').count() == 1
    _shot(page, "ui-graph.png", tmp_path)

    page.fill("#search", "clean")
    page.click('#search-results a:text("clean_orders")')
    page.wait_for_url("**/assets/clean_orders")
    page.wait_for_selector(".reasons")
    assert "code_changed" in page.inner_text(".reasons")
    assert page.locator("h1 .badge.stale").count() == 1
    page.wait_for_selector(".preview table")
    assert "rows 1–25 of 257" in page.inner_text(".preview")  # the value built before the edit
    _shot(page, "ui-asset-stale.png", tmp_path)

    page.click("#make-button")
    page.wait_for_selector("#launch-state.done", timeout=60_000)
    page.wait_for_selector("h1 .badge.fresh", timeout=30_000)  # the page follows the run by itself
    assert "Fresh" in page.inner_text(".card")
    _shot(page, "ui-asset.png", tmp_path)

    page.click("#launch-run")
    page.wait_for_url("**/runs/*")
    page.wait_for_selector("h1 .badge.ok")
    assert "clean_orders" in page.inner_text("main") and page.inner_text("#run-meta").startswith("ui ·")
    _shot(page, "ui-run.png", tmp_path)

    missing = page.goto(server.url + "/assets/no_such_asset")
    assert missing.status == 404 and "no_such_asset" in page.inner_text("body")


def test_a_run_started_in_a_terminal_shows_live(tour, page, tmp_path):
    root, server = tour
    page.goto(server.url + "/")
    page.wait_for_selector('.node[data-key="report"]')
    subprocess.run([sys.executable, "-m", "datamake", "-C", str(root), "make", "report"], check=True,
                   capture_output=True, timeout=120)
    page.wait_for_selector('.node[data-key="report"].fresh', timeout=30_000)  # no reload
    page.goto(server.url + "/runs")
    page.wait_for_selector("main table")
    assert page.locator("main tbody tr").count() >= 2
    _shot(page, "ui-runs.png", tmp_path)


def test_the_partition_grid_backfills_a_range(tour, page, tmp_path):
    root, server = tour
    page.goto(server.url + "/assets/visits")
    page.wait_for_selector(".pgrid .cell")
    assert page.locator(".pgrid .cell.fresh").count() == 20 and page.locator(".pgrid .cell.never").count() == 25
    page.click('.cell[data-partition="2024-01-21"]')
    page.wait_for_selector('.cell.chosen[data-partition="2024-01-21"]')
    assert "never_materialized" in page.inner_text(".reasons")
    page.click('.cell[data-partition="2024-01-25"]', modifiers=["Shift"])
    page.wait_for_selector(".cell.inrange")
    assert "2024-01-21 … 2024-01-25 (5 partitions)" in page.inner_text("#range")
    _shot(page, "ui-partitions.png", tmp_path)
    page.click("#make-button")
    page.wait_for_selector("#launch-state.done", timeout=60_000)
    assert "make -p 2024-01-21...2024-01-25 -- visits" in page.inner_text("#launch-title")
    page.wait_for_function("document.querySelectorAll('.pgrid .cell.fresh').length === 25", timeout=30_000)


def test_a_broken_definitions_module_is_shown_and_the_page_recovers(browser, tmp_path):
    good = "from datamake import asset\n\n@asset\ndef only():\n    return 1\n"
    root = _project(tmp_path / "broken", good)
    server = Server(root)
    try:
        context = browser.new_context(viewport={"width": 1400, "height": 860})
        page = context.new_page()
        page.goto(server.url + "/")
        page.wait_for_selector('.node[data-key="only"]')
        (root / "pipeline.py").write_text(good + "\nundefined_helper()\n")
        page.wait_for_selector("#load-error:not([hidden])", timeout=30_000)
        text = page.inner_text("#load-error-text")
        assert "NameError" in text and "undefined_helper" in text and "pipeline.py" in text
        _shot(page, "ui-load-error.png", tmp_path)
        (root / "pipeline.py").write_text(good.replace("only", "renamed"))
        page.wait_for_selector('.node[data-key="renamed"]', timeout=30_000)  # no reload, no restart
        assert page.locator("#load-error").is_hidden()
        context.close()
    finally:
        server.stop()


def _big_project(root: Path, n: int, groups: int) -> Path:
    per = n // groups
    lines = ["from datamake import asset\n"]
    for i in range(n):
        deps = sorted({(i - 1) // 2, (i - 1) // 3}) if i else []
        args = ", ".join(f"a{d}" for d in deps)
        lines.append(f'@asset(group="g{i // per:03d}")\ndef a{i}({args}):\n    return {i}\n')
    return _project(root, "\n".join(lines))


def test_first_paint_of_10000_assets(browser, tmp_path):
    server = Server(_big_project(tmp_path / "big", 10_000, 100))
    try:
        context = browser.new_context(viewport={"width": 1400, "height": 860})
        page = context.new_page()
        page.goto(server.url + "/")
        page.wait_for_function("window.datamakeMarks && window.datamakeMarks.states", timeout=60_000)
        marks = page.evaluate("window.datamakeMarks")  # ms since navigation start, in the page
        first_paint, coloured = marks["structure"] / 1000, marks["states"] / 1000
        print(f"\n10,000 assets in 100 groups: first paint {first_paint:.2f} s, coloured by state {coloured:.2f} s")
        assert page.locator(".node.group").count() == 100  # collapsed into their groups
        _shot(page, "ui-10k.png", tmp_path)
        page.click('.node.group[data-group="g000"]')
        page.wait_for_selector('.node[data-key="a0"]')
        assert page.locator(".node.group").count() == 99
        context.close()
        assert 0 < first_paint <= coloured  # the structure first, then the states (the times are figures, not limits)
    finally:
        server.stop()

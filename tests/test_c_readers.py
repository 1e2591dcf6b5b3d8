"""Files that readers written in C or C++ open without Python's ``open``: DuckDB's databases and the files
its SQL names. Each test makes a small project whose assets read such files (names
known only at run time, or inside SQL text), edits them, and checks that ``status`` says stale, and that a
file the asset makes itself does not keep it stale."""
from __future__ import annotations

import pytest

from tests.test_execution_soundness import stored_value

duckdb = pytest.importorskip("duckdb")

DUCKDB_PIPELINE = '''
import json
from pathlib import Path

import duckdb
from datamake import asset

HERE = Path(__file__).parent


def config():
    with open(HERE / "config.json") as f:  # the names of the files: known only at run time
        return json.load(f)


@asset
def literal_in_sql():
    return duckdb.sql("SELECT count(*) FROM 'orders.csv'").fetchall()[0][0]


@asset
def read_csv_auto_in_query():
    return duckdb.query(f"SELECT count(*) FROM read_csv_auto('{config()['csv']}')").fetchall()[0][0]


@asset
def glob_in_execute():
    return duckdb.execute("SELECT count(*) FROM read_parquet('parts/*.parquet')").fetchall()[0][0]


@asset
def connection_methods():
    con = duckdb.connect()
    rows = con.sql("SELECT count(*) FROM 'a.csv'").fetchall()[0][0]
    rows += con.execute("SELECT count(*) FROM read_csv(?)", [config()["param"]]).fetchall()[0][0]
    return rows + con.query('SELECT count(*) FROM "b.csv"').fetchall()[0][0]


@asset
def database_file():
    con = duckdb.connect(config()["db"])
    try:
        return con.execute("SELECT count(*) FROM t").fetchall()[0][0]
    finally:
        con.close()


@asset
def attached_database():
    con = duckdb.connect()
    con.execute(f"ATTACH '{config()['attached']}' AS w (READ_ONLY)")
    return con.execute("SELECT count(*) FROM w.t").fetchall()[0][0]


@asset
def exports():  # writes files its SQL names: its own, not inputs, however often it runs
    con = duckdb.connect()
    con.execute("ATTACH 'export.duckdb' AS e")
    con.execute("CREATE OR REPLACE TABLE e.t AS SELECT * FROM range(3)")
    con.execute("COPY (SELECT * FROM e.t) TO 'export.csv' (HEADER)")
    return 3


@asset
def builds_its_own_database():
    con = duckdb.connect(config()["own_db"])
    try:
        con.execute("CREATE OR REPLACE TABLE t AS SELECT 1 AS a")
        return con.execute("SELECT count(*) FROM t").fetchall()[0][0]
    finally:
        con.close()
'''


def _csv(project, relpath: str, rows: int) -> None:
    project.write(relpath, "a\n" + "".join(f"{i}\n" for i in range(rows)))


def _database(project, relpath: str, rows: int) -> None:
    con = duckdb.connect(str(project.root / relpath))
    try:
        con.execute(f"CREATE OR REPLACE TABLE t AS SELECT * FROM range({rows})")
    finally:
        con.close()


def _parquet_part(project, name: str) -> None:
    (project.root / "parts").mkdir(exist_ok=True)
    duckdb.sql(f"COPY (SELECT 1 AS a) TO '{project.root / 'parts' / name}' (FORMAT parquet)")


def test_files_named_in_duckdb_sql_and_databases_it_connects_to_are_inputs(project):
    project.pipeline(DUCKDB_PIPELINE)
    project.write("config.json", '{"csv": "in.csv", "param": "p.csv", "db": "warehouse.duckdb", '
                                 '"own_db": "scratch.duckdb", "attached": "attached.duckdb"}')
    for relpath in ("orders.csv", "in.csv", "a.csv", "p.csv", "b.csv"):
        _csv(project, relpath, 1)
    _parquet_part(project, "p1.parquet")
    _database(project, "warehouse.duckdb", 1)
    _database(project, "attached.duckdb", 1)
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert "asset 'literal_in_sql' read orders.csv, which is not a declared source" in proc.stderr
    assert "asset 'database_file' read warehouse.duckdb, which is not a declared source" in proc.stderr
    assert set(project.states().values()) == {"fresh"}  # (its own database: not an input)
    project.run("make", "-B", "exports", check=True)  # (its files there now: still its own)
    assert project.states()["exports"] == "fresh"
    for relpath in ("orders.csv", "in.csv", "p.csv"):
        _csv(project, relpath, 2)
    _parquet_part(project, "p2.parquet")
    _database(project, "warehouse.duckdb", 2)
    _database(project, "attached.duckdb", 2)
    states = project.states()
    assert [states.pop(key) for key in ("builds_its_own_database", "exports")] == ["fresh", "fresh"]
    assert set(states.values()) == {"stale"}, states
    assert project.outcomes()["database_file"] == "built"
    values = [stored_value(project, key) for key in ("literal_in_sql", "read_csv_auto_in_query", "glob_in_execute",
                                                     "connection_methods", "database_file", "attached_database")]
    assert values == [2, 2, 2, 4, 2, 2]
    _csv(project, "b.csv", 3)  # (a quoted identifier names a file too)
    assert project.states()["connection_methods"] == "stale"


"""Files that readers written in C or C++ open without Python's ``open``: DuckDB's databases and the files
its SQL names, HDF5 files h5py and PyTables open, SQLite databases a statement attaches. Each test makes a
small project whose assets read such files (names known only at run time, or inside SQL text), edits
them, and checks that ``status`` says stale, and that a file the asset makes itself does not keep it
stale."""
from __future__ import annotations

import pytest

from tests.test_execution_soundness import stored_value


def runtime_paths(imports: str) -> str:
    """The head of a pipeline whose assets read files named in ``config.json`` (known only at run time),
    with ``imports`` (the reader's library)."""
    return f'''
import json
from pathlib import Path

{imports}
from datamake import asset

HERE = Path(__file__).parent


def config():
    with open(HERE / "config.json") as f:
        return json.load(f)
'''


DUCKDB_PIPELINE = runtime_paths('import duckdb') + '''

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
    import duckdb

    con = duckdb.connect(str(project.root / relpath))
    try:
        con.execute(f"CREATE OR REPLACE TABLE t AS SELECT * FROM range({rows})")
    finally:
        con.close()


def _parquet_part(project, name: str) -> None:
    import duckdb

    (project.root / "parts").mkdir(exist_ok=True)
    duckdb.sql(f"COPY (SELECT 1 AS a) TO '{project.root / 'parts' / name}' (FORMAT parquet)")


def test_files_named_in_duckdb_sql_and_databases_it_connects_to_are_inputs(project):
    pytest.importorskip("duckdb")
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


H5PY_PIPELINE = runtime_paths('import h5py') + '''

@asset
def read_only():
    with h5py.File(config()["read"], "r") as f:
        return int(f["x"][()].sum())


@asset
def default_mode():
    with h5py.File(name=config()["default"]) as f:
        return int(f["x"][()].sum())


@asset
def appended_to():
    with h5py.File(config()["append"], "a") as f:  # opened to append, only read here
        return int(f["x"][()].sum())


@asset
def appends_to_its_own():
    with h5py.File(config()["log"], "a") as f:  # adds a dataset at each run: its own file, not an input
        f[f"run{len(f)}"] = [len(f)]
        return len(f)


@asset
def writes_its_own():
    with h5py.File(config()["own"], "w") as f:
        f["x"] = [1, 2, 3]
    with h5py.File(config()["own"], "r") as f:  # and reads it back: its own file, not an input
        return int(f["x"][()].sum())
'''


def test_hdf5_files_h5py_opens_to_read_are_inputs_and_one_it_makes_is_not(project):
    h5py = pytest.importorskip("h5py")

    def h5(relpath, values):
        with h5py.File(str(project.root / relpath), "w") as f:
            f["x"] = values

    project.pipeline(H5PY_PIPELINE)
    project.write("config.json", '{"read": "r.h5", "default": "d.h5", "append": "a.h5", "own": "out.h5", '
                                 '"log": "log.h5"}')
    for relpath in ("r.h5", "d.h5", "a.h5"):
        h5(relpath, [1])
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert "asset 'read_only' read r.h5, which is not a declared source" in proc.stderr
    assert set(project.states().values()) == {"fresh"}
    for relpath in ("r.h5", "d.h5", "a.h5"):
        h5(relpath, [1, 2])
    states = project.states()
    assert [states.pop(key) for key in ("writes_its_own", "appends_to_its_own")] == ["fresh", "fresh"]
    assert set(states.values()) == {"stale"}, states
    project.run("make", check=True)
    assert [stored_value(project, key) for key in ("read_only", "default_mode", "appended_to")] == [3, 3, 3]


HDFSTORE_PIPELINE = runtime_paths('import pandas as pd') + '''

@asset
def read_hdf():
    return int(pd.read_hdf(config()["table"], "t")["a"].sum())


@asset
def writes_its_own_store():
    pd.DataFrame({"a": [1, 2]}).to_hdf(config()["own"], key="t")
    return int(pd.read_hdf(config()["own"], "t")["a"].sum())
'''


def test_a_table_pandas_reads_from_an_hdf5_store_is_an_input(project):
    pytest.importorskip("tables")
    import pandas as pd

    def store(values):
        pd.DataFrame({"a": values}).to_hdf(str(project.root / "t.h5"), key="t", mode="w")

    project.pipeline(HDFSTORE_PIPELINE)
    project.write("config.json", '{"table": "t.h5", "own": "own.h5"}')
    store([1])
    project.run("make", check=True)
    assert set(project.states().values()) == {"fresh"}
    store([1, 2])
    assert project.states() == {"read_hdf": "stale", "writes_its_own_store": "fresh"}
    project.run("make", check=True)
    assert stored_value(project, "read_hdf") == 3


SQLITE_ATTACH_PIPELINE = '''
import sqlite3

from datamake import asset


@asset
def attached():
    con = sqlite3.connect(":memory:")
    con.execute("ATTACH DATABASE 'other.db' AS o")
    return con.execute("SELECT count(*) FROM o.t").fetchall()[0][0]


@asset
def loads_its_own():  # a database it attaches and fills: its own, not an input
    con = sqlite3.connect(":memory:")
    con.execute("ATTACH DATABASE 'own.db' AS o")
    con.execute("CREATE TABLE IF NOT EXISTS o.t (a)")
    con.execute("INSERT INTO o.t VALUES (1)")
    con.commit()
    return 1
'''


def test_a_database_a_sqlite_statement_attaches_is_an_input(project):
    import sqlite3

    def add_row():
        con = sqlite3.connect(str(project.root / "other.db"))
        con.execute("CREATE TABLE IF NOT EXISTS t (a)")
        con.execute("INSERT INTO t VALUES (1)")
        con.commit()
        con.close()

    project.pipeline(SQLITE_ATTACH_PIPELINE)
    add_row()
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert "asset 'attached' read other.db, which is not a declared source" in proc.stderr
    assert set(project.states().values()) == {"fresh"}
    add_row()
    assert project.states() == {"attached": "stale", "loads_its_own": "fresh"}
    project.run("make", check=True)
    assert stored_value(project, "attached") == 2

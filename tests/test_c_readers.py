"""Files that readers written in C or C++ open without Python's ``open``: DuckDB's databases and the files
its SQL names, HDF5 files h5py and PyTables open, SQLite databases a statement attaches, images, videos and
storage files OpenCV reads, XML files lxml parses, netCDF files netCDF4 opens, files pyarrow copies. Each
test makes a small project whose assets read such files (names known only at run time, or inside SQL
text), edits them, and checks that ``status`` says stale, and that a file the asset makes itself does not
keep it stale."""
from __future__ import annotations

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
    import h5py

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


OPENCV_PIPELINE = runtime_paths('import cv2\nimport numpy as np') + '''

@asset
def image():
    return int(cv2.imread(config()["image"]).sum())


@asset
def pages():
    ok, images = cv2.imreadmulti(filename=config()["pages"])
    return int(sum(page.sum() for page in images))


def frame_count(capture):
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


@asset
def video():
    return frame_count(cv2.VideoCapture(config()["video"]))


@asset
def image_sequence():  # frames/000.png, frames/001.png...
    capture = cv2.VideoCapture()
    capture.open(config()["frames"])
    return frame_count(capture)


@asset
def settings():
    storage = cv2.FileStorage(config()["settings"], cv2.FILE_STORAGE_READ)
    try:
        return storage.getNode("x").real()
    finally:
        storage.release()


@asset
def writes_its_own():  # an image and a storage file it makes, and reads back: its own, not inputs
    cv2.imwrite(config()["own"], np.zeros((2, 2, 3), np.uint8))
    storage = cv2.FileStorage(config()["own_settings"], cv2.FILE_STORAGE_WRITE)
    storage.write("x", 1.0)
    storage.release()
    return int(cv2.imread(config()["own"]).sum())


@asset
def counts_its_runs():  # reads the count it keeps in an image of its own, and writes it back: not an input
    image = cv2.imread(config()["count"])
    count = 0 if image is None else int(image[0, 0, 0])
    cv2.imwrite(config()["count"], np.full((2, 2, 3), count + 1, np.uint8))
    return count
'''


def test_images_videos_and_storage_files_opencv_reads_are_inputs_and_ones_it_writes_are_not(project):
    import cv2
    import numpy as np

    def make(value):
        image = np.full((16, 16, 3), value, np.uint8)
        cv2.imwrite(str(project.root / "a.png"), image)
        cv2.imwritemulti(str(project.root / "pages.tiff"), [image, image])
        writer = cv2.VideoWriter(str(project.root / "v.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 5, (16, 16))
        for _ in range(value):
            writer.write(image)
        writer.release()
        (project.root / "frames").mkdir(exist_ok=True)
        cv2.imwrite(str(project.root / "frames" / f"{value - 1:03d}.png"), image)
        storage = cv2.FileStorage(str(project.root / "settings.yml"), cv2.FILE_STORAGE_WRITE)
        storage.write("x", float(value))
        storage.release()

    project.pipeline(OPENCV_PIPELINE)
    project.write("config.json", '{"image": "a.png", "pages": "pages.tiff", "video": "v.avi", '
                                 '"frames": "frames/%03d.png", "settings": "settings.yml", "own": "own.png", '
                                 '"own_settings": "own.yml", "count": "count.png"}')
    make(1)
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert "asset 'image' read a.png, which is not a declared source" in proc.stderr
    assert "read own.png" not in proc.stderr and "read count.png" not in proc.stderr
    assert set(project.states().values()) == {"fresh"}
    make(2)
    states = project.states()
    assert [states.pop(key) for key in ("writes_its_own", "counts_its_runs")] == ["fresh", "fresh"]
    assert set(states.values()) == {"stale"}, states
    project.run("make", check=True)
    assert [stored_value(project, key) for key in ("image", "video", "image_sequence", "settings")] == \
        [16 * 16 * 3 * 2, 2, 2, 2.0]


LXML_PIPELINE = runtime_paths('from lxml import etree\nimport lxml.html') + '''

@asset
def tree():
    return len(etree.parse(config()["xml"]).getroot())


@asset
def html_page():
    return len(lxml.html.parse(HERE / config()["html"]).getroot().find("body"))


@asset
def transformed():
    transform = etree.XSLT(etree.parse(source=config()["xsl"]))
    return str(transform(etree.XML("<r/>"))).strip().splitlines()[-1]


@asset
def writes_its_own():  # a document it writes and parses back: its own, not an input
    etree.ElementTree(etree.XML("<r><x/></r>")).write(config()["own"])
    return len(etree.parse(config()["own"]).getroot())
'''


def test_xml_files_lxml_parses_are_inputs(project):
    def make(count):
        project.write("a.xml", f"<r>{'<x/>' * count}</r>")
        project.write("p.html", f"<html><body>{'<p>x</p>' * count}</body></html>")
        project.write("t.xsl", '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
                               f'<xsl:template match="/"><o>{count}</o></xsl:template></xsl:stylesheet>')

    project.pipeline(LXML_PIPELINE)
    project.write("config.json", '{"xml": "a.xml", "html": "p.html", "xsl": "t.xsl", "own": "own.xml"}')
    make(1)
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert "asset 'tree' read a.xml, which is not a declared source" in proc.stderr
    assert set(project.states().values()) == {"fresh"}
    make(2)
    assert project.states() == {"html_page": "stale", "transformed": "stale", "tree": "stale",
                                "writes_its_own": "fresh"}
    project.run("make", check=True)
    assert [stored_value(project, key) for key in ("tree", "html_page", "transformed")] == [2, 2, "<o>2</o>"]


NETCDF_PIPELINE = runtime_paths('import netCDF4') + '''

def total(dataset):
    with dataset:
        return int(dataset["x"][:].sum())


@asset
def read_only():
    return total(netCDF4.Dataset(config()["read"], mode="r"))


@asset
def default_mode():
    return total(netCDF4.Dataset(filename=config()["default"]))


@asset
def appended_to():  # opened to append (which rewrites the file), only read here
    return total(netCDF4.Dataset(config()["append"], "a"))


@asset
def several():
    return total(netCDF4.MFDataset(config()["parts"]))


@asset
def writes_its_own():  # a file it makes and reads back: its own, not an input
    with netCDF4.Dataset(config()["own"], "w") as dataset:
        dataset.createDimension("t", 1)
        dataset.createVariable("x", "i4", ("t",))[:] = [1]
    return total(netCDF4.Dataset(config()["own"]))


@asset
def rewrites_its_own():  # reads the file it keeps, then writes it anew: its own, not an input
    try:
        runs = total(netCDF4.Dataset(config()["kept"]))
    except FileNotFoundError:
        runs = 0
    with netCDF4.Dataset(config()["kept"], "w") as dataset:
        dataset.createDimension("t", 1)
        dataset.createVariable("x", "i4", ("t",))[:] = [runs + 1]
    return runs
'''


def test_netcdf_files_netcdf4_opens_to_read_are_inputs_and_one_it_makes_is_not(project):
    import netCDF4

    def make(relpath, values):
        with netCDF4.Dataset(str(project.root / relpath), "w", format="NETCDF4_CLASSIC") as dataset:
            dataset.createDimension("t", None)
            dataset.createVariable("x", "i4", ("t",))[:] = values

    project.pipeline(NETCDF_PIPELINE)
    project.write("config.json", '{"read": "r.nc", "default": "d.nc", "append": "a.nc", "parts": "parts/*.nc", '
                                 '"own": "own.nc", "kept": "kept.nc"}')
    (project.root / "parts").mkdir()
    for relpath in ("r.nc", "d.nc", "a.nc", "parts/1.nc", "parts/2.nc"):
        make(relpath, [1])
    proc = project.run("make")
    assert proc.returncode == 0, proc.stderr
    assert "asset 'read_only' read r.nc, which is not a declared source" in proc.stderr
    assert "read own.nc" not in proc.stderr and "read kept.nc" not in proc.stderr
    assert set(project.states().values()) == {"fresh"}
    for relpath in ("r.nc", "d.nc", "a.nc", "parts/2.nc"):
        make(relpath, [1, 2])
    states = project.states()
    assert [states.pop(key) for key in ("writes_its_own", "rewrites_its_own")] == ["fresh", "fresh"]
    assert set(states.values()) == {"stale"}, states
    project.run("make", check=True)
    assert [stored_value(project, key) for key in ("read_only", "default_mode", "appended_to", "several")] == \
        [3, 3, 3, 4]


PYARROW_COPY_PIPELINE = runtime_paths('import pyarrow.fs') + '''

@asset
def copied():  # copies the raw files, then reads the copies
    Path("work").mkdir(exist_ok=True)
    pyarrow.fs.copy_files(config()["raw"], "work")
    return sorted(path.read_text() for path in Path("work").iterdir())
'''


def test_files_pyarrow_copies_are_inputs_of_the_asset_that_reads_the_copies(project):
    project.pipeline(PYARROW_COPY_PIPELINE)
    project.write("config.json", '{"raw": "raw"}')
    project.write("raw/a.txt", "1")
    project.run("make", check=True)
    assert project.states() == {"copied": "fresh"}
    project.write("raw/a.txt", "2")
    assert project.states() == {"copied": "stale"}
    project.run("make", check=True)
    assert stored_value(project, "copied") == ["2"]

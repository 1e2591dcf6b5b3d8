"""Every IO manager round-trips through the real Store, locally and on ``memory://``."""
from __future__ import annotations

import datetime
import decimal
import uuid

import pandas as pd
import pyarrow as pa
import pytest

from datamake.storage import iomanagers
from datamake.core.errors import DefinitionError
from datamake.core.manifest import Manifest
from datamake.storage.store import CorruptArtifactError, Store


@pytest.fixture
def project(inprocess_project):
    return inprocess_project  # commands in this process; the abort test starts real ones


@pytest.fixture(params=["local", "memory"])
def store(request, tmp_path) -> Store:
    if request.param == "local":
        return Store(str(tmp_path / "store"))
    return Store(f"memory://iomanagers-{uuid.uuid4().hex}")


def save(store: Store, value, name=None) -> Manifest:
    """Write ``value`` as an asset would and return the manifest that records it."""
    manager = iomanagers.choose(value, name)
    artifact, size = store.write_artifact(lambda f: manager.dump(value, f))
    return Manifest(key="k", code_version="1", provenance="p", data_version=artifact, artifact=artifact,
                    size=size, io_manager=manager.name)


def arrow_table():
    return pa.table({
        "id": pa.array([1, 2, None], pa.int64()),
        "name": ["a", "é", None],
        "price": [1.5, 1e300, -0.0],
        "when": pa.array([datetime.date(2024, 1, 1), None, datetime.date(1999, 12, 31)]),
        "tags": [["x"], [], None],
    })


def pandas_frame():
    return pd.DataFrame({"id": [1, 2, 3], "name": ["a", "b", None], "amount": [1.25, 2.5, None]},
                        index=pd.Index([10, 20, 30], name="row"))


VALUES = [
    ("arrow", arrow_table),
    ("pandas", pandas_frame),
    ("bytes", lambda: b"\x00\xffraw bytes\n" * 3),
    ("bytes", lambda: b""),
    ("text", lambda: "héllo\nwörld ✓"),
    ("text", lambda: ""),
    ("json", lambda: 42),
    ("json", lambda: 2.5),
    ("json", lambda: True),
    ("json", lambda: None),
    ("pickle", lambda: {"a": [1, 2, (3, 4)], "b": {1, 2}}),
    ("pickle", lambda: decimal.Decimal("1.10")),
    ("pickle", lambda: [1, "two", 3.0]),
]


def same(a, b) -> bool:
    if isinstance(a, pa.Table):  # Parquet renames list items to "element": same data, same types
        return b.cast(a.schema).equals(a)
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
        return True
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("expected_manager, make", VALUES, ids=[f"{m}-{i}" for i, (m, _) in enumerate(VALUES)])
def test_round_trip_chooses_the_manager_by_type(store, expected_manager, make):
    value = make()
    manifest = save(store, value)
    assert manifest.io_manager == expected_manager
    assert same(value, store.load(manifest))
    assert store.verify_artifact(manifest.artifact)


@pytest.mark.parametrize("expected_manager, make", VALUES, ids=[f"{m}-{i}" for i, (m, _) in enumerate(VALUES)])
def test_equal_values_give_equal_data_versions(store, expected_manager, make):
    first, second = save(store, make()), save(store, make())
    assert first.data_version == second.data_version
    assert first.size == second.size


def test_different_values_give_different_data_versions(store):
    values = (1, 2, "one", b"two", [1], pa.table({"a": [1]}), pa.table({"a": [2]}), pd.DataFrame({"a": [1]}))
    assert len({save(store, v).data_version for v in values}) == len(values)


def test_json_dicts_built_in_another_order_have_the_same_data_version(store):
    a = save(store, {"b": 1, "a": [1, 2]}, "json")
    b = save(store, {"a": [1, 2], "b": 1}, "json")
    assert a.data_version == b.data_version
    assert store.load(a) == {"a": [1, 2], "b": 1}


@pytest.mark.parametrize("name, value", [
    ("json", {"rows": [1, 2], "ok": True, "name": "x"}),
    ("json", [1, "a", None]),
    ("pickle", "a string kept as a pickle"),
    ("pickle", b"bytes kept as a pickle"),
    ("text", "plain"),
    ("bytes", bytearray(b"mutable")),
    ("pandas", pd.DataFrame({"x": [1.0]})),
])
def test_explicit_io_manager(store, name, value):
    manifest = save(store, value, name)
    assert manifest.io_manager == name
    loaded = store.load(manifest)
    if isinstance(value, pd.DataFrame):
        pd.testing.assert_frame_equal(loaded, value)
    elif isinstance(value, bytearray):
        assert loaded == bytes(value)
    else:
        assert loaded == value


def test_arrow_table_written_through_pandas_manager_comes_back_as_a_dataframe(store):
    manifest = save(store, pd.DataFrame({"x": [1, 2]}))
    assert isinstance(store.load(manifest), pd.DataFrame)


def test_unknown_io_manager_is_a_clear_error():
    with pytest.raises(DefinitionError) as info:
        iomanagers.get("jsn")
    assert "jsn" in info.value.message and "json" in (info.value.hint or "")
    assert set(iomanagers.names()) >= {"arrow", "pandas", "bytes", "text", "json", "pickle"}


def test_unknown_io_manager_in_a_pipeline_is_a_definition_error(project):
    project.pipeline('''
        from datamake import asset

        @asset(io_manager="parquett")
        def table():
            return 1
    ''')
    proc = project.run("make")
    assert proc.returncode == 2
    assert "table" in proc.stderr and "parquett" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_io_managers_through_the_cli(project):
    project.pipeline('''
        import pandas as pd
        import pyarrow as pa
        from datamake import asset

        @asset
        def t():
            return pa.table({"a": [1, 2]})

        @asset
        def df(t):
            return t.to_pandas()

        @asset
        def blob():
            return b"abc"

        @asset
        def words():
            return "hello"

        @asset(io_manager="json")
        def doc():
            return {"k": [1, 2]}

        @asset
        def thing():
            return {"set": {1, 2}}
    ''')
    project.run("make", check=True)
    manifests = Store(str(project.root / ".datamake")).read_manifests(["t", "df", "blob", "words", "doc", "thing"])
    managers = {k: m.io_manager for k, m in manifests.items()}
    assert managers == {"t": "arrow", "df": "pandas", "blob": "bytes", "words": "text", "doc": "json",
                        "thing": "pickle"}
    assert project.run("show", "doc", check=True).stdout.strip() == '{"k": [1, 2]}'  # stored as JSON, shown as JSON


def test_a_corrupt_artifact_is_detected_on_load(tmp_path):
    store = Store(str(tmp_path / "store"))
    manifest = save(store, "some text")
    with open(store.artifact_path(manifest.artifact), "wb") as f:
        f.write(b"tampered!")
    with pytest.raises(CorruptArtifactError):
        store.load(manifest)
    assert not store.verify_artifact(manifest.artifact)


def test_a_custom_io_manager_can_be_registered(store):
    class Upper:
        name = "upper-test"

        def handles(self, value):
            return False

        def dump(self, value, f):
            f.write(value.upper().encode())

        def load(self, f):
            return f.read().decode()

    iomanagers.register(Upper(), auto=False)
    manifest = save(store, "shout", "upper-test")
    assert store.load(manifest) == "SHOUT"
    assert iomanagers.choose("plain").name == "text"  # not chosen automatically


def test_reading_a_table_back_never_aborts_the_process(process_project):
    """pyarrow 26 could abort at interpreter exit after reading Parquet from a Python file
    object on its IO threads ("terminate called without an active exception", exit -6)."""
    project = process_project
    project.pipeline('''
        import pyarrow as pa
        from datamake import asset

        @asset
        def table():
            return pa.table({"x": list(range(500)), "y": [str(i) for i in range(500)]})
    ''')
    project.run("make", check=True)
    for _ in range(6):
        proc = project.run("show", "table", "-n", "1")
        assert proc.returncode == 0, proc.stderr
        assert "500 rows" in proc.stdout


def test_a_value_pickle_cannot_store_fails_naming_its_type_and_the_ways_out(project):
    project.pipeline('''
        import threading
        from datamake import asset

        @asset
        def lock():
            return threading.Lock()
    ''')
    proc = project.run("make")
    assert proc.returncode == 1
    assert "pickle cannot store a _thread.lock" in proc.stdout
    assert "context.output_path" in proc.stdout and "register an IO manager" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr

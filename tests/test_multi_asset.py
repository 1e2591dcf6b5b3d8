"""@multi_asset: several assets from one function call, early cutoff per output."""
from __future__ import annotations

import pytest

PIPELINE = '''
import json, os
from datamake import AssetOut, asset, multi_asset, source

raw = source("data/raw.txt", load="text")

@multi_asset(outs={"train": AssetOut(), "test": AssetOut(io_manager="json")})
def split(raw):
    with open("calls.log", "a") as f:
        f.write("split\\n")
    lines = raw.split()
    return {"train": lines[:-1], "test": lines[-1:]}

@asset
def model(train):
    return len(train)

@asset
def score(test):
    with open("calls.log", "a") as f:
        f.write("score\\n")
    return test[0]
'''


@pytest.fixture
def project(inprocess_project):
    return inprocess_project


def calls(project):
    path = project.root / "calls.log"
    return path.read_text().split() if path.exists() else []


@pytest.fixture
def built(project):
    project.pipeline(PIPELINE)
    project.write("data/raw.txt", "a b c last\n")
    assert project.outcomes() == {"split": "built", "train": "built", "test": "built", "model": "built",
                                  "score": "built"}
    assert calls(project) == ["split", "score"]  # one call of the function built both outputs
    return project


def test_a_consumer_of_test_does_not_rebuild_when_only_train_changed(built):
    built.write("data/raw.txt", "a b c d last\n")
    out = built.outcomes()
    assert out["split"] == "built" and out["train"] == "built" and out["model"] == "built"
    assert out["score"] == "skipped"  # test's data version is unchanged: early cutoff per output
    assert calls(built) == ["split", "score", "split"]


def test_each_output_has_its_own_manifest_and_value(built):
    assert built.run("show", "test", check=True).stdout.strip().startswith("[")
    shown = built.json("status")["assets"]
    assert {a["key"]: a["state"] for a in shown} == {k: "fresh" for k in ("split", "train", "test", "model", "score")}


def test_a_lost_output_is_rebuilt_without_calling_the_function_twice(built):
    built.write("pipeline.py", PIPELINE.replace('lines[:-1]', 'lines[:-1] + ["x"]'))
    out = built.outcomes("model", "score")
    assert out["split"] == "built" and out["score"] == "skipped"
    assert calls(built).count("split") == 2  # the function once for both outputs


def test_a_function_returning_the_wrong_keys_fails_with_a_message_naming_them(project):
    project.pipeline(PIPELINE.replace('return {"train": lines[:-1], "test": lines[-1:]}', 'return {"train": 1}'))
    project.write("data/raw.txt", "a b\n")
    proc = project.run("make")
    assert proc.returncode == 1
    assert "returned a dict with keys ['train']; expected a dict with the keys train, test" in proc.stderr + proc.stdout


def test_an_output_named_like_the_function_is_a_definition_error(project):
    project.pipeline(PIPELINE.replace('"train": AssetOut()', '"split": AssetOut()'))
    proc = project.run("status")
    assert proc.returncode == 2 and "an output has the function's own name 'split'" in proc.stderr


def test_a_multi_asset_is_callable_like_its_function():
    from datamake import AssetOut, Definitions, multi_asset

    @multi_asset(outs={"a": AssetOut(), "b": AssetOut()})
    def pair():
        return 1, 2

    assert pair() == (1, 2)
    defs = Definitions([pair])
    assert sorted(defs.assets) == ["a", "b", "pair"] and defs.deps["a"] == ("pair",)
    assert pair["b"].key == "b"

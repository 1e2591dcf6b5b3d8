"""The port of DVC's example-get-started runs end to end: prepare -> featurize -> train -> evaluate."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("numpy")
pytest.importorskip("yaml")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "dvc_get_started"


def datamake(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``datamake ARGS`` in ``cwd``, in this process through click's test runner, as a new process would
    run it (tests/conftest.py), without an interpreter that imports numpy for each command."""
    from tests.conftest import InProcessProjectDir

    return InProcessProjectDir(cwd).run(*args)


def outcomes(cwd: Path, *args: str) -> dict:
    proc = datamake(cwd, "make", "--json", *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {a["key"]: a["outcome"] for a in json.loads(proc.stdout)["assets"]}


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                   capture_output=True)


def test_the_dvc_pipeline_builds_compares_and_reacts_to_params(tmp_path):
    root = tmp_path / "dvc_get_started"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".datamake", "__pycache__", "data/prepared",
                                                                 "data/features", "model.pkl", "eval"))
    git(root, "init", "-q")
    first = outcomes(root)
    assert {k: v for k, v in first.items() if not k.startswith("files/")} == {
        "prepare": "built", "featurize": "built", "train": "built", "evaluate": "built", "metrics": "built",
        "prc": "built"}
    metrics = json.loads((root / "eval" / "metrics.json").read_text())
    assert 0.5 < metrics["roc_auc"] <= 1.0  # the model learned something
    assert (root / "data" / "prepared" / "train.tsv").exists() and (root / "model.pkl").exists()
    git(root, "add", ".")
    git(root, "commit", "-qm", "baseline")

    assert set(outcomes(root).values()) == {"skipped"}
    # a comment in a stage's script changes nothing; a param of train reruns train and evaluate only
    script = root / "src" / "train.py"
    script.write_text(script.read_text().replace('"""Logistic', '"""A logistic').replace("\nimport os", "\n# numpy only\nimport os"))
    params = root / "params.yaml"
    params.write_text(params.read_text().replace("epochs: 100", "epochs: 150"))
    why = datamake(root, "why", "train")
    assert "epochs 100 -> 150" in why.stdout
    second = outcomes(root)
    assert second["prepare"] == "skipped" and second["featurize"] == "skipped"
    assert second["train"] == "built" and second["evaluate"] == "built"

    diff = json.loads(datamake(root, "params", "diff", "--json").stdout)
    assert diff["params"] == [{"param": "train.epochs", "old": 100, "new": 150}]
    metrics_diff = datamake(root, "metrics", "diff", "--json")
    assert metrics_diff.returncode == 0, metrics_diff.stderr
    assert {r["metric"] for r in json.loads(metrics_diff.stdout)["metrics"]} <= {"avg_prec", "roc_auc"}
    assert datamake(root, "plots", "-o", "plots.html").returncode == 0
    assert (root / "plots.html").read_text().count("<svg") == 2

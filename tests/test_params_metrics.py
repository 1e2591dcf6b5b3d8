"""Params (a params file as config, recorded values, `params diff`) and metrics (`metrics show/diff`, `plots`)."""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

import pytest

PIPELINE = '''
from dataclasses import dataclass
from datamake import asset

@dataclass
class TrainConfig:
    seed: int = 0
    n_est: int = 10

@asset(config=TrainConfig)
def train(config):
    return {"trees": config.n_est, "seed": config.seed}

@asset(metric=True, path="eval/metrics.json", io_manager="json")
def evaluate(train):
    return {"accuracy": train["trees"] / 100, "roc": {"auc": 0.5}}
'''

TOML = 'params = "params.yaml"\n'


@pytest.fixture
def project(inprocess_project):
    return inprocess_project


def git(root, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture
def built(project):
    project.write("pipeline.py", PIPELINE)
    project.write("datamake.toml", '[project]\ndefinitions = "pipeline.py"\n' + TOML)
    project.write("params.yaml", "train:\n  seed: 1\n  n_est: 50\nother_tool:\n  x: 1\n")
    project.write(".gitignore", ".datamake/\n")
    git(project.root, "init", "-q")
    assert project.outcomes() == {"train": "built", "evaluate": "built"}
    git(project.root, "add", ".")
    git(project.root, "commit", "-qm", "first")
    return project


def test_a_params_file_section_is_the_assets_config(built):
    assert "{'seed': 1, 'trees': 50}" in built.run("show", "train", check=True).stdout


def test_why_names_the_changed_param_with_old_and_new_value(built):
    built.write("params.yaml", "train:\n  seed: 1\n  n_est: 80\n")
    assert built.states()["train"] == "stale"
    info = built.json("why", "train")
    assert info["config"]["changed_fields"] == [{"field": "n_est", "recorded": 50, "current": 80}]
    assert "n_est 50 -> 80" in built.run("why", "train").stdout


def test_params_diff_across_two_commits(built):
    built.write("params.yaml", "train:\n  seed: 1\n  n_est: 80\nother_tool:\n  x: 1\n")
    git(built.root, "commit", "-qam", "more trees")
    assert built.json("params", "diff", "HEAD~1")["params"] == [{"param": "train.n_est", "old": 50, "new": 80}]
    assert built.json("params", "diff")["params"] == []  # the workspace equals HEAD
    text = built.run("params", "diff", "HEAD~1", check=True).stdout
    assert "train.n_est" in text and "50" in text and "80" in text


def test_params_diff_with_an_unknown_revision_says_so(built):
    proc = built.run("params", "diff", "nosuchrev")
    assert proc.returncode == 2 and "unknown git revision 'nosuchrev'" in proc.stderr


def test_metrics_show_and_diff_against_a_revision_and_a_run(built):
    assert built.json("metrics", "show")["metrics"] == {"evaluate": {"accuracy": 0.5, "roc.auc": 0.5}}
    first_run = built.json("log")["runs"][-1]["run_id"]
    built.write("params.yaml", "train:\n  seed: 1\n  n_est: 80\n")
    built.outcomes()
    rows = built.json("metrics", "diff")["metrics"]  # against HEAD's eval/metrics.json
    assert rows == [{"asset": "evaluate", "metric": "accuracy", "old": 0.5, "new": 0.8, "change": pytest.approx(0.3)}]
    by_run = built.json("metrics", "diff", "--run", first_run)["metrics"]
    assert [(r["metric"], r["old"], r["new"]) for r in by_run] == [("accuracy", 0.5, 0.8)]


def test_plots_write_a_self_contained_page_with_a_chart_per_metric(built):
    built.write("params.yaml", "train:\n  seed: 1\n  n_est: 80\n")
    built.outcomes()
    built.run("plots", "-o", "plots.html", check=True)
    page = (built.root / "plots.html").read_text()
    assert page.count("<svg") == 2 and "evaluate: accuracy" in page and "<script" not in page
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_a_metric_that_is_not_numbers_fails_with_a_message(project):
    project.pipeline('from datamake import asset\n@asset(metric=True)\ndef m():\n    return {"a": "high"}\n')
    result = project.json("make", expect=1)
    assert "m': a is 'high', not a number" in result["assets"][0]["error"]


def test_a_toml_params_file_works_too_and_params_diff_needs_git(project):
    project.write("pipeline.py", PIPELINE)
    project.write("datamake.toml", '[project]\ndefinitions = "pipeline.py"\nparams = "params.toml"\n')
    project.write("params.toml", "[train]\nseed = 3\nn_est = 20\n")
    assert project.outcomes() == {"train": "built", "evaluate": "built"}
    assert "{'seed': 3, 'trees': 20}" in project.run("show", "train", check=True).stdout
    proc = project.run("params", "diff")
    assert proc.returncode == 2 and "is not in a git repository" in proc.stderr


def test_params_diff_against_an_earlier_run_reads_the_config_it_was_built_with(built):
    first_run = built.json("log")["runs"][-1]["run_id"]
    built.write("params.yaml", "train:\n  seed: 2\n  n_est: 50\n")
    built.outcomes()
    rows = built.json("params", "diff", "--run", first_run)["params"]
    assert rows == [{"param": "train.seed", "old": 1, "new": 2}]
    proc = built.run("params", "diff", "HEAD", "--run", first_run)
    assert proc.returncode == 2 and "not both" in proc.stderr

"""command_asset: a shell command with declared file inputs and outputs, versioned by its scripts."""
from __future__ import annotations

import json

import pytest

PIPELINE = '''
from datamake import command_asset

words = command_asset("python src/count.py data/in.txt counts.json", inputs=["data/in.txt"],
                      outputs=["counts.json"])
split = command_asset("python src/split.py", inputs=["counts.json"], outputs=["parts/"])
report = command_asset("sh src/report.sh", inputs=["parts/"], outputs=["report.txt"])
'''

COUNT = '''
import json, sys
# count the words
words = open(sys.argv[1]).read().split()
json.dump({"n": len(words)}, open(sys.argv[2], "w"))
'''

SPLIT = '''
import json, os
n = json.load(open("counts.json"))["n"]
os.makedirs("parts", exist_ok=True)
open("parts/a.txt", "w").write(str(n))
open("parts/b.txt", "w").write("fixed")
'''

REPORT = '''
# a shell script: counted by its bytes
cat parts/b.txt > report.txt
'''


@pytest.fixture
def project(inprocess_project):
    return inprocess_project


@pytest.fixture
def built(project):
    project.pipeline(PIPELINE)
    project.write("src/count.py", COUNT)
    project.write("src/split.py", SPLIT)
    project.write("src/report.sh", REPORT)
    project.write("data/in.txt", "a b c\n")
    assert project.outcomes() == {"count": "built", "split": "built", "report": "built"}
    assert json.loads((project.root / "counts.json").read_text()) == {"n": 3}
    assert (project.root / "parts" / "a.txt").read_text() == "3"
    assert (project.root / "report.txt").read_text() == "fixed"
    return project


def test_a_script_change_makes_its_command_stale(built):
    built.write("src/count.py", COUNT.replace("len(words)", "len(words) * 2"))
    assert built.states()["count"] == "stale"
    out = built.outcomes()
    assert out["count"] == "built" and out["split"] == "built"
    assert (built.root / "parts" / "a.txt").read_text() == "6"
    assert out["report"] == "built"  # the folder parts/ changed (a.txt), so its reader runs again

def test_a_command_asset_is_versioned_automatically_not_pinned(built):
    """ls and why say where a command asset's version comes from; nobody pinned it."""
    rows = {r["key"]: r for r in built.json("ls")["assets"]}
    assert rows["count"]["pinned"] is False and rows["count"]["pin_origin"] == "command"
    assert "(pinned)" not in built.run("ls", check=True).stdout
    assert "automatic, from its command and scripts" in built.run("why", "count", check=True).stdout


def test_a_comment_change_in_a_python_script_keeps_it_fresh(built):
    built.write("src/count.py", COUNT.replace("# count the words", "# count every word, twice checked"))
    assert set(built.states().values()) == {"fresh"}


def test_a_shell_script_counts_by_its_bytes(built):
    built.write("src/report.sh", REPORT.replace("# a shell script", "# a shell  script"))
    assert built.states()["report"] == "stale"


def test_an_input_file_change_reruns_the_chain_with_early_cutoff(built):
    built.write("data/in.txt", "c b a\n")  # same count
    out = built.outcomes()
    assert out == {"count": "built", "split": "skipped", "report": "skipped"}


def test_a_failing_command_reports_its_exit_status_and_stderr_and_keeps_the_old_value(built):
    built.write("src/count.py", COUNT + "\nimport sys\nsys.stderr.write('no dictionary found')\nsys.exit(3)\n")
    result = built.json("make", expect=1)
    failed = {a["key"]: a for a in result["assets"]}["count"]
    assert failed["outcome"] == "failed"
    assert "command exited with status 3" in failed["error"] and "no dictionary found" in failed["error"]
    assert built.run("show", "count", check=True).returncode == 0  # the previous value is still there


def test_outputs_are_restored_from_the_store_when_deleted(built):
    (built.root / "report.txt").unlink()
    import shutil
    shutil.rmtree(built.root / "parts")
    assert set(built.outcomes().values()) == {"skipped"}
    assert (built.root / "report.txt").read_text() == "fixed"
    assert (built.root / "parts" / "b.txt").read_text() == "fixed"


def test_a_command_that_does_not_write_its_output_fails_naming_it(project):
    project.pipeline('from datamake import command_asset\nx = command_asset("true", outputs=["out.txt"])\n')
    result = project.json("make", expect=1)
    assert "did not write the file out.txt" in result["assets"][0]["error"]


PARAMS = '''
from datamake import command_asset

train = command_asset("python src/train.py", outputs=["model.txt"], params=["train.epochs"])
'''

TRAIN = '''
import yaml
epochs = yaml.safe_load(open("params.yaml"))["train"]["epochs"]
open("model.txt", "w").write(f"trained {epochs} epochs")
'''


@pytest.fixture
def with_params(project):
    pytest.importorskip("yaml")
    project.write("pipeline.py", PARAMS)
    project.write("datamake.toml", '[project]\ndefinitions = "pipeline.py"\nparams = "params.yaml"\n')
    project.write("src/train.py", TRAIN)
    project.write("params.yaml", "train:\n  epochs: 5\n")
    assert project.outcomes() == {"train": "built"}
    return project


def test_a_changed_param_makes_the_command_stale_and_why_names_it(with_params):
    with_params.write("params.yaml", "train:\n  epochs: 7\n")
    assert with_params.states() == {"train": "stale"}
    assert "epochs 5 -> 7" in with_params.run("why", "train").stdout
    assert with_params.outcomes() == {"train": "built"}
    assert (with_params.root / "model.txt").read_text() == "trained 7 epochs"
    with_params.write("params.yaml", "train:\n  epochs: 5\n")
    assert with_params.outcomes() == {"train": "cached"}  # back to the first params: restored, not rerun
    assert (with_params.root / "model.txt").read_text() == "trained 5 epochs"


def test_a_command_params_override_is_refused_since_the_command_would_not_see_it(with_params):
    proc = with_params.run("status", "--config", "train.epochs=9")
    assert proc.returncode == 2
    assert "its params come from params.yaml (its command reads them there)" in proc.stderr


def test_a_param_missing_from_the_file_is_named(with_params):
    with_params.write("params.yaml", "train:\n  seed: 1\n")
    proc = with_params.run("status")
    assert proc.returncode == 2 and "params.yaml has no train.epochs" in proc.stderr


def test_one_input_as_a_string_and_an_output_named_by_digits(project):
    project.pipeline('from datamake import command_asset\n'
                     'c = command_asset("cp in.txt 2024.txt", inputs="in.txt", outputs="2024.txt")\n')
    project.write("in.txt", "v1")
    assert project.outcomes() == {"f_2024": "built"}
    project.write("in.txt", "v2")
    assert project.states() == {"f_2024": "stale"}
    assert project.outcomes() == {"f_2024": "built"}
    assert (project.root / "2024.txt").read_text() == "v2"

"""@asset(path=...): a copy of the current value kept at a project path; context.output_path's other shapes."""
from __future__ import annotations

import json
import subprocess

import pytest

PIPELINE = '''
from datamake import asset

SCALE = 1

@asset(path="reports/summary.json", io_manager="json")
def summary():
    return {"scale": SCALE}
'''


@pytest.fixture
def project(inprocess_project):
    return inprocess_project


def git(root, *args):
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def test_the_value_is_kept_at_its_path_and_restored_after_git_checkout(project):
    project.pipeline(PIPELINE)
    project.write(".gitignore", ".datamake/\nreports/\n")
    git(project.root, "init", "-q")
    git(project.root, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git(project.root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "v1")
    assert project.outcomes() == {"summary": "built"}
    report = project.root / "reports" / "summary.json"
    assert json.loads(report.read_text()) == {"scale": 1}

    project.write("pipeline.py", PIPELINE.replace("SCALE = 1", "SCALE = 2"))
    git(project.root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "v2")
    assert project.outcomes() == {"summary": "built"}
    assert json.loads(report.read_text()) == {"scale": 2}

    git(project.root, "checkout", "-q", "HEAD~1")
    assert json.loads(report.read_text()) == {"scale": 2}  # not tracked: git leaves v2's copy
    assert project.outcomes() == {"summary": "cached"}  # v1's value, from the action cache
    assert json.loads(report.read_text()) == {"scale": 1}


def test_an_edited_copy_is_put_back_and_the_store_is_not_written_through(project):
    project.pipeline(PIPELINE)
    assert project.outcomes() == {"summary": "built"}
    report = project.root / "reports" / "summary.json"
    report.write_text('{"scale": 99}')
    assert project.states() == {"summary": "fresh"}
    assert project.outcomes() == {"summary": "skipped"}
    assert json.loads(report.read_text()) == {"scale": 1}
    assert json.loads(project.run("show", "summary", check=True).stdout.replace("'", '"')) == {"scale": 1}


def test_a_path_outside_the_project_is_a_definition_error(project):
    project.pipeline(PIPELINE.replace("reports/summary.json", "../elsewhere.json"))
    proc = project.run("status")
    assert proc.returncode == 2 and "path= must be a relative path inside the project" in proc.stderr


OUTPUT_PATH = '''
import os
from datamake import asset

@asset
def saved(context):
    with open(context.output_path + ".npy", "wb") as f:  # as np.save does
        f.write(b"array")

@asset
def folder(context):
    os.makedirs(context.output_path)
    open(os.path.join(context.output_path, "part-0"), "w").write("rows")

@asset
def two(context):
    open(context.output_path + ".png", "w").write("x")
    open(context.output_path + ".pdf", "w").write("y")

@asset
def reader(saved, folder):
    return [open(saved, "rb").read().decode(), sorted(os.listdir(folder))]
'''


def test_output_path_accepts_a_file_of_another_name_and_a_folder(project):
    project.pipeline(OUTPUT_PATH)
    result = project.json("make", "reader")
    assert {a["key"]: a["outcome"] for a in result["assets"]} == {"saved": "built", "folder": "built",
                                                                  "reader": "built"}
    assert "['array', ['part-0']]" in project.run("show", "reader", check=True).stdout


def test_output_path_with_several_files_fails_naming_them(project):
    project.pipeline(OUTPUT_PATH)
    result = project.json("make", "two", expect=1)
    error = result["assets"][0]["error"]
    assert "two.pdf, two.png" in error and "one file or one folder" in error


def test_a_folder_is_stored_as_the_same_bytes_whatever_its_files_times_and_creation_order(tmp_path):
    import io
    import os

    from datamake.storage.folderio import FolderIO, extract

    def folder(name, order):
        root = tmp_path / name
        for rel in order:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(rel)
        os.utime(root / order[0], (1, 1))
        return root

    one, two = io.BytesIO(), io.BytesIO()
    FolderIO().dump(folder("a", ["x/1.txt", "y.txt", "x/2.txt"]), one)
    FolderIO().dump(folder("b", ["y.txt", "x/2.txt", "x/1.txt"]), two)
    assert one.getvalue() == two.getvalue()
    one.seek(0)
    extract(one, str(tmp_path / "out"))
    assert (tmp_path / "out" / "x" / "2.txt").read_text() == "x/2.txt"

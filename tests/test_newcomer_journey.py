"""What a first-time user meets when following the docs, mistakes included: each message names the
command and the fix, with the documented exit code."""
from __future__ import annotations

import subprocess
import sys

PIPELINE = '''
from datamake import asset


@asset
def orders():
    return [1, 2, 3]
'''


def test_unpin_without_assets_asks_for_assets_to_unpin(inprocess_project):
    inprocess_project.pipeline(PIPELINE)
    result = inprocess_project.run("unpin")
    assert result.returncode == 2
    assert "name the assets to unpin (or pass --all)" in result.stderr


def test_partitions_list_without_dynamic_partitions_says_so_and_how_to_declare_them(inprocess_project):
    inprocess_project.pipeline(PIPELINE)
    result = inprocess_project.run("partitions", "list")
    assert result.returncode == 0
    assert "no dynamic partitions defined" in result.stdout and "DynamicPartitions(" in result.stdout


LEFT_OUT_SOURCE = '''
from datamake import Definitions, asset, source

inbox = source("inbox.csv")


@asset
def parsed(inbox):
    return inbox


defs = Definitions(assets=[parsed])
'''


def test_a_parameter_naming_a_source_that_definitions_leaves_out_says_to_add_it(inprocess_project):
    inprocess_project.pipeline(LEFT_OUT_SOURCE)
    inprocess_project.write("inbox.csv", "a\n")
    result = inprocess_project.run("status")
    assert result.returncode == 2
    assert "'inbox' is a source that Definitions(...) leaves out" in result.stderr
    assert "Definitions(sources=[inbox, ...])" in result.stderr


def test_a_parameter_naming_an_asset_that_definitions_leaves_out_says_to_add_it(inprocess_project):
    inprocess_project.pipeline(LEFT_OUT_SOURCE.replace('inbox = source("inbox.csv")', "@asset\ndef inbox():\n    return 1"))
    result = inprocess_project.run("status")
    assert result.returncode == 2 and "Definitions(assets=[inbox, ...])" in result.stderr


def test_pin_of_a_command_asset_says_its_command_and_scripts_are_its_code_version(inprocess_project):
    inprocess_project.pipeline('''
from datamake import command_asset

count = command_asset("python count.py", name="count", outputs=["count.json"])
''')
    inprocess_project.write("count.py", "open('count.json', 'w').write('{}')\n")
    result = inprocess_project.run("pin", "count")
    assert result.returncode == 0
    assert "skipped  count: its code version is set in code" in result.stdout
    assert "a command asset's command and scripts" in result.stdout


def test_show_refuses_a_negative_number_of_rows(inprocess_project):
    inprocess_project.pipeline(PIPELINE)
    inprocess_project.run("make", check=True)
    result = inprocess_project.run("show", "-n", "-1", "orders")
    assert result.returncode == 2
    assert "-1 is not in the range x>=0" in result.stderr and "more items" not in result.stdout


def test_pin_of_a_source_says_a_source_has_no_code_version(inprocess_project):
    inprocess_project.pipeline(PIPELINE + 'from datamake import source\n\nraw = source("raw.csv")\n')
    inprocess_project.write("raw.csv", "a\n")
    result = inprocess_project.run("pin", "raw")
    assert result.returncode == 2
    assert "raw names no asset to pin: a source has no code version" in result.stderr


def test_definitions_without_any_asset_warn_that_the_decorator_is_missing(inprocess_project):
    inprocess_project.pipeline("def orders():\n    return [1, 2, 3]\n")
    result = inprocess_project.run("make")
    assert result.returncode == 0
    assert "pipeline" in result.stderr and "defines no asset: decorate each function that makes one with @asset" \
        in result.stderr


def test_a_definitions_module_that_does_not_exist_says_how_to_name_it(inprocess_project):
    inprocess_project.write("datamake.toml", '[project]\ndefinitions = "shop.assets"\n')
    result = inprocess_project.run("status")
    assert result.returncode == 2
    assert "no module named 'shop'" in result.stderr and 'hint: give a .py path relative to datamake.toml' in result.stderr


FAILING = '''
from datamake import asset


@asset
def orders():
    raise ValueError("no rows in the export")
'''


def test_log_prints_the_whole_traceback_of_a_failed_asset(inprocess_project):
    inprocess_project.pipeline(FAILING)
    run_id = inprocess_project.json("make", expect=1)["run_id"]
    for args in (("log", "--run", run_id), ("log", "orders")):
        shown = inprocess_project.run(*args, check=True).stdout
        assert 'raise ValueError("no rows in the export")' in shown, args
        assert "metadata: traceback=" not in shown


def test_ui_refuses_port_0_whose_address_it_could_not_print(process_project):
    process_project.pipeline(PIPELINE)
    result = subprocess.run([sys.executable, "-m", "datamake", "ui", "--port", "0"], cwd=process_project.root,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "0 is not in the range 1<=x<=65535" in result.stderr


def test_a_partition_range_written_with_two_dots_says_a_range_takes_three(inprocess_project):
    inprocess_project.pipeline('''
from datamake import DailyPartitions, asset


@asset(partitions=DailyPartitions(start="2024-03-01", end="2024-03-10"))
def sales(context):
    return context.partition_key
''')
    result = inprocess_project.run("make", "-p", "2024-03-01..2024-03-03")
    assert result.returncode == 2
    assert "a range is FIRST...LAST, with three dots" in result.stderr


def test_a_dagster_spelling_in_a_declaration_gets_datamakes(inprocess_project):
    inprocess_project.pipeline('''
from datamake import asset


@asset(group_name="sales")
def orders():
    return [1]
''')
    result = inprocess_project.run("status")
    assert result.returncode == 2
    assert "hint: asset() has no group_name= (Dagster's spelling): write group=" in result.stderr


def test_a_misspelt_argument_of_a_declaration_gets_a_did_you_mean(inprocess_project):
    inprocess_project.pipeline('from datamake import source\n\nraw = source("raw.csv", descripton="the export")\n')
    result = inprocess_project.run("status")
    assert result.returncode == 2 and "hint: source() has no descripton=; did you mean 'description'?" in result.stderr


def test_dagsters_asset_checks_in_definitions_gets_datamakes_checks(inprocess_project):
    definitions = "\nfrom datamake import Definitions\n\ndefs = Definitions(assets=[orders], asset_checks=[])\n"
    inprocess_project.pipeline(PIPELINE + definitions)
    result = inprocess_project.run("status")
    assert result.returncode == 2
    assert "hint: Definitions() has no asset_checks= (Dagster's spelling): write checks=" in result.stderr

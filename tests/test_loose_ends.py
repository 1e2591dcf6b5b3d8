"""Partitions, status and manifests probed as a user would: dynamic keys, sources named to status,
manifests of a newer datamake, and the window arithmetic of time mappings."""
from __future__ import annotations

import pytest


@pytest.fixture
def project(inprocess_project):
    return inprocess_project


DYNAMIC = """
    from datamake import DynamicPartitions, asset

    files = DynamicPartitions("files")

    @asset(partitions=files, io_manager="json")
    def lines(context):
        return context.partition_key

    @asset(io_manager="json")
    def total(lines):
        return list(lines)
"""


# -- dynamic partitions ------------------------------------------------------------------------


def test_removing_a_dynamic_key_that_is_not_there_is_an_error_and_removes_nothing(project):
    project.pipeline(DYNAMIC)
    project.run("partitions", "add", "files", "alpha", "beta", check=True)
    proc = project.run("partitions", "remove", "files", "alpha", "betta")
    assert proc.returncode == 2
    assert "'betta'" in proc.stderr and "did you mean 'beta'?" in proc.stderr
    assert "datamake partitions list files" in proc.stderr
    assert project.json("partitions", "list") == {"partitions": {"files": ["alpha", "beta"]}}

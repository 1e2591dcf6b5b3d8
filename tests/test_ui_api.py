"""The web UI's server, in process (Starlette's test client): the JSON API has the CLI's --json
shapes, bad input gets 404 pages and the CLI's own error text, the artifact endpoints serve only
what a manifest names, state changes need POST + CSRF (and the token off loopback), and a
definitions module that fails to import is shown and recovered from without a restart."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from datamake import api
from datamake.cli.main import main
from datamake.storage.lock import store_lock
from datamake.ui.app import create_app
from tests.polling import wait_for

PIPELINE = """
import pyarrow as pa
from datamake import asset

@asset(group="ingest")
def raw():
    return pa.table({"n": list(range(2500)), "word": [f"w{i}" for i in range(2500)]})

@asset(group="ingest")
def clean(raw):
    return raw.filter(pa.compute.greater(raw["n"], 10))

@asset(group="reports")
def report(clean):
    return f"{clean.num_rows} rows"
"""


@pytest.fixture()
def built(tmp_path):
    """A project whose raw and clean are built; report never was."""
    (tmp_path / "pipeline.py").write_text(PIPELINE)
    (tmp_path / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    project = api.load(str(tmp_path))
    assert api.make(project, ["clean"]).ok
    return tmp_path


@pytest.fixture()
def client(built):
    with TestClient(create_app(str(built))) as c:
        yield c


def csrf_headers(client) -> dict:
    return {"x-csrf-token": client.app.state.csrf}


def cli_json(root, *args) -> dict:
    """What ``datamake -C ROOT ARGS --json`` prints (click's runner: the same command, in this process)."""
    result = CliRunner().invoke(main, ["-C", str(root), *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def finished_launch(client, launch_id, timeout=90.0) -> dict:
    return wait_for(lambda: (lambda d: d if not d["running"] else None)(client.get(f"/api/launches/{launch_id}").json()),
                    timeout, "the launch to finish")


def test_the_json_api_has_the_shapes_of_the_cli_json(client, built):
    assert client.get("/api/status").json() == cli_json(built, "status")
    assert client.get("/api/ls").json() == cli_json(built, "ls")
    assert client.get("/api/why/report").json() == cli_json(built, "why", "report")
    assert client.get("/api/lineage/clean").json() == cli_json(built, "lineage", "clean")
    runs = client.get("/api/log").json()["runs"]
    assert [r["run_id"] for r in runs] == [r["run_id"] for r in cli_json(built, "log")["runs"]]
    assert client.get(f"/api/runs/{runs[0]['run_id']}").json()["run"]["status"] == "ok"
    states = {a["key"]: a["state"] for a in client.get("/api/status").json()["assets"]}
    assert states == {"raw": "fresh", "clean": "fresh", "report": "stale"}


def test_unknown_asset_or_run_gives_a_404_page_not_a_traceback(client):
    page = client.get("/assets/nope")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "nope" in page.text and "Traceback" not in page.text
    run = client.get("/runs/no-such-run")
    assert run.status_code == 404 and "no-such-run" in run.text
    assert client.get("/api/why/raww").json()["hint"].startswith("did you mean")
    assert client.get("/api/why/raww").status_code == 404
    assert client.get("/assets/clean").status_code == 200
    assert client.get("/api/preview/report").status_code == 404  # never materialized


def test_the_preview_pages_through_a_table_without_reading_it_whole(client):
    first = client.get("/api/preview/raw?limit=10").json()
    assert first["kind"] == "table" and first["total_rows"] == 2500
    assert first["schema"] == [{"name": "n", "type": "int64"}, {"name": "word", "type": "string"}]
    assert [r["n"] for r in first["rows"]] == list(range(10))
    page = client.get("/api/preview/raw?offset=2495&limit=10").json()
    assert [r["word"] for r in page["rows"]] == ["w2495", "w2496", "w2497", "w2498", "w2499"]


def test_the_preview_reads_only_the_row_groups_it_shows(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from datamake.storage.preview import _table_page

    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"n": list(range(100_000))}), path, row_group_size=1000)
    with open(path, "rb") as f:
        page = _table_page(f, 54_321, 5)
    assert [r["n"] for r in page["rows"]] == list(range(54_321, 54_326)) and page["total_rows"] == 100_000


@pytest.mark.parametrize("url", [
    "/api/artifact/../datamake.toml", "/api/artifact/..%2Fdatamake.toml", "/api/artifact/%2E%2E%2Fpipeline.py",
    "/api/artifact//etc/passwd", "/api/artifact/%2Fetc%2Fpasswd", "/api/artifact/raw%2F..%2F..%2Fpipeline.py",
    "/api/preview/..%2F..%2Fetc%2Fpasswd", "/api/preview/%252E%252E%252Fpipeline.py", "/api/artifact/raw%00.parquet",
    "/static/..%2Fapp.py", "/static/%2E%2E/app.py", "/static/../../pipeline.py",
])
def test_the_artifact_endpoints_serve_nothing_a_manifest_does_not_name(client, built, url):
    response = client.get(url)
    assert response.status_code in (400, 404), (url, response.status_code)
    assert b"definitions" not in response.content and b"root:" not in response.content
    assert b"import" not in response.content


def test_not_a_number_reaches_the_page_as_null(tmp_path):
    (tmp_path / "pipeline.py").write_text("import pyarrow as pa\nfrom datamake import asset\n\n@asset\n"
                                          "def ratios():\n    return pa.table({'r': [0.5, float('nan'), float('inf')]})\n")
    (tmp_path / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    assert api.make(api.load(str(tmp_path))).ok
    with TestClient(create_app(str(tmp_path))) as c:
        response = c.get("/api/preview/ratios")
    assert "NaN" not in response.text and [r["r"] for r in json.loads(response.text)["rows"]] == [0.5, None, None]


def test_the_artifact_endpoint_serves_the_current_value(client):
    response = client.get("/api/artifact/clean")
    assert response.status_code == 200 and response.content[:4] == b"PAR1"
    assert 'filename="clean.parquet"' in response.headers["content-disposition"]


def test_state_changes_need_post_and_the_csrf_token(client):
    assert client.get("/api/launch").status_code == 405
    assert client.post("/api/launch", json={"selection": ["raw"]}).status_code == 403
    assert client.post("/api/launch", json={"selection": ["raw"]}, headers={"x-csrf-token": "guess"}).status_code == 403
    evil = {**csrf_headers(client), "origin": "http://evil.example"}
    assert client.post("/api/launch", json={"selection": ["raw"]}, headers=evil).status_code == 403
    assert client.app.state.launcher.launches == {}  # nothing was started


def test_off_loopback_every_request_needs_the_token(built):
    with TestClient(create_app(str(built), token="s3cret")) as c:
        assert c.get("/").status_code == 403
        assert c.get("/api/ls").status_code == 403
        assert c.get("/api/ls", headers={"authorization": "token wrong"}).status_code == 403
        first = c.get("/runs?token=s3cret", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/runs"
        assert c.get("/api/ls").status_code == 200  # the cookie now carries it
        assert c.post("/api/launches/1/cancel", headers=csrf_headers(c)).status_code == 404  # past the guard


def test_a_loopback_server_refuses_foreign_host_headers(built):
    with TestClient(create_app(str(built), allowed_hosts={"127.0.0.1", "localhost"}), base_url="http://127.0.0.1") as c:
        assert c.get("/api/ls").status_code == 200
        assert c.get("/api/ls", headers={"host": "attacker.example"}).status_code == 400


def test_a_launch_of_an_unknown_selection_shows_the_cli_error_text(client, built):
    launched = client.post("/api/launch", json={"selection": ["reprot"]}, headers=csrf_headers(client))
    assert launched.status_code == 201
    done = finished_launch(client, launched.json()["id"])
    cli = subprocess.run([sys.executable, "-m", "datamake", "-C", str(built), "make", "reprot"],
                         capture_output=True, text=True, timeout=120)
    assert done["returncode"] == cli.returncode == 2
    assert done["output"].strip() == cli.stderr.strip()
    assert "datamake: error:" in done["output"] and "did you mean" in done["output"]


def test_a_launch_runs_make_in_its_own_process_and_is_found_in_the_log(client):
    launched = client.post("/api/launch", json={"selection": ["report"]}, headers=csrf_headers(client)).json()
    assert launched["pid"] != os.getpid() and launched["command"] == "datamake make -- report"
    done = finished_launch(client, launched["id"])
    assert done["returncode"] == 0, done["output"]
    run = client.get(f"/api/runs/{done['run_id']}").json()["run"]
    assert run["status"] == "ok" and run["tags"] == {"origin": "ui"} and run["pid"] == launched["pid"]
    assert {a["key"]: a["state"] for a in client.get("/api/status").json()["assets"]}["report"] == "fresh"


def test_a_launch_waits_for_the_lock_and_cancel_is_ctrl_c(client, built):
    project = api.load(str(built))
    with store_lock(project.store, "datamake make"):
        launched = client.post("/api/launch", json={"selection": ["report"], "force": True},
                               headers=csrf_headers(client)).json()
        waiting = wait_for(lambda: (lambda d: d if "waiting for" in d["output"] else None)(
            client.get(f"/api/launches/{launched['id']}").json()), what="the launch to wait for the lock")
        assert f"pid {os.getpid()}" in waiting["output"] and waiting["running"]
        assert client.post(f"/api/launches/{launched['id']}/cancel", headers=csrf_headers(client)).status_code == 200
        done = finished_launch(client, launched["id"])
    assert done["cancelled"] and done["returncode"] != 0
    assert {a["key"]: a["state"] for a in client.get("/api/status").json()["assets"]}["clean"] == "fresh"


def test_a_definitions_module_that_fails_is_shown_and_recovered_without_restart(client, built):
    assert client.get("/api/ls").status_code == 200
    good = (built / "pipeline.py").read_text()
    (built / "pipeline.py").write_text(good + "\nraise ValueError('the config is missing a colon')\n")
    broken = wait_for(lambda: (lambda r: r if r.status_code == 503 else None)(client.get("/api/ls")),
                      what="the server to see the broken file")
    assert "the config is missing a colon" in broken.json()["error"] and "pipeline.py" in broken.json()["error"]
    assert client.get("/").status_code == 200  # the page itself still loads, and shows the error
    assert client.get("/assets/raw").status_code == 200
    (built / "pipeline.py").write_text(good)
    fixed = wait_for(lambda: (lambda r: r if r.status_code == 200 else None)(client.get("/api/ls")),
                     what="the server to recover")
    assert {a["key"] for a in fixed.json()["assets"]} == {"raw", "clean", "report"}


def test_a_failed_run_keeps_the_users_traceback_for_the_run_page(tmp_path):
    (tmp_path / "pipeline.py").write_text("from datamake import asset\n\n@asset\ndef broken():\n"
                                          "    return {'a': 1}['b']\n")
    (tmp_path / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    assert not api.make(api.load(str(tmp_path))).ok
    with TestClient(create_app(str(tmp_path))) as c:
        run_id = c.get("/api/log").json()["runs"][0]["run_id"]
        failed = [e for e in c.get(f"/api/runs/{run_id}").json()["events"] if e["kind"] == "failed"]
    assert failed[0]["asset"] == "broken" and "KeyError" in failed[0]["message"]
    assert "pipeline.py" in failed[0]["metadata"]["traceback"] and "['b']" in failed[0]["metadata"]["traceback"]


def test_a_server_off_loopback_prints_its_token_and_requires_it(built):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "datamake", "-C", str(built), "ui", "--host", "0.0.0.0",
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        printed = [proc.stdout.readline(), proc.stdout.readline()]
        assert "warning: listening on 0.0.0.0" in printed[0], printed
        token = re.search(r"\?token=([\w-]+)", printed[1]).group(1)
        url = f"http://127.0.0.1:{port}/api/ls"
        wait_for(lambda: _status(url, {"authorization": f"token {token}"}) == 200, what="the server to answer")
        assert _status(url, {}) == 403 and _status(url, {"authorization": "token guess"}) == 403
    finally:
        proc.terminate()
        proc.wait(30)


def _status(url: str, headers: dict) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def test_the_activity_shows_which_asset_is_running_now(tmp_path):
    (tmp_path / "pipeline.py").write_text(
        "import os, time\nfrom datamake import asset\n\n@asset\ndef first():\n    return 1\n\n"
        "@asset\ndef slow(first):\n    deadline = time.monotonic() + 60\n"
        "    while not os.path.exists('go') and time.monotonic() < deadline:\n        time.sleep(0.02)\n"
        "    return first + 1\n")
    # two workers: the coordinator waits on them and writes the event log while it waits
    (tmp_path / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n[execution]\njobs = 2\n')
    with TestClient(create_app(str(tmp_path))) as c:
        launched = c.post("/api/launch", json={"selection": ["slow"]}, headers=csrf_headers(c)).json()
        running = wait_for(lambda: [r for r in c.get("/api/activity").json()["running"] if "slow" in r["assets"]],
                           what="slow to show as running")
        assert running[0]["tags"] == {"origin": "ui"} and running[0]["pid"] == launched["pid"]
        (tmp_path / "go").write_text("")
        assert finished_launch(c, launched["id"])["returncode"] == 0
        assert c.get("/api/activity").json()["running"] == []


def test_a_launch_selection_text_keeps_the_spaces_inside_its_quotes(tmp_path):
    (tmp_path / "pipeline.py").write_text(
        'from datamake import asset\n\n@asset(tags={"team": "data  eng"})\ndef tagged():\n    return 1\n\n'
        '@asset(tags={"team": "data eng"})\ndef other():\n    return 2\n')
    (tmp_path / "datamake.toml").write_text('[project]\ndefinitions = "pipeline.py"\n')
    with TestClient(create_app(str(tmp_path))) as c:
        launched = c.post("/api/launch", json={"selection": 'tag:team="data  eng"'}, headers=csrf_headers(c))
        assert launched.status_code == 201
        done = finished_launch(c, launched.json()["id"])
        assert done["returncode"] == 0, done["output"]
        states = {a["key"]: a["state"] for a in c.get("/api/status").json()["assets"]}
    assert states["tagged"] == "fresh" and states["other"] != "fresh"

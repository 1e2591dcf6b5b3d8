"""The ASGI application: pages, the JSON API under ``/api`` (the CLI's ``--json`` shapes), live events.

Every fact comes from :mod:`datamake.api`; this module only routes, checks and
serializes. See ``docs/ui.md``.
"""
from __future__ import annotations

import asyncio
import contextlib
import html
import json
import math
import os
from typing import Any, Callable, Dict, Iterator, List, Optional

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from datamake import api
from datamake.core.errors import DatamakeError, NotMaterializedError, SelectionError
from datamake.project.settings import find_config
from datamake.ui.launcher import Launcher
from datamake.ui.security import Guard, new_secret
from datamake.ui.workspace import ProjectHolder

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
STREAM_INTERVAL = 0.5  # seconds between two looks at the event log for the live stream
NOT_FOUND = (SelectionError, NotMaterializedError)


def create_app(project_dir: str = ".", *, token: Optional[str] = None, allowed_hosts=None) -> Guard:
    """The UI of the project at or above ``project_dir`` as an ASGI application.

    ``token`` (for a server reachable from other machines) is then required on every
    request; ``allowed_hosts`` limits the Host header (None: any).
    """
    holder = ProjectHolder(project_dir)
    launcher = Launcher(_project_dir(project_dir))
    csrf = new_secret()
    ui = _Handlers(holder, launcher, csrf)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await run_in_threadpool(launcher.close)  # Ctrl-C on the server is Ctrl-C on the runs it started

    app = Starlette(routes=ui.routes(), lifespan=lifespan)
    app.state.holder, app.state.launcher, app.state.csrf = holder, launcher, csrf
    guarded = Guard(app, csrf, token=token, allowed_hosts=allowed_hosts)
    guarded.state = app.state  # tests and the command reach the app's state through the outer layer
    return guarded


def _project_dir(start: str) -> str:
    """The folder of ``datamake.toml`` (launches run there), or ``start`` when there is none yet."""
    try:
        return os.path.dirname(find_config(start))
    except DatamakeError:
        return os.path.abspath(start)


def _error(exc: DatamakeError, status: int) -> JSONResponse:
    return JSONResponse({"error": exc.message, "hint": exc.hint}, status_code=status)


class _Handlers:
    """The endpoints, sharing the project holder, the launcher and the CSRF secret."""

    def __init__(self, holder: ProjectHolder, launcher: Launcher, csrf: str):
        self.holder, self.launcher, self.csrf = holder, launcher, csrf
        with open(os.path.join(STATIC, "index.html"), encoding="utf-8") as f:
            self.shell = f.read()

    def routes(self) -> List:
        api_routes = [
            ("/api/ls", self.ls), ("/api/status", self.status), ("/api/why/{key:path}", self.why),
            ("/api/log", self.log), ("/api/log/{key:path}", self.asset_log), ("/api/runs/{run_id}", self.run),
            ("/api/lineage/{key:path}", self.lineage), ("/api/preview/{key:path}", self.preview),
            ("/api/artifact/{key:path}", self.artifact), ("/api/activity", self.activity),
            ("/api/launches/{launch_id}", self.launch_state), ("/api/project", self.project_state),
        ]
        return [
            Route("/", self.page), Route("/runs", self.page), Route("/assets/{key:path}", self.asset_page),
            Route("/runs/{run_id}", self.run_page),
            *[Route(path, self._json(fn)) for path, fn in api_routes],
            Route("/api/stream", self.stream),
            Route("/api/launch", self._json(self.launch), methods=["POST"]),
            Route("/api/launches/{launch_id}/cancel", self._json(self.cancel), methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]

    # -- plumbing -------------------------------------------------------------
    def _json(self, fn: Callable[..., Any]) -> Callable[[Request], Any]:
        """An endpoint that returns ``fn(project, request)`` as JSON, DatamakeErrors as JSON errors."""

        async def endpoint(request: Request) -> Response:
            if request.method == "POST":
                try:
                    request.state.body = json.loads(await request.body() or b"{}")
                except ValueError:
                    return JSONResponse({"error": "the request body must be a JSON object"}, status_code=400)
            return await run_in_threadpool(self._call, fn, request)
        return endpoint

    def _call(self, fn: Callable[..., Any], request: Request) -> Response:
        try:
            with self.holder.use() as project:
                data = fn(project, request)
        except NOT_FOUND as exc:
            return _error(exc, 404)
        except DatamakeError as exc:
            return _error(exc, 503 if self.holder.error is exc else 400)
        if isinstance(data, Response):
            return data
        return Response(_dumps(data), media_type="application/json")

    def _shell(self, status: int = 200) -> HTMLResponse:
        return HTMLResponse(self.shell.replace("{{csrf}}", self.csrf), status_code=status)

    def _not_found(self, what: str, hint: str) -> HTMLResponse:
        body = (f"<!doctype html><title>Not found · datamake</title><link rel=stylesheet href=/static/style.css>"
                f"<main class=notfound><h1>404</h1><p>{html.escape(what)}</p><p class=hint>{html.escape(hint)}</p>"
                f"<p><a href=/>the asset graph</a> · <a href=/runs>runs</a></p></main>")
        return HTMLResponse(body, status_code=404)

    # -- pages ----------------------------------------------------------------
    def page(self, request: Request) -> HTMLResponse:
        return self._shell()

    def asset_page(self, request: Request) -> HTMLResponse:
        key = request.path_params["key"]
        try:
            with self.holder.use() as project:
                project.asset(key)
        except SelectionError as exc:
            return self._not_found(exc.message, exc.hint or "")
        except DatamakeError:
            pass  # the project does not load: the page shows why
        return self._shell()

    def run_page(self, request: Request) -> HTMLResponse:
        try:
            with self.holder.use() as project:
                api.log(project, run_id=request.path_params["run_id"], limit=1)
        except SelectionError as exc:
            return self._not_found(exc.message, exc.hint or "")
        except DatamakeError:
            pass
        return self._shell()

    # -- the JSON API: the CLI's --json shapes ----------------------------------
    def ls(self, project, request: Request) -> Dict[str, Any]:
        return {"assets": api.ls(project)}

    def status(self, project, request: Request) -> Dict[str, Any]:
        q = request.query_params
        plan = api.status(project, q.getlist("select"), only="only" in q, partition=q.get("partition") or None)
        data: Dict[str, Any] = {"assets": [d.to_dict() for d in plan.decisions]}
        warnings = project.code_warnings(d.key for d in plan.decisions)
        if warnings:
            data["warnings"] = list(warnings)
        return data

    def why(self, project, request: Request) -> Dict[str, Any]:
        return api.why(project, request.path_params["key"], request.query_params.get("partition") or None)

    def log(self, project, request: Request) -> Dict[str, Any]:
        return api.log(project, limit=_int(request, "limit", 50))

    def asset_log(self, project, request: Request) -> Dict[str, Any]:
        return api.log(project, request.path_params["key"], limit=_int(request, "limit", 50),
                       partition=request.query_params.get("partition") or None)

    def run(self, project, request: Request) -> Dict[str, Any]:
        return api.log(project, run_id=request.path_params["run_id"])

    def lineage(self, project, request: Request) -> Dict[str, Any]:
        return api.lineage(project, request.path_params["key"])

    def preview(self, project, request: Request) -> Dict[str, Any]:
        return api.preview(project, request.path_params["key"], request.query_params.get("partition") or None,
                           offset=_int(request, "offset", 0), limit=_int(request, "limit", 50))

    def artifact(self, project, request: Request) -> Response:
        """The stored bytes of an asset's current value: only ever an artifact a manifest names."""
        key, partition = request.path_params["key"], request.query_params.get("partition") or None
        project.asset(key)
        manifest = project.current_manifest(key, partition)
        if manifest is None:
            raise NotMaterializedError(f"'{key}' has never been materialized", hint=f"run `datamake make {key}`")
        name = key.replace("/", "_") + {"arrow": ".parquet", "pandas": ".parquet", "json": ".json",
                                          "text": ".txt"}.get(manifest.io_manager, ".bin")
        return StreamingResponse(_chunks(project.store.open_value(manifest)), media_type="application/octet-stream",
                                 headers={"content-disposition": f'attachment; filename="{name}"'})

    def activity(self, project, request: Request) -> Dict[str, Any]:
        return api.activity(project)

    def project_state(self, project, request: Request) -> Dict[str, Any]:
        return {"directory": project.directory, "store": project.store.url, "generation": self.holder.generation}

    # -- launches -----------------------------------------------------------------
    def launch(self, project, request: Request) -> Response:
        body = _body(request)
        selection = body.get("selection") or []
        if isinstance(selection, str):  # one selection text: quotes keep their spaces (tag:team="data eng")
            selection = [selection] if selection.strip() else []
        partition = body.get("partition") or None
        if not all(isinstance(s, str) for s in selection) or not isinstance(partition, (str, type(None))):
            return JSONResponse({"error": "selection must be a list of strings, partition a string"},
                                status_code=400)
        launch = self.launcher.start(selection, force=bool(body.get("force")), partition=partition)
        return JSONResponse(launch.to_dict(), status_code=201)

    def launch_state(self, project, request: Request) -> Response:
        launch = self.launcher.launches.get(request.path_params["launch_id"])
        if launch is None:
            return JSONResponse({"error": "no such launch"}, status_code=404)
        data = launch.to_dict()
        data["run_id"] = _run_of(project, launch.proc.pid, launch.started)
        return data

    def cancel(self, project, request: Request) -> Response:
        launch = self.launcher.launches.get(request.path_params["launch_id"])
        if launch is None:
            return JSONResponse({"error": "no such launch"}, status_code=404)
        self.launcher.cancel(launch)
        return launch.to_dict()

    # -- live ---------------------------------------------------------------------
    async def stream(self, request: Request) -> StreamingResponse:
        """Server-sent events: one ``data:`` line (activity, load error, project generation) each time
        it changes, whoever writes the event log (this page's launches or a terminal)."""

        async def events():
            last = None
            while not await request.is_disconnected():
                now = await asyncio.get_running_loop().run_in_executor(None, self._snapshot)
                if now != last:
                    last = now
                    yield f"data: {now}\n\n"
                else:
                    yield ": idle\n\n"  # a comment: lets a closed connection be noticed
                await asyncio.sleep(STREAM_INTERVAL)

        return StreamingResponse(events(), media_type="text/event-stream", headers={"cache-control": "no-store"})

    def _snapshot(self) -> str:
        try:
            with self.holder.use() as project:
                data = {"activity": api.activity(project), "error": None}
        except DatamakeError as exc:
            data = {"activity": None, "error": {"error": exc.message, "hint": exc.hint}}
        data["generation"] = self.holder.generation
        return json.dumps(data, default=str)


def _dumps(data: Any) -> str:
    """JSON that a browser parses: NaN and infinities (a table's or metadata's floats) become null."""
    try:
        return json.dumps(data, default=str, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(data), default=str, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _chunks(f) -> Iterator[bytes]:
    with f:
        yield from iter(lambda: f.read(1 << 20), b"")


def _int(request: Request, name: str, default: int) -> int:
    try:
        return int(request.query_params.get(name, default))
    except ValueError:
        return default


def _body(request: Request) -> Dict[str, Any]:
    """The JSON object a POST carried (read before the endpoint's worker thread started)."""
    body = getattr(request.state, "body", None)
    return body if isinstance(body, dict) else {}


def _run_of(project, pid: int, since: float) -> Optional[str]:
    """The run a launch's process recorded in the event log (found by its pid), once it has begun."""
    for run in api.log(project, limit=20)["runs"]:
        if run.get("pid") == pid and run["started"] >= since - 5:
            return run["run_id"]
    return None

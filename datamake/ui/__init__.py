"""``datamake ui``: a web application over :mod:`datamake.api` (install ``datamake[ui]``).

The server (Starlette on uvicorn) reads the project, its store and its event log
through :mod:`datamake.api` only; the front end ships in ``static/`` (no build
step). Runs are launched as ``datamake make`` processes, so a run started here is
the same as one started in a terminal.

Example::

    from datamake.ui.app import create_app
    app = create_app("path/to/project")   # an ASGI application
"""

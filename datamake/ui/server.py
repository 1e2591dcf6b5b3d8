"""Run the UI on uvicorn: the address (and token) printed, as Jupyter does."""
from __future__ import annotations

import threading
import webbrowser
from typing import Callable

import uvicorn

from datamake.ui.app import create_app
from datamake.ui.security import LOOPBACK_NAMES, is_loopback, new_secret


def serve(project_dir: str, host: str = "127.0.0.1", port: int = 3000, open_browser: bool = False,
          echo: Callable[[str], None] = print) -> None:
    """Serve until Ctrl-C. A non-loopback ``host`` gets a token, required on every request."""
    token = None if is_loopback(host) else new_secret()
    allowed = None if token else {*LOOPBACK_NAMES, host}
    app = create_app(project_dir, token=token, allowed_hosts=allowed)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    address = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"
    if token:
        address += f"?token={token}"
        echo(f"datamake ui: warning: listening on {host}, reachable from other machines; every request "
             f"needs the token in this address")
    error = app.state.holder.warm()
    if error is not None:
        echo(f"datamake ui: warning: the project does not load ({error.message.splitlines()[0]}); "
             f"the page shows why and recovers when it is fixed")
    echo(f"datamake ui: serving {app.state.holder.directory} at {address}  (Ctrl-C to stop)")
    if open_browser:
        threading.Timer(0.5, webbrowser.open, (address,)).start()
    uvicorn.run(app, host=host, port=port, log_level="warning")

"""``datamake ui``: serve the web UI (needs ``pip install 'datamake[ui]'``)."""
from __future__ import annotations

import click

from datamake.core.errors import ConfigError
from datamake.project import heap


@click.command(name="ui")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Any other than loopback requires a token, printed at start.")
@click.option("--port", default=3000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a web browser.")
@click.pass_context
def ui_command(ctx: click.Context, host: str, port: int, open_browser: bool) -> None:
    """Serve the web UI: the asset graph, why things are stale, runs, and launching them."""
    heap.resume()  # a long-lived process: the collector runs from here on
    try:
        from datamake.ui.server import serve  # lazy: the web stack is an optional extra, never loaded otherwise
    except ImportError as exc:
        raise ConfigError(f"the web UI needs packages that are not installed ({exc.name})",
                          hint="pip install 'datamake[ui]'") from None
    serve(ctx.obj["dir"], host=host, port=port, open_browser=open_browser, echo=click.echo)

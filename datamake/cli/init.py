"""``datamake init [DIR]``: a starter project that ``datamake make`` builds right away."""
from __future__ import annotations

import os

import click

from datamake.cli.main import main


@main.command(name="init")
@click.argument("directory", default=".", required=False)
@click.pass_context
def init_command(ctx, directory):
    """Create a starter project in DIRECTORY (default: here): datamake.toml, pipeline.py, data/."""
    from datamake.project.starter import write_starter  # lazy: a fast --help

    target = os.path.join(ctx.obj["dir"], directory)
    for name in write_starter(target):
        click.echo(f"created  {os.path.join(directory, name) if directory != '.' else name}")
    where = "" if directory == "." else f"cd {directory} && "
    click.echo(f"next: {where}datamake make && datamake show report")

"""``kvt app``: start kvt's Streamlit app (library: :mod:`kvt.app`; the optional extra ``kvt[app]``)."""

from __future__ import annotations

import click


@click.command("app")
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True,
              help="TCP port the app listens on.")
@click.option("--address", default="127.0.0.1", show_default=True,
              help="Address the app listens on: 127.0.0.1 is this machine only; 0.0.0.0 lets anyone who can reach "
                   "this machine use the app (and write files where it runs).")
def app_command(port, address):
    """Start kvt's Streamlit app in the browser: data, training, results, optimizer comparison and exports."""
    from kvt.app.launch import launch

    code = launch(port, address, echo=lambda line: click.echo(line, err=True))
    if code:
        raise click.exceptions.Exit(code)

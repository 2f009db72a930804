"""``batchaio emulator``: the same as ``python -m batchaio.emulator`` (needs the ``emulator`` extra)."""

from __future__ import annotations

from collections.abc import Sequence

import click

from batchaio.cli._app import App, cli, pass_app
from batchaio.cli._errors import CliError

__all__ = ["emulator"]


@cli.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
@pass_app
def emulator(app: App, arguments: Sequence[str]) -> None:
    """Serve a local Batch emulator (options as `python -m batchaio.emulator --help` lists them)."""
    try:
        from batchaio.emulator.__main__ import main
    except ImportError as exc:
        app.fail(
            CliError(f"the emulator needs the 'emulator' extra: pip install 'batchaio[emulator]' ({exc})")
        )
    try:
        code = main(list(arguments))
    except KeyboardInterrupt:
        code = 130
    raise click.exceptions.Exit(code)

"""The ``batchaio`` command group: connection options shared by every command, and how a command runs."""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn, TextIO

import click

from batchaio import _constants as C
from batchaio._client import BatchClient
from batchaio._version import __version__
from batchaio.cli._errors import CliError, error_line, exit_code_for
from batchaio.cli._progress import Display, choose_mode, make_display
from batchaio.cli._running import Interrupts, run_command
from batchaio.cli._settings import (
    ACCOUNT_VARIABLE,
    ENDPOINT_VARIABLE,
    KEY_VARIABLE,
    Auth,
    open_client,
    resolve_settings,
)
from batchaio.errors import ValidationError

__all__ = ["App", "ClientBody", "cli", "pass_app"]

ClientBody = Callable[[BatchClient, Interrupts], Awaitable[int]]


@dataclass
class App:
    """What every command shares: the connection options, the progress mode and ``--debug``."""

    endpoint: str | None
    account: str | None
    key: str | None
    auth: Auth
    progress: str
    progress_interval: float
    debug: bool

    @property
    def out(self) -> TextIO:
        return sys.stdout

    @property
    def err(self) -> TextIO:
        return sys.stderr

    def display(self) -> Display:
        """Progress on standard error: live on a terminal, plain lines otherwise (``--progress``)."""
        is_terminal = getattr(self.err, "isatty", lambda: False)()
        mode = choose_mode(self.progress, is_terminal=is_terminal, term=os.environ.get("TERM"))
        return make_display(mode, self.err, self.progress_interval)

    def say(self, text: str) -> None:
        """A status line on standard error."""
        print(text, file=self.err, flush=True)

    def fail(self, exc: BaseException) -> NoReturn:
        """Print ``exc`` as one ``error:`` line and exit with its code."""
        self.say(f"error: {error_line(exc)}")
        raise click.exceptions.Exit(exit_code_for(exc))

    @contextmanager
    def checking(self) -> Iterator[None]:
        """Bad input found before anything is sent ends the command with one line and exit code 2."""
        try:
            yield
        except (ValidationError, CliError) as exc:
            self.fail(exc)

    def run(self, body: Callable[[Interrupts], Awaitable[int]]) -> NoReturn:
        """Run a coroutine that needs no client and exit with its code."""
        raise click.exceptions.Exit(run_command(body, debug=self.debug, err=self.err))

    def run_with_client(self, body: ClientBody) -> NoReturn:
        """Connect as the options say, run ``body(client, interrupts)`` and exit with its code."""
        with self.checking():
            settings = resolve_settings(self.endpoint, self.account, self.key, self.auth)

        async def connected(interrupts: Interrupts) -> int:
            async with open_client(settings) as client:
                return await body(client, interrupts)

        self.run(connected)


pass_app = click.make_pass_decorator(App)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option(
    "--endpoint", envvar=ENDPOINT_VARIABLE, metavar="URL", help=f"Batch account URL [{ENDPOINT_VARIABLE}]."
)
@click.option("--account", envvar=ACCOUNT_VARIABLE, help=f"Account name for Shared Key [{ACCOUNT_VARIABLE}].")
@click.option(
    "--key",
    envvar=KEY_VARIABLE,
    help=f"Account key for Shared Key; prefer the environment variable (never printed) [{KEY_VARIABLE}].",
)
@click.option(
    "--auth",
    type=click.Choice(["shared-key", "entra"]),
    default="shared-key",
    show_default=True,
    help="Shared Key, or Microsoft Entra through azure-identity's DefaultAzureCredential (https only).",
)
@click.option(
    "--progress",
    type=click.Choice(["auto", "live", "plain", "off"]),
    default="auto",
    show_default=True,
    help="Progress on standard error: a live line on a terminal, plain lines otherwise.",
)
@click.option(
    "--progress-interval",
    type=click.FloatRange(min=0.01),
    default=C.CLI_PLAIN_PROGRESS_SECONDS,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between plain progress lines.",
)
@click.option("--debug", is_flag=True, help="Show the traceback of an error.")
@click.version_option(__version__, prog_name="batchaio")
@click.pass_context
def cli(
    ctx: click.Context,
    endpoint: str | None,
    account: str | None,
    key: str | None,
    auth: Auth,
    progress: str,
    progress_interval: float,
    debug: bool,
) -> None:
    """Azure Batch from the shell: bulk task submission, task factories, listing, waiting and files.

    Connect with --endpoint/--account/--key or the BATCH_* variables that `batchaio emulator` prints.
    Exit codes: 0 success, 1 failure, 2 bad usage or input (and `jobs wait` timing out), 130 interrupted.
    """
    ctx.obj = App(endpoint, account, key, auth, progress, progress_interval, debug)

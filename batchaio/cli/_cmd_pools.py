"""``batchaio pools ensure``: create a pool from a JSON body unless it exists, then wait until it is ready."""

from __future__ import annotations

import sys

import click
import orjson
from cattrs.errors import ForbiddenExtraKeysError

from batchaio import _constants as C
from batchaio._client import BatchClient
from batchaio._serde import strict_converter
from batchaio._workflow_errors import StartTaskFailedError
from batchaio.cli._app import App, cli, pass_app
from batchaio.cli._errors import EXIT_FAILED, CliError, error_line
from batchaio.cli._running import Interrupts
from batchaio.cli._waiting import pool_line, start_task_lines
from batchaio.errors import ConflictError
from batchaio.models import BatchPoolCreateContent

__all__ = ["parse_pool", "pools"]


@cli.group()
def pools() -> None:
    """Pools: create one if needed and wait until it is ready."""


def parse_pool(content: bytes, name: str) -> BatchPoolCreateContent:
    """A pool body in the REST API's names (as ``az batch pool create --json-file`` takes it)."""
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise CliError(f"{name}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CliError(f"{name}: a pool is a JSON object, not {type(data).__name__}")
    try:
        pool = strict_converter.structure(data, BatchPoolCreateContent)
    except ForbiddenExtraKeysError as exc:
        names = ", ".join(sorted(exc.extra_fields))
        raise CliError(
            f"{name}: unknown properties for {exc.cl.__name__}: {names} (use the REST API's camelCase names)"
        ) from None
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise CliError(f"{name}: invalid pool: {exc}") from None
    if not pool.id:
        raise CliError(f"{name}: the pool has no id")
    return pool


@pools.command("ensure")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=C.POOL_READY_TIMEOUT,
    show_default=True,
    help="Seconds to wait for the pool (exit 2 after).",
)
@click.option(
    "--min-nodes", type=click.IntRange(min=1), help="Nodes that must be idle or running (default: all)."
)
@click.option("--no-wait", is_flag=True, help="Create the pool if it is missing, and do not wait.")
@pass_app
def ensure(app: App, file: str, timeout: float, min_nodes: int | None, no_wait: bool) -> None:
    """Create the pool in FILE (a JSON body, or - for standard input) unless it exists, then wait until it is
    ready: its allocation steady and its nodes idle or running.

    Gives up early, saying why, when the pool cannot get there: resize errors (quota named), start task
    failures (with the end of the start task's stderr) or unusable nodes. Exit code 0 when ready, 1 when it
    cannot be, 2 on --timeout.
    """
    with app.checking():
        if file == "-":
            content = sys.stdin.buffer.read()
        else:
            with open(file, "rb") as handle:
                content = handle.read()
        pool = parse_pool(content, "standard input" if file == "-" else file)
    pool_id = pool.id
    assert pool_id is not None

    async def body(client: BatchClient, interrupts: Interrupts) -> int:
        try:
            await client.pools.create(pool)
            app.say(f"created pool {pool_id}")
        except ConflictError as exc:
            if (exc.code or "").lower() != "poolexists":
                raise
            app.say(f"pool {pool_id} exists")
        if no_wait:
            return 0
        app.say(f"waiting for pool {pool_id} to be ready (at most {timeout:g} s)")
        try:
            ready = await client.pools.wait_until_ready(pool_id, timeout=timeout, min_nodes=min_nodes)
        except StartTaskFailedError as exc:
            app.say(f"error: {error_line(exc)}")
            for line in start_task_lines(exc.failures):
                app.say(line)
            return EXIT_FAILED
        print(pool_line(ready), file=app.out, flush=True)
        return 0

    app.run_with_client(body)

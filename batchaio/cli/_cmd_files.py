"""``batchaio files download``: one file of a task or of a compute node, whole or a byte range."""

from __future__ import annotations

import sys
from pathlib import PurePosixPath

import anyio
import click

from batchaio._client import BatchClient
from batchaio._files import FileDownload
from batchaio.cli._app import App, cli, pass_app
from batchaio.cli._errors import CliError
from batchaio.cli._running import Interrupts

__all__ = ["files"]


@cli.group()
def files() -> None:
    """Files of tasks and compute nodes."""


def _where(job: str | None, task: str | None, pool: str | None, node: str | None) -> str:
    """``task`` or ``node``: which pair of options names the file's owner (exactly one pair)."""
    if job and task and not (pool or node):
        return "task"
    if pool and node and not (job or task):
        return "node"
    raise CliError("name the file's owner: --job and --task, or --pool and --node")


@files.command("download")
@click.argument("file_path")
@click.option("--job", help="The task's job.")
@click.option("--task", help="The task whose directory holds FILE_PATH (e.g. stdout.txt, wd/out.csv).")
@click.option("--pool", help="The node's pool.")
@click.option("--node", help="The node whose file system holds FILE_PATH (e.g. startup/stderr.txt).")
@click.option(
    "-o", "--output", help="Where to write (default: FILE_PATH's name here; - for standard output)."
)
@click.option("--offset", type=click.IntRange(min=0), default=0, help="First byte to download.")
@click.option("--length", type=click.IntRange(min=1), help="Bytes to download (default: to the end).")
@pass_app
def download(
    app: App,
    file_path: str,
    job: str | None,
    task: str | None,
    pool: str | None,
    node: str | None,
    output: str | None,
    offset: int,
    length: int | None,
) -> None:
    """Download FILE_PATH of a task (--job, --task) or a node (--pool, --node).

    A dropped connection resumes with a byte range if the file is unchanged. A local file is replaced only
    once the whole file has arrived.
    """
    with app.checking():
        owner = _where(job, task, pool, node)
    destination = output or PurePosixPath(file_path).name or "download"

    def stream(client: BatchClient) -> FileDownload:
        if owner == "task":
            assert job is not None and task is not None
            return client.tasks.download_file(job, task, file_path, offset=offset, length=length)
        assert pool is not None and node is not None
        return client.nodes.download_file(pool, node, file_path, offset=offset, length=length)

    async def body(client: BatchClient, interrupts: Interrupts) -> int:
        if destination == "-":
            written = 0
            out = sys.stdout.buffer
            async with stream(client) as chunks:
                async for chunk in chunks:
                    out.write(chunk)
                    written += len(chunk)
            out.flush()
            return 0
        if owner == "task":
            assert job is not None and task is not None
            await client.tasks.download_file_to(
                job, task, file_path, destination, offset=offset, length=length
            )
        else:
            assert pool is not None and node is not None
            await client.nodes.download_file_to(
                pool, node, file_path, destination, offset=offset, length=length
            )
        size = (await anyio.Path(destination).stat()).st_size
        app.say(f"downloaded {file_path} ({size:,} bytes) to {destination}")
        return 0

    app.run_with_client(body)

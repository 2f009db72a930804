"""``batchaio files download``: one file of a task or of a compute node, whole, a byte range, or resumed."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Literal

import anyio
import click

from batchaio._client import BatchClient
from batchaio._files import BatchFileProperties, FileDownload
from batchaio.cli._app import App, cli, pass_app
from batchaio.cli._errors import CliError
from batchaio.cli._running import Interrupts

__all__ = ["files", "resume_offset"]


@cli.group()
def files() -> None:
    """Files of tasks and compute nodes."""


def resume_offset(
    local_size: int | None,
    local_modified: datetime | None,
    remote_size: int | None,
    remote_modified: datetime | None,
) -> int | None:
    """Where ``--resume`` starts: ``None`` when the local copy is already whole, the local size to append to
    a partial copy of the same file, 0 to start over (no local copy, or one that cannot be the file's start:
    the file changed after the copy was written, or is shorter than it, or the service gave no size or date).
    """
    if not local_size:
        return 0
    if remote_size is None or remote_modified is None or local_modified is None:
        return 0
    if remote_modified > local_modified or local_size > remote_size:
        return 0
    return None if local_size == remote_size else local_size


@dataclass(frozen=True)
class RemoteFile:
    """A file in a task's directory (``job``, ``task``) or on a node (``pool``, ``node``)."""

    path: str
    job: str | None = None
    task: str | None = None
    pool: str | None = None
    node: str | None = None

    def __post_init__(self) -> None:
        on_task = bool(self.job and self.task) and not (self.pool or self.node)
        on_node = bool(self.pool and self.node) and not (self.job or self.task)
        if not (on_task or on_node):
            raise CliError("name the file's owner: --job and --task, or --pool and --node")

    def open(
        self, client: BatchClient, offset: int = 0, length: int | None = None, since: datetime | None = None
    ) -> FileDownload:
        if self.job is not None and self.task is not None:
            return client.tasks.download_file(
                self.job, self.task, self.path, offset=offset, length=length, if_unmodified_since=since
            )
        assert self.pool is not None and self.node is not None
        return client.nodes.download_file(
            self.pool, self.node, self.path, offset=offset, length=length, if_unmodified_since=since
        )

    async def properties(self, client: BatchClient) -> BatchFileProperties:
        if self.job is not None and self.task is not None:
            return await client.tasks.get_file_properties(self.job, self.task, self.path)
        assert self.pool is not None and self.node is not None
        return await client.nodes.get_file_properties(self.pool, self.node, self.path)

    async def save(self, client: BatchClient, destination: str, offset: int, length: int | None) -> None:
        """To a local file, replacing it only once the whole body has arrived."""
        if self.job is not None and self.task is not None:
            await client.tasks.download_file_to(
                self.job, self.task, self.path, destination, offset=offset, length=length
            )
            return
        assert self.pool is not None and self.node is not None
        await client.nodes.download_file_to(
            self.pool, self.node, self.path, destination, offset=offset, length=length
        )


async def _local_state(path: str) -> tuple[int | None, datetime | None]:
    """The size and modification time of a local file, or ``(None, None)`` when there is none."""
    try:
        status = await anyio.Path(path).stat()
    except FileNotFoundError:
        return None, None
    return status.st_size, datetime.fromtimestamp(status.st_mtime, tz=timezone.utc)


async def _resume(client: BatchClient, remote: RemoteFile, destination: str, app: App) -> int:
    """Append the rest of the file to a partial local copy, on condition that the file did not change."""
    properties = await remote.properties(client)
    local_size, local_modified = await _local_state(destination)
    start = resume_offset(local_size, local_modified, properties.content_length, properties.last_modified)
    if start is None:
        app.say(f"{destination} is already complete ({local_size:,} bytes)")
        return 0
    mode: Literal["ab", "wb"] = "ab" if start else "wb"
    async with (
        remote.open(client, start, since=properties.last_modified) as chunks,
        await anyio.open_file(destination, mode) as out,
    ):
        async for chunk in chunks:
            await out.write(chunk)
    how = f"resumed at byte {start:,}" if start else "from the start"
    app.say(f"downloaded {remote.path} ({how}) to {destination}")
    return 0


async def _to_stdout(client: BatchClient, remote: RemoteFile, offset: int, length: int | None) -> int:
    out = sys.stdout.buffer
    async with remote.open(client, offset, length) as chunks:
        async for chunk in chunks:
            out.write(chunk)
    out.flush()
    return 0


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
@click.option("--resume", is_flag=True, help="Go on from the partial local copy of an interrupted --resume.")
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
    resume: bool,
) -> None:
    """Download FILE_PATH of a task (--job, --task) or a node (--pool, --node).

    A dropped connection resumes with a byte range if the file is unchanged. A local file is replaced only
    once the whole file has arrived; with --resume it is written in place instead, so that a download that
    was interrupted is finished by running the same command again (if the file did not change meanwhile).
    """
    destination = output or PurePosixPath(file_path).name or "download"
    with app.checking():
        remote = RemoteFile(file_path, job, task, pool, node)
        if resume and (offset or length is not None or destination == "-"):
            raise CliError("--resume downloads a whole file to a local path: no --offset, --length or -o -")

    async def body(client: BatchClient, interrupts: Interrupts) -> int:
        if resume:
            return await _resume(client, remote, destination, app)
        if destination == "-":
            return await _to_stdout(client, remote, offset, length)
        await remote.save(client, destination, offset, length)
        size = (await anyio.Path(destination).stat()).st_size
        app.say(f"downloaded {file_path} ({size:,} bytes) to {destination}")
        return 0

    app.run_with_client(body)

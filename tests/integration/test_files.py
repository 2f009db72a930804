"""Task files over HTTP: list, properties, ranged download, download to a local file."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchaio import BatchClient, NotFoundError, models

from .conftest import echo_task, eventually

pytestmark = pytest.mark.integration

TEXT = "0123456789abcdefghij"


@pytest.fixture
async def finished_task(client: BatchClient, job_id: str) -> tuple[str, str]:
    await client.tasks.create(job_id, echo_task("writer", TEXT))

    async def done() -> bool:
        return (
            await client.tasks.get(job_id, "writer", select=["state"])
        ).state == models.BatchTaskState.COMPLETED

    await eventually(done)
    return job_id, "writer"


async def test_list_files_and_properties(client: BatchClient, finished_task: tuple[str, str]) -> None:
    job_id, task_id = finished_task
    files = {file.name: file async for file in client.tasks.list_files(job_id, task_id, recursive=True)}
    assert {"stdout.txt", "stderr.txt"} <= set(files)
    stdout = files["stdout.txt"]
    assert stdout.is_directory is False
    assert stdout.properties is not None
    assert stdout.properties.content_length == len(TEXT) + 1

    properties = await client.tasks.get_file_properties(job_id, task_id, "stdout.txt")
    assert properties.content_length == len(TEXT) + 1
    assert properties.is_directory is False
    assert properties.last_modified is not None


async def test_download_whole_and_byte_range(client: BatchClient, finished_task: tuple[str, str]) -> None:
    job_id, task_id = finished_task
    async with client.tasks.download_file(job_id, task_id, "stdout.txt") as stream:
        assert await stream.read() == (TEXT + "\n").encode()
        assert stream.status_code == 200

    async with client.tasks.download_file(job_id, task_id, "stdout.txt", offset=3, length=5) as stream:
        chunks = [chunk async for chunk in stream]
    assert b"".join(chunks) == b"34567"
    assert stream.received == 5


async def test_download_file_to(client: BatchClient, finished_task: tuple[str, str], tmp_path: Path) -> None:
    job_id, task_id = finished_task
    destination = tmp_path / "stdout.txt"
    properties = await client.tasks.download_file_to(job_id, task_id, "stdout.txt", destination)
    assert destination.read_text() == TEXT + "\n"
    assert properties.content_length == len(TEXT) + 1

    missing = tmp_path / "missing.txt"
    with pytest.raises(NotFoundError):
        await client.tasks.download_file_to(job_id, task_id, "no-such-file.txt", missing)
    assert not missing.exists()

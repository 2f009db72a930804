"""Tasks over HTTP: create and get, list with filters and across pages, replace constraints, terminate,
reactivate, delete, and raw add_collection limits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from batchaio import BatchClient, NotFoundError, ValidationError, models
from batchaio import filters as f
from batchaio.emulator import Emulator

from .conftest import echo_task, eventually

pytestmark = pytest.mark.integration


async def completed(client: BatchClient, job_id: str, task_id: str) -> bool:
    task = await client.tasks.get(job_id, task_id, select=["state"])
    return task.state == models.BatchTaskState.COMPLETED


async def test_create_get_and_run_to_completion(client: BatchClient, job_id: str) -> None:
    created = await client.tasks.create(job_id, echo_task("t1", "hello"))
    assert created.status_code == 201
    assert created.location is not None and created.location.endswith(f"/jobs/{job_id}/tasks/t1")

    await eventually(lambda: completed(client, job_id, "t1"))
    task = await client.tasks.get(job_id, "t1")
    assert task.command_line == "/bin/sh -c 'echo hello'"
    assert task.execution_info is not None
    assert task.execution_info.exit_code == 0
    assert task.execution_info.result == models.BatchTaskExecutionResult.SUCCESS


async def test_list_with_filters_and_paging(client: BatchClient, job_id: str) -> None:
    tasks = [echo_task(f"even-{n:02d}") for n in range(0, 24, 2)]
    tasks += [
        models.BatchTaskCreateContent(id=f"odd-{n:02d}", command_line="/bin/sh -c 'exit 1'")
        for n in range(1, 24, 2)
    ]
    report = await client.tasks.add_many(job_id, tasks, chunk_size=10)
    assert (report.created, report.failed) == (24, 0)

    async def all_completed() -> bool:
        counts = (await client.jobs.get_task_counts(job_id)).task_counts
        return counts is not None and counts.completed == 24

    await eventually(all_completed)

    by_prefix = client.tasks.list(job_id, filter=f.startswith("id", "even-"), select=["id"], max_results=5)
    pages = [page async for page in by_prefix.pages()]
    assert [len(page.items) for page in pages] == [5, 5, 2]
    assert [task.id for page in pages for task in page.items] == [f"even-{n:02d}" for n in range(0, 24, 2)]

    failed = f.and_(f.eq("state", models.BatchTaskState.COMPLETED), f.ne("executionInfo/exitCode", 0))
    assert sorted([task.id async for task in client.tasks.list(job_id, filter=failed, max_results=4)]) == [
        f"odd-{n:02d}" for n in range(1, 24, 2)
    ]

    everything = [task.id async for task in client.tasks.list(job_id, max_results=7, select=["id"])]
    assert len(everything) == len(set(everything)) == 24


async def test_replace_constraints(client: BatchClient, job_id: str) -> None:
    await client.tasks.create(job_id, models.BatchTaskCreateContent(id="long", command_line="sleep 30"))
    await client.tasks.replace(
        job_id,
        "long",
        models.BatchTask(
            constraints=models.BatchTaskConstraints(
                max_wall_clock_time=timedelta(hours=2),
                retention_time=timedelta(days=1),
                max_task_retry_count=3,
            )
        ),
    )
    task = await client.tasks.get(job_id, "long", select=["id", "constraints"])
    assert task.constraints == models.BatchTaskConstraints(
        max_wall_clock_time=timedelta(hours=2), retention_time=timedelta(days=1), max_task_retry_count=3
    )


async def test_terminate_reactivate_delete(client: BatchClient, job_id: str) -> None:
    await client.tasks.create(job_id, models.BatchTaskCreateContent(id="slow", command_line="sleep 30"))

    await client.tasks.terminate(job_id, "slow")
    await eventually(lambda: completed(client, job_id, "slow"))
    task = await client.tasks.get(job_id, "slow")
    assert task.execution_info is not None
    assert task.execution_info.result == models.BatchTaskExecutionResult.FAILURE
    assert task.execution_info.failure_info is not None
    assert task.execution_info.failure_info.code == "TaskEnded"

    await client.tasks.reactivate(job_id, "slow")
    task = await client.tasks.get(job_id, "slow", select=["state", "executionInfo"])
    assert task.state in (models.BatchTaskState.ACTIVE, models.BatchTaskState.RUNNING)
    assert task.execution_info is None or task.execution_info.failure_info is None

    await client.tasks.delete(job_id, "slow")
    with pytest.raises(NotFoundError) as caught:
        await client.tasks.get(job_id, "slow")
    assert caught.value.code == "TaskNotFound"


async def test_add_collection_takes_100_tasks_and_refuses_101_before_sending(
    client: BatchClient, job_id: str, emulator: Emulator
) -> None:
    result = await client.tasks.add_collection(
        job_id, models.BatchTaskGroup(value=[echo_task(f"c-{n:03d}") for n in range(100)])
    )
    assert len(result.value or []) == 100
    assert {item.status for item in result.value or []} == {models.BatchTaskAddStatus.SUCCESS}
    assert sorted(item.task_id or "" for item in result.value or []) == [f"c-{n:03d}" for n in range(100)]

    seen = emulator.faults.counts["requests"]
    with pytest.raises(ValidationError):
        await client.tasks.add_collection(
            job_id, models.BatchTaskGroup(value=[echo_task(f"d-{n:03d}") for n in range(101)])
        )
    assert emulator.faults.counts["requests"] == seen

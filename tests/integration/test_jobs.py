"""Jobs over HTTP: create, get with select, update and replace, disable and enable, terminate, task counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from batchaio import BatchClient, models

from .conftest import POOL_ID, echo_task, eventually

pytestmark = pytest.mark.integration


async def test_job_create_get_update_replace(client: BatchClient, unique: Callable[[str], str]) -> None:
    job_id = unique("job")
    await client.jobs.create(
        models.BatchJobCreateContent(
            id=job_id, priority=10, pool_info=models.BatchPoolInfo(pool_id=POOL_ID), display_name="first"
        )
    )

    job = await client.jobs.get(job_id, select=["id", "state", "priority"])
    assert (job.id, job.state, job.priority) == (job_id, models.BatchJobState.ACTIVE, 10)
    assert job.display_name is None  # not selected

    await client.jobs.update(job_id, models.BatchJobUpdateContent(priority=20, max_parallel_tasks=4))
    job = await client.jobs.get(job_id)
    assert (job.priority, job.max_parallel_tasks, job.display_name) == (20, 4, "first")

    # Replace resets what it does not carry: priority goes back to its default (0).
    await client.jobs.replace(
        job_id,
        models.BatchJob(
            pool_info=models.BatchPoolInfo(pool_id=POOL_ID),
            metadata=[models.MetadataItem(name="replaced", value="yes")],
        ),
    )
    job = await client.jobs.get(job_id)
    assert job.priority == 0
    assert job.metadata == [models.MetadataItem(name="replaced", value="yes")]
    assert job.display_name == "first"  # not updatable, kept


async def test_disable_enable_terminate(client: BatchClient, job_id: str) -> None:
    await client.jobs.disable(
        job_id, models.BatchJobDisableContent(disable_tasks=models.DisableBatchJobOption.REQUEUE)
    )

    async def in_state(state: models.BatchJobState) -> bool:
        return (await client.jobs.get(job_id, select=["state"])).state == state

    await eventually(lambda: in_state(models.BatchJobState.DISABLED))

    await client.jobs.enable(job_id)
    await eventually(lambda: in_state(models.BatchJobState.ACTIVE))

    await client.jobs.terminate(job_id, models.BatchJobTerminateContent(terminate_reason="done here"))
    await eventually(lambda: in_state(models.BatchJobState.COMPLETED))
    job = await client.jobs.get(job_id)
    assert job.execution_info is not None
    assert job.execution_info.terminate_reason == "done here"


async def test_task_counts_follow_the_tasks(client: BatchClient, job_id: str) -> None:
    result = await client.tasks.add_collection(
        job_id,
        models.BatchTaskGroup(
            value=[echo_task(f"ok-{n}") for n in range(6)]
            + [
                models.BatchTaskCreateContent(id=f"bad-{n}", command_line="/bin/sh -c 'exit 3'")
                for n in range(2)
            ]
        ),
    )
    assert [item.status for item in result.value or []] == [models.BatchTaskAddStatus.SUCCESS] * 8

    async def all_completed() -> bool:
        counts = (await client.jobs.get_task_counts(job_id)).task_counts
        return counts is not None and counts.completed == 8

    await eventually(all_completed)
    result_counts = await client.jobs.get_task_counts(job_id)
    assert result_counts.task_counts == models.BatchTaskCounts(
        active=0, running=0, completed=8, succeeded=6, failed=2
    )
    assert result_counts.task_slot_counts is not None
    assert result_counts.task_slot_counts.completed == 8


async def test_job_schedule_flow(client: BatchClient, unique: Callable[[str], str]) -> None:
    schedule_id = unique("schedule")
    await client.job_schedules.create(
        models.BatchJobScheduleCreateContent(
            id=schedule_id,
            schedule=models.BatchJobScheduleConfiguration(recurrence_interval=timedelta(hours=1)),
            job_specification=models.BatchJobSpecification(pool_info=models.BatchPoolInfo(pool_id=POOL_ID)),
        )
    )
    assert await client.job_schedules.exists(schedule_id) is True
    schedule = await client.job_schedules.get(schedule_id)
    assert schedule.state == models.BatchJobScheduleState.ACTIVE
    assert schedule.schedule is not None
    assert schedule.execution_info is not None

    async def has_a_job() -> bool:
        return [job async for job in client.jobs.list_from_schedule(schedule_id)] != []

    await eventually(has_a_job)
    (job,) = [job async for job in client.jobs.list_from_schedule(schedule_id)]
    assert schedule.execution_info.recent_job is None or schedule.execution_info.recent_job.id == job.id

    await client.job_schedules.disable(schedule_id)
    assert (await client.job_schedules.get(schedule_id)).state == models.BatchJobScheduleState.DISABLED
    await client.job_schedules.enable(schedule_id)
    assert (await client.job_schedules.get(schedule_id)).state == models.BatchJobScheduleState.ACTIVE

    await client.job_schedules.terminate(schedule_id)

    async def completed() -> bool:
        return (await client.job_schedules.get(schedule_id)).state == models.BatchJobScheduleState.COMPLETED

    await eventually(completed)
    await client.job_schedules.delete(schedule_id)

    async def gone() -> bool:
        return not await client.job_schedules.exists(schedule_id)

    await eventually(gone)

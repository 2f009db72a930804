"""``jobs.wait_for_tasks``, ``tasks.failure_report``, ``pools.wait_until_ready`` and ``jobs.run`` against the
emulator over real HTTP: the final progress, stalls and timeouts, a job that cannot progress, failure groups
with stderr tails, a pool whose start task fails."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from batchaio import (
    BatchClient,
    FailureReport,
    JobCannotProgressError,
    NodesUnusableError,
    PoolNotReadyError,
    StartTaskFailedError,
    TaskProgress,
    TasksStalledError,
    WaitTimeoutError,
    models,
)
from batchaio.emulator import Emulator

from .conftest import connect, new_job, task

pytestmark = pytest.mark.integration

UNREACHABLE = "https://nowhere.invalid/container?sv=2024&sig=secret"


async def test_wait_for_tasks_returns_the_final_progress(
    client: BatchClient, unique: Callable[[str], str]
) -> None:
    job_id = await new_job(client, unique("wait"))
    await client.tasks.add_many(
        job_id, (task(f"t{n}", f"sleep 0.{n % 3}; exit {int(n % 10 == 0)}") for n in range(300))
    )
    readings: list[TaskProgress] = []
    progress = await client.jobs.wait_for_tasks(job_id, poll_interval=0.02, progress=readings.append)
    assert progress == TaskProgress(active=0, running=0, completed=300, succeeded=270, failed=30)
    assert readings[-1] == progress and len(readings) >= 1


async def test_a_stall_is_reported_with_where_the_tasks_stood(
    client: BatchClient, unique: Callable[[str], str]
) -> None:
    job_id = await new_job(client, unique("stall"))
    await client.tasks.create(job_id, task("forever", "sleep 3600"))
    with pytest.raises(TasksStalledError) as caught:
        await client.jobs.wait_for_tasks(job_id, poll_interval=0.02, stall_timeout=0.2)
    assert caught.value.progress.running == 1
    assert caught.value.stalled_for >= 0.2


async def test_a_timeout_is_a_typed_error(client: BatchClient, unique: Callable[[str], str]) -> None:
    job_id = await new_job(client, unique("timeout"))
    await client.tasks.add_many(job_id, [task(f"t{n}", f"sleep {n}") for n in range(1, 1000, 50)])
    with pytest.raises(WaitTimeoutError) as caught:
        await client.jobs.wait_for_tasks(job_id, poll_interval=0.02, timeout=0.3)
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.progress is not None and caught.value.progress.unfinished > 0


async def test_a_job_on_a_missing_pool_cannot_progress(
    client: BatchClient, unique: Callable[[str], str]
) -> None:
    job_id = await new_job(client, unique("nopool"), pool_id="no-such-pool")
    await client.tasks.create(job_id, task("t", "exit 0"))
    with pytest.raises(JobCannotProgressError) as caught:
        await client.jobs.wait_for_tasks(job_id, poll_interval=0.02, timeout=10)
    assert caught.value.pool_id == "no-such-pool"
    assert "no-such-pool does not exist" in caught.value.reason
    assert caught.value.progress.active == 1


async def test_a_job_on_a_pool_whose_start_task_fails_cannot_progress(
    client: BatchClient, unique: Callable[[str], str]
) -> None:
    pool_id = unique("badstart")
    await client.pools.create(
        models.BatchPoolCreateContent(
            id=pool_id,
            vm_size="standard_d2s_v3",
            target_dedicated_nodes=2,
            start_task=models.BatchStartTask(
                command_line="/bin/sh -c 'echo mounting; echo no disk >&2; exit 3'"
            ),
        )
    )
    job_id = await new_job(client, unique("job"), pool_id=pool_id)
    await client.tasks.create(job_id, task("t", "exit 0"))
    with pytest.raises(JobCannotProgressError) as caught:
        await client.jobs.wait_for_tasks(job_id, poll_interval=0.02, timeout=10)
    cause = caught.value.__cause__
    assert isinstance(cause, StartTaskFailedError)
    assert len(cause.node_ids) == 2
    assert "start task failed on 2 node(s)" in caught.value.reason


async def test_wait_until_ready_reports_failed_start_tasks_with_their_stderr(
    client: BatchClient, unique: Callable[[str], str]
) -> None:
    pool_id = unique("startfail")
    await client.pools.create(
        models.BatchPoolCreateContent(
            id=pool_id,
            vm_size="standard_d2s_v3",
            target_dedicated_nodes=2,
            start_task=models.BatchStartTask(
                command_line="/bin/sh -c 'echo mounting; echo cannot mount /data >&2; exit 3'",
                max_task_retry_count=1,
            ),
        )
    )
    with pytest.raises(StartTaskFailedError) as caught:
        await client.pools.wait_until_ready(pool_id, timeout=10, poll_interval=0.02)
    error = caught.value
    assert isinstance(error, PoolNotReadyError) and error.pool_id == pool_id
    assert [f.exit_code for f in error.failures] == [3, 3]
    assert [f.stderr_tail for f in error.failures] == ["cannot mount /data\n"] * 2
    assert error.failures[0].failure_code == "FailureExitCode"


async def test_wait_until_ready_returns_a_ready_pool(
    client: BatchClient, unique: Callable[[str], str]
) -> None:
    pool_id = unique("good")
    await client.pools.create(
        models.BatchPoolCreateContent(
            id=pool_id,
            vm_size="standard_d2s_v3",
            target_dedicated_nodes=2,
            start_task=models.BatchStartTask(command_line="/bin/sh -c 'echo ready'"),
        )
    )
    pool = await client.pools.wait_until_ready(pool_id, timeout=10, poll_interval=0.02)
    assert pool.id == pool_id and pool.allocation_state == models.AllocationState.STEADY


async def test_wait_until_ready_on_an_empty_pool_says_no_node_will_come(
    client: BatchClient, unique: Callable[[str], str]
) -> None:
    pool_id = unique("empty")
    await client.pools.create(models.BatchPoolCreateContent(id=pool_id, vm_size="standard_d2s_v3"))
    with pytest.raises(NodesUnusableError, match="none to come"):
        await client.pools.wait_until_ready(pool_id, timeout=10, poll_interval=0.02)
    with pytest.raises(PoolNotReadyError, match="does not exist"):
        await client.pools.wait_until_ready(unique("missing"), timeout=10, poll_interval=0.02)


async def test_failure_report_groups_failures_with_stderr_tails(
    client: BatchClient, unique: Callable[[str], str]
) -> None:
    job_id = await new_job(client, unique("failures"))
    upload = [
        models.OutputFile(
            file_pattern="out.txt",
            destination=models.OutputFileDestination(
                container=models.OutputFileBlobContainerDestination(container_url=UNREACHABLE)
            ),
            upload_options=models.OutputFileUploadConfig(
                upload_condition=models.OutputFileUploadCondition.TASK_COMPLETION
            ),
        )
    ]
    tasks = [task(f"ok{n}", "echo fine") for n in range(20)]
    tasks += [task(f"bad{n}", f"echo bad input in bad{n} >&2; exit 2") for n in range(7)]
    tasks += [task(f"oom{n}", "echo out of memory >&2; exit 137") for n in range(2)]
    tasks += [task(f"up{n}", "echo produced", output_files=upload) for n in range(3)]
    await client.tasks.add_many(job_id, tasks)
    progress = await client.jobs.wait_for_tasks(job_id, poll_interval=0.02)
    assert (progress.succeeded, progress.failed) == (20, 12)

    report = await client.tasks.failure_report(job_id, max_examples=2)
    assert report.failed == 12
    assert [(g.failure_code, g.exit_code, g.count) for g in report.groups] == [
        ("FailureExitCode", 2, 7),
        ("FileUploadMiscError", 0, 3),
        ("FailureExitCode", 137, 2),
    ]
    bad, upload_group, oom = report.groups
    assert [e.stderr_tail for e in bad.examples] == ["bad input in bad0\n", "bad input in bad1\n"]
    assert all(e.node_id for e in bad.examples)
    assert [e.log_file for e in upload_group.examples] == ["fileuploaderr.txt"] * 2
    assert all(e.stderr_tail for e in upload_group.examples)
    assert oom.examples[0].stderr_tail == "out of memory\n"
    assert "secret" not in str(report)

    short = await client.tasks.failure_report(job_id, tail_bytes=5, max_examples=1)
    assert short.groups[0].examples[0].stderr_tail == "bad0\n"  # the last 5 bytes, by a ranged download


async def test_run_creates_submits_waits_and_reports(
    client: BatchClient, unique: Callable[[str], str]
) -> None:
    job_id = unique("run")
    job = models.BatchJobCreateContent(id=job_id, pool_info=models.BatchPoolInfo(pool_id="workflow-pool"))
    tasks = (task(f"t{n}", f"echo task t{n} >&2; exit {int(n % 25 == 0)}") for n in range(500))
    outcome = await client.jobs.run(job, tasks, poll_interval=0.02, timeout=30)
    assert outcome.report.created == 500
    assert outcome.progress == TaskProgress(completed=500, succeeded=480, failed=20)
    assert outcome.failures is not None and outcome.failures.failed == 20
    assert outcome.failures.groups[0].examples[0].stderr_tail == "task t0\n"
    assert not outcome.succeeded
    finished = await client.jobs.get(job_id)
    assert finished.on_all_tasks_complete == models.OnAllBatchTasksComplete.TERMINATE_JOB
    assert finished.state in (models.BatchJobState.COMPLETED, models.BatchJobState.TERMINATING)


def test_run_wait_and_failure_report_under_trio(emulator: Emulator) -> None:
    trio = pytest.importorskip("trio")

    async def main() -> tuple[TaskProgress, FailureReport | None, models.BatchPool]:
        async with connect(emulator) as client:
            pool = await client.pools.wait_until_ready("workflow-pool", timeout=10, poll_interval=0.02)
            job = models.BatchJobCreateContent(
                id="run-under-trio", pool_info=models.BatchPoolInfo(pool_id="workflow-pool")
            )
            tasks = [task(f"t{n}", f"echo t{n} failed >&2; exit {int(n % 10 == 0)}") for n in range(100)]
            outcome = await client.jobs.run(job, tasks, poll_interval=0.02, timeout=30)
            return outcome.progress, outcome.failures, pool

    progress, failures, pool = trio.run(main)
    assert progress == TaskProgress(completed=100, succeeded=90, failed=10)
    assert failures is not None and failures.groups[0].count == 10
    assert failures.groups[0].examples[0].stderr_tail == "t0 failed\n"
    assert pool.id == "workflow-pool"

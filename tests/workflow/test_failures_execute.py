"""``tasks.failure_report`` on tasks run for real (the emulator's ``--execute`` mode, over HTTP): groups by
exit code, the tail of a long stderr read with a ranged download, and a task that exited 0 but failed its
output upload."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from batchaio import BatchClient, models
from batchaio.emulator import Emulator

from .conftest import connect, task

pytestmark = pytest.mark.integration


@pytest.fixture
async def executing() -> AsyncIterator[BatchClient]:
    emulator = Emulator(execute=True, max_processes=4)
    emulator.start()
    try:
        async with connect(emulator) as client:
            await client.pools.create(
                models.BatchPoolCreateContent(
                    id="exec-pool", vm_size="standard_d2s_v3", target_dedicated_nodes=1, task_slots_per_node=4
                )
            )
            await client.jobs.create(
                models.BatchJobCreateContent(id="exec", pool_info=models.BatchPoolInfo(pool_id="exec-pool"))
            )
            yield client
    finally:
        emulator.close()


async def test_failure_groups_of_executed_tasks_with_stderr_tails(executing: BatchClient) -> None:
    client = executing
    upload = models.OutputFile(
        file_pattern="result.txt",
        destination=models.OutputFileDestination(
            container=models.OutputFileBlobContainerDestination(
                container_url="https://store.invalid/out?sig=s"
            )
        ),
        upload_options=models.OutputFileUploadConfig(
            upload_condition=models.OutputFileUploadCondition.TASK_COMPLETION
        ),
    )
    await client.tasks.add_many(
        "exec",
        [
            task("ok", "echo fine"),
            task("long-1", "seq 1 5000 >&2; exit 3"),
            task("long-2", "seq 1 5000 >&2; exit 3"),
            task("crash", "echo segfault in worker >&2; kill -SEGV $$"),
            models.BatchTaskCreateContent(
                id="upload", command_line="/bin/sh -c 'echo 42 > result.txt'", output_files=[upload]
            ),
        ],
    )
    progress = await client.jobs.wait_for_tasks("exec", poll_interval=0.05, timeout=30)
    assert (progress.completed, progress.failed) == (5, 4)

    report = await client.tasks.failure_report("exec", tail_bytes=10)
    by_kind = {(g.failure_code, g.exit_code): g for g in report.groups}
    assert report.failed == 4
    long = by_kind[("FailureExitCode", 3)]
    assert long.count == 2
    assert [e.stderr_tail for e in long.examples] == ["4999\n5000\n", "4999\n5000\n"]  # last 10 bytes only
    crash = next(g for g in report.groups if g.examples[0].task_id == "crash")
    assert crash.exit_code == 139  # 128 + SIGSEGV, as the shell reports it
    assert (crash.examples[0].stderr_tail or "").endswith("fault\n")  # the shell's "Segmentation fault"
    uploaded = by_kind[("FileUploadMiscError", 0)]
    assert uploaded.examples[0].log_file == "fileuploaderr.txt"
    assert uploaded.examples[0].stderr_tail

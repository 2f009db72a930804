"""The same client under trio (through anyio), against the emulator over HTTP."""

from __future__ import annotations

import pytest

from batchaio import models
from batchaio.emulator import Emulator

from .conftest import POOL_ID, connect, echo_task

pytestmark = pytest.mark.integration


def test_submit_wait_list_and_download_under_trio(emulator: Emulator) -> None:
    trio = pytest.importorskip("trio")

    async def main() -> tuple[int, models.BatchTaskCounts | None, int, bytes]:
        async with connect(emulator) as client:
            await client.jobs.create(
                models.BatchJobCreateContent(id="under-trio", pool_info=models.BatchPoolInfo(pool_id=POOL_ID))
            )
            report = await client.tasks.add_many("under-trio", (echo_task(f"t-{n:03d}") for n in range(250)))
            while True:
                counts = (await client.jobs.get_task_counts("under-trio")).task_counts
                if counts is not None and counts.completed == 250:
                    break
                await trio.sleep(0.02)
            listed = [task.id async for task in client.tasks.list("under-trio", max_results=100)]
            async with client.tasks.download_file("under-trio", "t-007", "stdout.txt") as stream:
                content = await stream.read()
            return report.created, counts, len(set(listed)), content

    created, counts, listed, content = trio.run(main)
    assert created == 250
    assert counts == models.BatchTaskCounts(active=0, running=0, completed=250, succeeded=250, failed=0)
    assert listed == 250
    assert content == b"t-007\n"

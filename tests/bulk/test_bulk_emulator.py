"""``add_many`` against the local emulator with its fault injection: in process (ASGI) and over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from _bulk_fake import make_tasks

from batchaio import BatchClient, BulkAddReport, SharedKeyCredential
from batchaio.emulator import Emulator, FaultConfig
from batchaio.models import BatchJobCreateContent, BatchPoolInfo

Run = Callable[[Callable[[], Any]], Any]
COUNT = 1500


def faulty_emulator() -> Emulator:
    faults = FaultConfig(
        throttle_rate=0.2,
        throttle_statuses=(429, 503),
        retry_after=1,
        server_error_rate=0.05,
        drop_rate=0.04,
        reset_after_apply_rate=0.04,
        task_server_error_rate=0.03,
        path_pattern=r"/addtaskcollection$",
        seed=4,
    )
    emu = Emulator(faults=faults, seed=1)
    # On top of the random faults (whose order depends on how concurrent requests interleave), each kind
    # surely happens: the first requests meet a drop, a reset after apply and a throttle.
    for kind in ("drop", "reset_after_apply", "throttle"):
        emu.faults.fail_next(kind, 2, path_pattern=r"/addtaskcollection$")
    return emu


async def submit_and_list(client: BatchClient) -> tuple[BulkAddReport, list[str]]:
    await client.jobs.create(BatchJobCreateContent(id="job-1", pool_info=BatchPoolInfo(pool_id="pool-1")))
    report = await client.tasks.add_many("job-1", make_tasks(COUNT), concurrency=6)
    listed = [task.id async for task in client.tasks.list("job-1", select=["id"]) if task.id is not None]
    return report, listed


def check(emu: Emulator, report: BulkAddReport, listed: list[str]) -> None:
    assert (report.created, report.existing, report.failed, report.in_doubt) == (COUNT, 0, 0, [])
    assert sorted(listed) == sorted(f"task-{n}" for n in range(COUNT))
    injected = emu.faults.counts
    assert injected["throttle"] >= 2 and injected["reset_after_apply"] >= 2 and injected["drop"] >= 2, (
        injected
    )


def test_emulator_in_process_with_faults(run: Run, sleeps: list[float]) -> None:
    emu = faulty_emulator()

    async def main() -> tuple[BulkAddReport, list[str]]:
        credential = SharedKeyCredential(emu.account, emu.key)
        transport = httpx.ASGITransport(app=emu.app)
        async with BatchClient(
            "http://emulator.local", credential, allow_insecure_http=True, transport=transport
        ) as client:
            return await submit_and_list(client)

    try:
        report, listed = run(main)
        check(emu, report, listed)
    finally:
        emu.close()


@pytest.mark.integration
def test_emulator_over_real_http_with_faults(sleeps: list[float]) -> None:
    import anyio

    emu = faulty_emulator()
    endpoint = emu.start()
    try:

        async def main() -> tuple[BulkAddReport, list[str]]:
            credential = SharedKeyCredential(emu.account, emu.key)
            async with BatchClient(endpoint, credential, allow_insecure_http=True) as client:
                return await submit_and_list(client)

        report, listed = anyio.run(main)
        check(emu, report, listed)
    finally:
        emu.close()

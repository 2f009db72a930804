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
# Each attempt of a task fails with probability about 0.35 here (a third of the requests are faulted, and 3%
# of the tasks in the others answer servererror), so with the default 10 attempts a task runs out of them
# with probability 0.35 ** 10 = 2.8e-5: with 1500 tasks, about one run in fifty (18 of 1000 seeds, measured)
# ends with a task rightly reported in doubt. Which request meets which fault depends on how the concurrent
# requests interleave, which trio randomises: the seed does not pin the outcome. With 30 attempts the chance
# is 0.35 ** 30 = 2e-14 a task.
MAX_ATTEMPTS = 30
# Seed 4 is the original; under asyncio seed 1018 sends task-143 into ten failed requests in a row (the
# first a reset after apply, which created it), so with the default attempts it ends in doubt.
SEEDS = (4, 1018)


def faulty_emulator(seed: int = 4) -> Emulator:
    faults = FaultConfig(
        throttle_rate=0.2,
        throttle_statuses=(429, 503),
        retry_after=1,
        server_error_rate=0.05,
        drop_rate=0.04,
        reset_after_apply_rate=0.04,
        task_server_error_rate=0.03,
        path_pattern=r"/addtaskcollection$",
        seed=seed,
    )
    emu = Emulator(faults=faults, seed=1)
    # On top of the random faults (whose order depends on how concurrent requests interleave), each kind
    # surely happens: the first requests meet a drop, a reset after apply and a throttle.
    for kind in ("drop", "reset_after_apply", "throttle"):
        emu.faults.fail_next(kind, 2, path_pattern=r"/addtaskcollection$")
    return emu


async def submit_and_list(client: BatchClient) -> tuple[BulkAddReport, list[str]]:
    await client.jobs.create(BatchJobCreateContent(id="job-1", pool_info=BatchPoolInfo(pool_id="pool-1")))
    report = await client.tasks.add_many("job-1", make_tasks(COUNT), concurrency=6, max_attempts=MAX_ATTEMPTS)
    listed = [task.id async for task in client.tasks.list("job-1", select=["id"]) if task.id is not None]
    return report, listed


def check(emu: Emulator, report: BulkAddReport, listed: list[str]) -> None:
    # Exactly once, whatever the faults: every task has one outcome; a task created or existing is listed,
    # one failed or pending is not.
    outcomes = report.created + report.existing + report.failed + len(report.in_doubt) + len(report.pending)
    assert outcomes == COUNT, report
    assert len(set(listed)) == len(listed)
    failed = {failure.task_id for failure in report.failures}
    created = {f"task-{n}" for n in range(COUNT)} - set(report.in_doubt) - set(report.pending) - failed
    assert created <= set(listed) and not set(listed) & (failed | set(report.pending)), report
    assert (report.created, report.existing, report.failed, report.in_doubt) == (COUNT, 0, 0, [])
    assert sorted(listed) == sorted(f"task-{n}" for n in range(COUNT))
    injected = emu.faults.counts
    assert injected["throttle"] >= 2 and injected["reset_after_apply"] >= 2 and injected["drop"] >= 2, (
        injected
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_emulator_in_process_with_faults(run: Run, sleeps: list[float], seed: int) -> None:
    emu = faulty_emulator(seed)

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

"""Fault drill: with throttling (Retry-After), 5xx, dropped connections, resets after the request was applied
and per-task server errors injected from a fixed seed, reads still succeed and add_many creates every task
exactly once."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from batchaio import BatchClient, SharedKeyCredential, models
from batchaio.emulator import Emulator, FaultConfig
from batchaio.emulator.pytest_plugin import BatchEmulatorCredentials

from .conftest import POOL_ID, echo_task, fast_retry

pytestmark = pytest.mark.integration

FAULT_KINDS = ("throttle", "server_error", "drop", "reset_after_apply")
DRILL = FaultConfig(
    throttle_rate=0.05,
    retry_after=0.05,
    server_error_rate=0.03,
    drop_rate=0.03,
    reset_after_apply_rate=0.03,
    task_server_error_rate=0.01,
    seed=20240701,
)


@pytest.fixture
async def drill_client(batch_emulator_credentials: BatchEmulatorCredentials) -> AsyncIterator[BatchClient]:
    endpoint, account, key = batch_emulator_credentials
    async with BatchClient(
        endpoint, SharedKeyCredential(account, key), allow_insecure_http=True, retry=fast_retry()
    ) as client:
        yield client


def start_drill(emulator: Emulator, *, path: str) -> None:
    """Random faults from a fixed seed, plus one scripted fault of each kind so that every kind happens."""
    emulator.faults.configure(DRILL)
    for kind in FAULT_KINDS:
        emulator.faults.fail_next(kind, path_pattern=path)


def assert_every_fault_happened(emulator: Emulator) -> None:
    counts = emulator.faults.counts
    assert all(counts[kind] >= 1 for kind in FAULT_KINDS), dict(counts)


async def test_reads_succeed_through_retries(drill_client: BatchClient, batch_emulator: Emulator) -> None:
    client = drill_client
    await client.jobs.create(
        models.BatchJobCreateContent(id="reads", pool_info=models.BatchPoolInfo(pool_id=POOL_ID))
    )
    await client.tasks.add_collection(
        "reads", models.BatchTaskGroup(value=[echo_task(f"r-{n:02d}") for n in range(60)])
    )
    start_drill(batch_emulator, path=r"^/(jobs|pools)")

    for _ in range(10):
        job = await client.jobs.get("reads", select=["id", "state"])
        assert (job.id, job.state) == ("reads", models.BatchJobState.ACTIVE)
        assert await client.pools.exists("no-such-pool") is False
    counts = await client.jobs.get_task_counts("reads")
    assert counts.task_counts is not None
    assert counts.task_counts.active + counts.task_counts.running + counts.task_counts.completed == 60  # type: ignore[operator]
    listed = [task.id async for task in client.tasks.list("reads", max_results=7, select=["id"])]
    assert listed == [f"r-{n:02d}" for n in range(60)]

    assert_every_fault_happened(batch_emulator)


async def test_add_many_creates_every_task_exactly_once(
    drill_client: BatchClient, batch_emulator: Emulator
) -> None:
    client = drill_client
    await client.jobs.create(
        models.BatchJobCreateContent(id="drill", pool_info=models.BatchPoolInfo(pool_id=POOL_ID))
    )
    expected = [f"task-{n:04d}" for n in range(2000)]
    start_drill(batch_emulator, path="addtaskcollection")

    report = await client.tasks.add_many(
        "drill", (echo_task(task_id) for task_id in expected), concurrency=8, rng=random.Random(3)
    )

    assert repr(report).startswith(
        "BulkAddReport(created=2000, existing=0, failed=0, in_doubt=0, pending=0, "
    ), report
    assert report.complete
    assert report.failures == []
    assert report.retries >= 1
    assert report.requests > len(expected) // 100
    assert_every_fault_happened(batch_emulator)
    assert batch_emulator.faults.counts["task_server_error"] >= 1

    # Exactly once, as the service sees it: every ID stored, each a single task.
    job = batch_emulator.store.jobs.items["drill"]
    assert sorted(task.id for task in job.tasks.items.values()) == expected
    assert len(job.tasks.order) == len(expected)

    # And as a client sees it, listing with faults on every path.
    start_drill(batch_emulator, path="^/jobs")
    listed = [task.id async for task in client.tasks.list("drill", select=["id"])]
    assert sorted(listed) == expected

"""Fixtures of the command-line tests: one emulator for the module's tests (over real HTTP on loopback), jobs
on its pool, and the environment variables that point the command line at it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import anyio
import pytest

from batchaio import BatchClient, SharedKeyCredential, models
from batchaio.emulator import Emulator

POOL_ID = "cli-pool"


def client_of(emulator: Emulator) -> BatchClient:
    assert emulator.endpoint is not None
    return BatchClient(
        emulator.endpoint, SharedKeyCredential(emulator.account, emulator.key), allow_insecure_http=True
    )


def environment_of(emulator: Emulator) -> dict[str, str]:
    assert emulator.endpoint is not None
    return {
        "BATCH_ENDPOINT": emulator.endpoint,
        "BATCH_ACCOUNT_NAME": emulator.account,
        "BATCH_ACCOUNT_KEY": emulator.key,
    }


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    emulator = Emulator(task_duration=(0.0, 0.01), delete_delay=0.01, seed=3)
    emulator.start()

    async def create_pool() -> None:
        async with client_of(emulator) as client:
            await client.pools.create(
                models.BatchPoolCreateContent(
                    id=POOL_ID, vm_size="standard_d2s_v3", target_dedicated_nodes=2, task_slots_per_node=256
                )
            )

    anyio.run(create_pool)
    yield emulator
    emulator.close()


@pytest.fixture
def env(emulator: Emulator) -> dict[str, str]:
    return environment_of(emulator)


@pytest.fixture
def make_job(emulator: Emulator) -> Callable[[], str]:
    """Creates a fresh job on the pool and returns its ID."""

    def make() -> str:
        job_id = f"job-{uuid.uuid4().hex[:8]}"

        async def create() -> None:
            async with client_of(emulator) as client:
                await client.jobs.create(
                    models.BatchJobCreateContent(id=job_id, pool_info=models.BatchPoolInfo(pool_id=POOL_ID))
                )

        anyio.run(create)
        return job_id

    return make


def task_ids(emulator: Emulator, job_id: str) -> list[str]:
    """The IDs of a job's tasks, as the service lists them."""

    async def listing() -> list[str]:
        async with client_of(emulator) as client:
            return [task.id or "" async for task in client.tasks.list(job_id, select=["id"])]

    return anyio.run(listing)


def wait_until_completed(emulator: Emulator, job_id: str, count: int) -> None:
    async def wait() -> None:
        async with client_of(emulator) as client:
            for _ in range(500):
                counts = (await client.jobs.get_task_counts(job_id)).task_counts
                if counts is not None and counts.completed == count:
                    return
                await anyio.sleep(0.01)
        raise AssertionError(f"{count} tasks did not complete")

    anyio.run(wait)

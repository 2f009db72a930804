"""Fixtures of the workflow tests: an emulator served over real HTTP, a client on it, fresh IDs."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from batchaio import BatchClient, RetryPolicy, SharedKeyCredential, models
from batchaio.emulator import Emulator

POOL_ID = "workflow-pool"


def fast_retry() -> RetryPolicy:
    return RetryPolicy(
        max_attempts=6, backoff_base=0.01, backoff_cap=0.05, retry_after_cap=0.1, rng=random.Random(1)
    )


def connect(emulator: Emulator) -> BatchClient:
    assert emulator.endpoint is not None
    return BatchClient(
        emulator.endpoint,
        SharedKeyCredential(emulator.account, emulator.key),
        allow_insecure_http=True,
        retry=fast_retry(),
    )


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """One simulated account per module, with a pool of 4 x 256 slots (short default task durations)."""
    emulator = Emulator(task_duration=(0.0, 0.02), delete_delay=0.05, seed=11)
    emulator.start()
    import anyio

    async def create_pool() -> None:
        async with connect(emulator) as client:
            await client.pools.create(
                models.BatchPoolCreateContent(
                    id=POOL_ID, vm_size="standard_d2s_v3", target_dedicated_nodes=4, task_slots_per_node=256
                )
            )

    anyio.run(create_pool)
    yield emulator
    emulator.close()


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[BatchClient]:
    async with connect(emulator) as batch:
        yield batch


@pytest.fixture
def unique() -> Callable[[str], str]:
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:8]}"


async def new_job(client: BatchClient, job_id: str, pool_id: str = POOL_ID) -> str:
    await client.jobs.create(
        models.BatchJobCreateContent(id=job_id, pool_info=models.BatchPoolInfo(pool_id=pool_id))
    )
    return job_id


def task(task_id: str, command: str, **fields: object) -> models.BatchTaskCreateContent:
    return models.BatchTaskCreateContent(id=task_id, command_line=f"/bin/sh -c '{command}'", **fields)  # type: ignore[arg-type]

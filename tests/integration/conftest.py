"""Integration fixtures: one emulator for the session, served over real HTTP on a free loopback port, and a
batchaio client per test signing with Shared Key, as an application would."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import anyio
import pytest

from batchaio import BatchClient, RetryPolicy, SharedKeyCredential, models
from batchaio.emulator import Emulator
from batchaio.emulator.pytest_plugin import batch_emulator, batch_emulator_credentials  # noqa: F401

POOL_ID = "integration-pool"


def fast_retry() -> RetryPolicy:
    """Real retries with short, reproducible waits, so that fault drills finish in seconds."""
    return RetryPolicy(
        max_attempts=8,
        backoff_base=0.01,
        backoff_cap=0.05,
        retry_after_cap=0.1,
        deadline=20.0,
        rng=random.Random(1),
    )


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """One emulated account for the whole session; tests keep apart by using unique IDs."""
    emulator = Emulator(task_duration=(0.01, 0.05), delete_delay=0.05, seed=7)
    emulator.start()
    anyio.run(create_shared_pool, emulator)
    yield emulator
    emulator.close()


def connect(emulator: Emulator, *, key: str | None = None) -> BatchClient:
    """A client of ``emulator`` over HTTP (``key`` overrides the account key)."""
    assert emulator.endpoint is not None
    return BatchClient(
        emulator.endpoint,
        SharedKeyCredential(emulator.account, key or emulator.key),
        allow_insecure_http=True,
        retry=fast_retry(),
    )


async def create_shared_pool(emulator: Emulator) -> None:
    """The pool every test's jobs run on: the emulator runs tasks only within a pool's slots."""
    async with connect(emulator) as client:
        await client.pools.create(
            models.BatchPoolCreateContent(
                id=POOL_ID, vm_size="standard_d2s_v3", target_dedicated_nodes=2, task_slots_per_node=64
            )
        )


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[BatchClient]:
    async with connect(emulator) as batch:
        yield batch


@pytest.fixture
def unique() -> Callable[[str], str]:
    """``unique("job")`` -> ``"job-1a2b3c4d"``: IDs that no other test uses."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def job_id(client: BatchClient, unique: Callable[[str], str]) -> str:
    """A fresh job on the session's pool."""
    job = unique("job")
    await client.jobs.create(
        models.BatchJobCreateContent(id=job, pool_info=models.BatchPoolInfo(pool_id=POOL_ID))
    )
    return job


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait up to 5 s until ``check()`` is true (the service leaves transitional states on its own)."""
    for _ in range(250):
        if await check():
            return
        await anyio.sleep(0.02)
    raise AssertionError("the condition did not become true within 5 s")


def echo_task(task_id: str, text: str | None = None) -> models.BatchTaskCreateContent:
    """A task whose stdout.txt holds ``text`` (default: its ID)."""
    return models.BatchTaskCreateContent(id=task_id, command_line=f"/bin/sh -c 'echo {text or task_id}'")

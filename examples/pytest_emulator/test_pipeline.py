"""Tests of ``pipeline.py`` against the local Batch emulator: real HTTP, real Shared Key, no Azure account."""

from __future__ import annotations

import anyio
import pytest
from pipeline import submit_shards

from batchaio import BatchClient, NotFoundError, SharedKeyCredential
from batchaio.emulator.pytest_plugin import BatchEmulatorCredentials
from batchaio.models import BatchPoolCreateContent


def connect(account: BatchEmulatorCredentials) -> BatchClient:
    """A client of the emulator, as the application would make one for a real account."""
    credential = SharedKeyCredential(account.account, account.key)
    return BatchClient(account.endpoint, credential, allow_insecure_http=True)


async def test_every_shard_becomes_a_task(batch_emulator_credentials: BatchEmulatorCredentials) -> None:
    async with connect(batch_emulator_credentials) as client:
        await client.pools.create(BatchPoolCreateContent(id="pool", vm_size="standard_d2s_v3"))
        assert await submit_shards(client, "job", "pool", 300) == 300
        ids = [str(task.id) async for task in client.tasks.list("job", select=["id"])]
        assert sorted(ids) == sorted(f"shard-{n}" for n in range(300))


async def test_a_missing_job_is_reported(batch_emulator_credentials: BatchEmulatorCredentials) -> None:
    async with connect(batch_emulator_credentials) as client:
        with pytest.raises(NotFoundError):
            await client.jobs.get("no-such-job")


def test_under_trio_too(batch_emulator_credentials: BatchEmulatorCredentials) -> None:
    async def main() -> None:
        async with connect(batch_emulator_credentials) as client:
            await client.pools.create(BatchPoolCreateContent(id="trio-pool", vm_size="standard_d2s_v3"))
            assert await submit_shards(client, "trio-job", "trio-pool", 5) == 5

    anyio.run(main, backend="trio")

"""The code under test: a small piece of an application that fans work out to Azure Batch."""

from __future__ import annotations

from batchaio import BatchClient
from batchaio.models import BatchJobCreateContent, BatchPoolInfo, BatchTaskCreateContent


async def submit_shards(client: BatchClient, job_id: str, pool_id: str, shards: int) -> int:
    """Create ``job_id`` on ``pool_id`` with one task per shard; return how many tasks are in the job."""
    await client.jobs.create(BatchJobCreateContent(id=job_id, pool_info=BatchPoolInfo(pool_id=pool_id)))
    tasks = (
        BatchTaskCreateContent(id=f"shard-{n}", command_line=f"process --shard {n}") for n in range(shards)
    )
    report = await client.tasks.add_many(job_id, tasks)
    return report.created + report.existing

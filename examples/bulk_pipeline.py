"""A bulk pipeline from submission to results: submit tasks from a generator, watch them complete, write a
failure report.

Against an account (the ``BATCH_*`` variables name it; the pool must exist)::

    python examples/bulk_pipeline.py --job-id sweep-1 --pool-id my-pool --tasks 5000 --report failures.json

or, with no account at all, against an emulator started in the same process::

    python examples/bulk_pipeline.py --emulator --tasks 2000 --report failures.json

Every 50th task of the sweep fails on purpose (``exit 3`` after writing to stderr), so the report has
something to say. The exit status is 0 when every task succeeded, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import orjson

from batchaio import BatchClient, FailureReport, SharedKeyCredential
from batchaio.models import (
    BatchJobCreateContent,
    BatchPoolCreateContent,
    BatchPoolInfo,
    BatchTaskCreateContent,
)


def sweep(count: int) -> Iterator[BatchTaskCreateContent]:
    """The tasks, made one at a time as ``add_many`` reads them (a million cost no more memory than ten)."""
    for n in range(count):
        if n % 50 == 49:
            command = f"/bin/sh -c 'echo shard {n} has a bad input >&2; exit 3'"
        else:
            command = f"/bin/sh -c 'echo processed shard {n}'"
        yield BatchTaskCreateContent(id=f"shard-{n:06d}", command_line=command)


async def run_pipeline(
    client: BatchClient, job_id: str, pool_id: str, count: int, *, poll_interval: float = 5.0
) -> FailureReport:
    """Create the job, submit ``count`` tasks, follow every completion, and return the failure report."""
    await client.jobs.create(BatchJobCreateContent(id=job_id, pool_info=BatchPoolInfo(pool_id=pool_id)))
    submitted = await client.tasks.add_many(job_id, sweep(count), concurrency=8)
    print(
        f"submitted: {submitted.created} created, {submitted.existing} existing, {submitted.failed} refused"
    )
    done = succeeded = 0
    async for task in client.tasks.watch(job_id, poll_interval=poll_interval, select=["id", "executionInfo"]):
        done += 1
        info = task.execution_info
        succeeded += info is not None and info.exit_code == 0 and info.failure_info is None
        if done % 500 == 0 or done == count:
            print(f"completed {done}/{count} ({succeeded} succeeded)")
    return await client.tasks.failure_report(job_id, max_examples=3)


def write_report(report: FailureReport, path: Path) -> None:
    """Write ``report`` as JSON: the failure groups with their counts and stderr tails."""
    groups = [
        {
            "failure_code": group.failure_code,
            "exit_code": group.exit_code,
            "count": group.count,
            "examples": [
                {"task_id": e.task_id, "node_id": e.node_id, "stderr_tail": e.stderr_tail}
                for e in group.examples
            ],
        }
        for group in report.groups
    ]
    path.write_bytes(orjson.dumps({"failed": report.failed, "groups": groups}, option=orjson.OPT_INDENT_2))


@asynccontextmanager
async def emulated_account() -> AsyncIterator[BatchClient]:
    """A client of an emulator served in this process, with a pool named ``pool`` (``--emulator``)."""
    from batchaio.emulator import Emulator

    emulator = Emulator(task_duration=(0.01, 0.2))
    async with emulator.serve() as endpoint:
        credential = SharedKeyCredential(emulator.account, emulator.key)
        async with BatchClient(endpoint, credential, allow_insecure_http=True) as client:
            pool = BatchPoolCreateContent(
                id="pool", vm_size="standard_d2s_v3", target_dedicated_nodes=2, task_slots_per_node=64
            )
            await client.pools.create(pool)
            yield client


async def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run the pipeline, write the report; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emulator", action="store_true", help="run against an emulator in this process")
    parser.add_argument("--job-id", default="bulk-pipeline")
    parser.add_argument("--pool-id", default="pool")
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--report", type=Path, default=Path("failures.json"))
    options = parser.parse_args(argv)
    if options.emulator:
        async with emulated_account() as client:
            report = await run_pipeline(client, options.job_id, "pool", options.tasks, poll_interval=0.2)
    else:
        insecure = os.environ.get("BATCH_ENDPOINT", "").startswith("http://127.0.0.1")
        async with BatchClient.from_env(allow_insecure_http=insecure) as client:
            report = await run_pipeline(client, options.job_id, options.pool_id, options.tasks)
    write_report(report, options.report)
    print(report)
    return 0 if report.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(anyio.run(main))

"""``tasks.watch`` against the emulator over real HTTP: thousands of tasks, each completion yielded once;
a reactivated task yielded again; resuming from a saved position; the same under trio."""

from __future__ import annotations

import collections
from collections.abc import Callable

import anyio
import pytest

from batchaio import BatchClient, WatchPosition, models
from batchaio.emulator import Emulator

from .conftest import connect, new_job, task

pytestmark = pytest.mark.integration


def mixed(n: int) -> models.BatchTaskCreateContent:
    """Task ``n``: one of five durations (0 to 0.4 s) and one of three exit codes."""
    return task(f"t-{n:05d}", f"sleep 0.{(n * 7) % 5}; exit {n % 3}")


async def test_5000_tasks_each_completion_yielded_exactly_once(
    client: BatchClient, unique: Callable[[str], str]
) -> None:
    job_id = await new_job(client, unique("watch"))
    report = await client.tasks.add_many(job_id, (mixed(n) for n in range(5000)), concurrency=8)
    assert report.created == 5000

    seen: collections.Counter[str] = collections.Counter()
    exit_codes = {}
    watch = client.tasks.watch(job_id, poll_interval=0.05, overlap=0.2, select=["executionInfo"])
    async for completed in watch:
        assert completed.id is not None and completed.execution_info is not None
        assert completed.state == models.BatchTaskState.COMPLETED
        assert completed.command_line is None  # $select honoured
        seen[completed.id] += 1
        exit_codes[completed.id] = completed.execution_info.exit_code

    assert len(seen) == 5000 and set(seen.values()) == {1}
    assert exit_codes == {f"t-{n:05d}": n % 3 for n in range(5000)}
    counts = (await client.jobs.get_task_counts(job_id)).task_counts
    assert counts is not None and counts.completed == 5000


async def test_a_reactivated_task_is_yielded_again(client: BatchClient, unique: Callable[[str], str]) -> None:
    job_id = await new_job(client, unique("react"))
    await client.tasks.create(job_id, task("flaky", "exit 4"))
    await client.tasks.create(job_id, task("slow", "sleep 0.6"))
    yielded = []
    async for completed in client.tasks.watch(job_id, poll_interval=0.02):
        yielded.append(completed.id)
        if yielded.count("flaky") == 1 and completed.id == "flaky":
            await client.tasks.reactivate(job_id, "flaky")
    assert sorted(yielded) == ["flaky", "flaky", "slow"]


async def test_a_watch_started_after_every_task_completed_yields_them_and_ends(
    client: BatchClient, unique: Callable[[str], str]
) -> None:
    job_id = await new_job(client, unique("after"))
    await client.tasks.add_many(job_id, [task(f"a{n}", "exit 0") for n in range(30)])
    while (await client.jobs.wait_for_tasks(job_id, poll_interval=0.02)).completed < 30:
        pass
    assert sorted([t.id async for t in client.tasks.watch(job_id, poll_interval=0.02)]) == sorted(
        f"a{n}" for n in range(30)
    )


async def test_resuming_from_a_saved_position_repeats_nothing_and_misses_nothing(
    client: BatchClient, unique: Callable[[str], str]
) -> None:
    job_id = await new_job(client, unique("resume"))
    await client.tasks.add_many(job_id, (mixed(n) for n in range(1500)))
    first = []
    async with client.tasks.watch(job_id, poll_interval=0.02, overlap=0.2, select=["id"]) as watch:
        async for completed in watch:
            first.append(completed.id)
            if len(first) == 1234:  # in the middle of a page of 1000
                break
    saved = watch.position.to_dict()

    rest = [
        completed.id
        async for completed in client.tasks.watch(
            job_id, poll_interval=0.02, overlap=0.2, select=["id"], position=WatchPosition.from_dict(saved)
        )
    ]
    assert len(first) + len(rest) == 1500
    assert set(first) | set(rest) == {f"t-{n:05d}" for n in range(1500)}


def test_watch_under_trio(emulator: Emulator) -> None:
    trio = pytest.importorskip("trio")

    async def main() -> list[str | None]:
        async with connect(emulator) as client:
            job_id = await new_job(client, "watch-under-trio")
            await client.tasks.add_many(job_id, [task(f"x{n}", f"exit {n % 2}") for n in range(200)])
            return [t.id async for t in client.tasks.watch(job_id, poll_interval=0.02)]

    ids = trio.run(main)
    assert sorted(ids) == sorted(f"x{n}" for n in range(200))
    assert anyio  # the same helpers run under both backends

"""``iter_add``: one outcome per task read whatever stops the run; a stream cannot outlive its scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from _bulk_fake import FakeBatchService, iter_add, make_tasks

from batchaio._bulk_report import (
    BulkAddDeadlineExceeded,
    BulkAddError,
    BulkAddReport,
    TaskOutcome,
    TaskOutcomeStatus,
)
from batchaio.errors import NotFoundError

Run = Callable[[Callable[[], Any]], Any]
S = TaskOutcomeStatus


def check_one_outcome_per_task(
    outcomes: list[TaskOutcome], report: BulkAddReport, service: FakeBatchService
) -> dict[TaskOutcomeStatus, int]:
    """Every task read has exactly one outcome, agreeing with the report and with what the service holds."""
    assert sorted(outcome.index for outcome in outcomes) == list(range(report.total))
    counts = {status: sum(1 for o in outcomes if o.status is status) for status in S}
    assert counts[S.CREATED] == report.created and counts[S.FAILED] == report.failed
    assert sorted(o.task_id for o in outcomes if o.status is S.IN_DOUBT) == sorted(report.in_doubt)
    assert sorted(o.task_id for o in outcomes if o.status is S.PENDING) == sorted(report.pending)
    created = {o.task_id for o in outcomes if o.status is S.CREATED}
    assert created <= set(service.tasks)
    assert set(service.tasks) <= created | set(report.in_doubt)  # nothing created goes unreported
    assert set(report.pending).isdisjoint(service.sent_ids)
    return counts


def test_deadline_with_a_slow_consumer_loses_no_outcome(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()

    async def main() -> tuple[list[TaskOutcome], BulkAddReport]:
        outcomes: list[TaskOutcome] = []
        with pytest.raises(BulkAddDeadlineExceeded):
            async with iter_add(
                service.send_chunk, make_tasks(20_000), concurrency=4, deadline=0.05
            ) as stream:
                async for outcome in stream:
                    if not outcomes:
                        await anyio.sleep(0.3)  # behind: the workers wait for room until the deadline
                    outcomes.append(outcome)
        return outcomes, stream.report

    outcomes, report = run(main)

    counts = check_one_outcome_per_task(outcomes, report, service)
    assert counts[S.CREATED] > 0 and counts[S.PENDING] > 0
    assert report.deadline_exceeded


def test_outcomes_of_a_closed_stream_can_still_be_read(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()
    requests = 0

    async def send(body: bytes) -> bytes:
        nonlocal requests
        requests += 1
        if requests > 3:
            service.handle(body)  # applied, but the answer never comes back
            await anyio.sleep_forever()
        return await service.send_chunk(body)

    async def main() -> tuple[list[TaskOutcome], BulkAddReport]:
        outcomes: list[TaskOutcome] = []
        async with iter_add(send, make_tasks(10_000), concurrency=3) as stream:
            while requests < 6:  # not reading: the stream holds up to concurrency x chunk_size outcomes
                await anyio.lowlevel.checkpoint()
            await stream.aclose()
            outcomes = [outcome async for outcome in stream]
        return outcomes, stream.report

    outcomes, report = run(main)

    counts = check_one_outcome_per_task(outcomes, report, service)
    assert report.cancelled and counts[S.CREATED] == 300 and counts[S.IN_DOUBT] == 300
    doubt = next(o for o in outcomes if o.status is S.IN_DOUBT)
    assert doubt.failure is not None and doubt.failure.code == "RunStopped" and doubt.attempts == 1


def test_a_refused_job_still_yields_every_task_read(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()
    requests = 0

    async def send(body: bytes) -> bytes:
        nonlocal requests
        requests += 1
        if requests > 3:
            await anyio.lowlevel.checkpoint()
            raise NotFoundError(404, code="JobNotFound", message="deleted meanwhile")
        return await service.send_chunk(body)

    async def main() -> tuple[list[TaskOutcome], BulkAddReport]:
        outcomes: list[TaskOutcome] = []
        with pytest.raises(BulkAddError) as caught:
            async with iter_add(send, make_tasks(5000), concurrency=2) as stream:
                async for outcome in stream:
                    outcomes.append(outcome)
        assert caught.value.report is stream.report
        return outcomes, stream.report

    outcomes, report = run(main)

    counts = check_one_outcome_per_task(outcomes, report, service)
    assert counts[S.CREATED] == 300 and counts[S.FAILED] >= 100 and counts[S.PENDING] > 0


def test_iterating_without_async_with_is_refused(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()

    async def main() -> None:
        stream = iter_add(service.send_chunk, make_tasks(10))
        with pytest.raises(RuntimeError, match="async with"):
            async for _ in stream:
                pass

    run(main)

    assert service.requests == 0


def test_breaking_out_inside_async_with_stops_every_request(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()

    async def main() -> tuple[int, int]:
        async with iter_add(service.send_chunk, make_tasks(100_000), concurrency=2) as stream:
            async for outcome in stream:
                if outcome.index == 10:
                    break
        sent = service.requests
        for _ in range(100):
            await anyio.lowlevel.checkpoint()
        return sent, service.requests

    sent, later = run(main)

    assert later == sent

"""A progress callback that raises fails the run with :class:`BulkAddError` carrying the report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from _bulk_fake import FakeBatchService, add_many, iter_add, make_tasks

from batchaio._bulk_report import BulkAddError, BulkAddReport, TaskOutcome

Run = Callable[[Callable[[], Any]], Any]


def test_callback_raising_mid_run_stops_it_with_the_report(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()
    calls: list[int] = []

    def progress(report: BulkAddReport) -> None:
        calls.append(report.created)
        if len(calls) == 2:
            raise ValueError("display gone")

    with pytest.raises(BulkAddError, match="progress callback raised ValueError") as caught:
        run(lambda: add_many(service.send_chunk, make_tasks(1000), concurrency=1, progress=progress))

    report = caught.value.report
    assert isinstance(caught.value.__cause__, ValueError)
    assert report.created == len(service.tasks) == 200
    assert report.total == report.created + len(report.pending) + len(report.in_doubt)


def test_callback_raising_on_the_final_call_fails_the_run(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()

    def progress(report: BulkAddReport) -> None:
        if report.created == 50:
            raise ValueError("display gone")

    with pytest.raises(BulkAddError, match="progress callback") as caught:
        run(lambda: add_many(service.send_chunk, make_tasks(50), progress=progress))

    assert caught.value.report.created == 50 and caught.value.report.complete


def test_callback_raising_on_cancellation_does_not_hide_it(run: Run, sleeps: list[float]) -> None:
    def progress(report: BulkAddReport) -> None:
        if report.cancelled:
            raise ValueError("display gone")

    async def stuck(body: bytes) -> bytes:
        await anyio.sleep_forever()
        raise AssertionError

    async def main() -> bool:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(lambda: add_many(stuck, make_tasks(50), progress=progress))
                await anyio.wait_all_tasks_blocked()
                scope.cancel()
        return scope.cancelled_caught

    assert run(main) is True


def test_iter_add_callback_raising_ends_the_stream_with_bulk_add_error(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()

    def progress(report: BulkAddReport) -> None:
        raise ValueError("display gone")

    async def main() -> list[TaskOutcome]:
        outcomes: list[TaskOutcome] = []
        with pytest.raises(BulkAddError, match="progress callback"):
            async with iter_add(
                service.send_chunk, make_tasks(250), chunk_size=50, progress=progress
            ) as stream:
                async for outcome in stream:
                    outcomes.append(outcome)
        return outcomes

    outcomes = run(main)

    assert sorted(outcome.index for outcome in outcomes) == list(range(len(outcomes)))
    assert sum(outcome.ok for outcome in outcomes) == len(service.tasks)

"""A progress callback that raises fails the run with :class:`BulkAddError` carrying the report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
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


def test_an_async_callback_is_awaited(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()
    seen: list[tuple[int, bool]] = []

    async def progress(report: BulkAddReport) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append((report.created, report.complete))

    report: BulkAddReport = run(lambda: add_many(service.send_chunk, make_tasks(450), progress=progress))

    assert len(seen) == report.requests + 1 == 6
    assert seen[-1] == (450, True) and seen == sorted(seen)


def test_an_async_callback_raising_stops_the_run(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()

    async def progress(report: BulkAddReport) -> None:
        await anyio.lowlevel.checkpoint()
        raise ValueError("display gone")

    with pytest.raises(BulkAddError, match="progress callback raised ValueError") as caught:
        run(lambda: add_many(service.send_chunk, make_tasks(1000), concurrency=1, progress=progress))

    assert caught.value.report.created == 100


def test_an_async_callback_still_hears_of_a_cancelled_run(run: Run, sleeps: list[float]) -> None:
    final: list[BulkAddReport] = []

    async def progress(report: BulkAddReport) -> None:
        await anyio.lowlevel.checkpoint()  # awaited although the run is cancelled
        final.append(report)

    async def stuck(body: bytes) -> bytes:
        await anyio.sleep_forever()
        raise AssertionError

    async def main() -> None:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(lambda: add_many(stuck, make_tasks(50), progress=progress))
                await anyio.wait_all_tasks_blocked()
                scope.cancel()

    run(main)

    [report] = final
    assert report.cancelled and report.in_doubt == [f"task-{n}" for n in range(50)]


def test_the_progress_parameter_is_typed_so_a_wrong_callable_is_an_error() -> None:
    mypy_api = pytest.importorskip("mypy.api")
    root = Path(__file__).resolve().parents[2]
    checked = Path(__file__).with_name("progress_typing.py")
    out, err, status = mypy_api.run(
        ["--strict", "--warn-unused-ignores", "--cache-dir", str(root / ".mypy_cache"), str(checked)]
    )
    assert status == 0, out + err

"""The bulk engine against a scripted service, through its ``SendChunk`` interface."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import orjson
import pytest
from _bulk_fake import FakeBatchService, Faults, add_many, iter_add, make_tasks

from batchaio import _constants as C
from batchaio._bulk_report import (
    BulkAddDeadlineExceeded,
    BulkAddError,
    BulkAddReport,
    TaskOutcome,
    TaskOutcomeStatus,
)
from batchaio.errors import NotFoundError, ValidationError
from batchaio.models import BatchTaskCreateContent

Run = Callable[[Callable[[], Any]], Any]

MIXED = Faults(
    busy_with_retry_after=0.20,
    throttled_no_retry_after=0.05,
    reset_before_apply=0.04,
    reset_after_apply=0.04,
    server_error=0.03,
)


def test_every_task_created_exactly_once_under_mixed_faults(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService(MIXED, seed=7)
    count = 3000

    report: BulkAddReport = run(lambda: add_many(service.send_chunk, make_tasks(count), concurrency=8))

    service.assert_exactly_once({f"task-{n}" for n in range(count)})
    assert (report.created, report.existing, report.failed) == (count, 0, 0)
    assert report.failures == [] and report.in_doubt == [] and report.pending == []
    assert report.complete
    # The faults did happen, and every one was followed by a wait, never an immediate retry.
    assert service.statuses[503] > 0 and service.statuses[429] > 0
    assert report.requests == service.requests and report.retries > 0
    assert len(sleeps) >= report.retries
    assert min(sleeps) >= C.BULK_MIN_RETRY_DELAY
    assert sum(1 for delay in sleeps if delay >= 1.0) >= service.statuses[503]  # Retry-After: 1 honoured


def test_resets_after_apply_count_as_created_not_existing(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService(Faults(reset_after_apply=0.5), seed=3)

    report: BulkAddReport = run(lambda: add_many(service.send_chunk, make_tasks(500), chunk_size=50))

    service.assert_exactly_once({f"task-{n}" for n in range(500)})
    assert (report.created, report.existing, report.failed) == (500, 0, 0)
    assert report.retries > 0


def test_tasks_already_there_count_as_existing(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()
    for number in range(0, 300, 3):
        service.tasks[f"task-{number}"] = {"id": f"task-{number}"}

    report: BulkAddReport = run(lambda: add_many(service.send_chunk, make_tasks(300)))

    assert (report.created, report.existing, report.failed) == (200, 100, 0)
    assert report.retries == 0


def test_chunks_stay_within_count_and_byte_limits(run: Run, sleeps: list[float]) -> None:
    bodies: list[bytes] = []
    service = FakeBatchService()

    async def send(body: bytes) -> bytes:
        bodies.append(body)
        return await service.send_chunk(body)

    def tasks() -> Iterator[BatchTaskCreateContent]:
        rng = random.Random(1)
        for number in range(700):
            yield BatchTaskCreateContent(id=f"t{number}", command_line="x" * rng.randint(10, 30_000))

    report: BulkAddReport = run(lambda: add_many(send, tasks(), max_chunk_bytes=200_000))

    assert report.created == 700
    assert all(len(body) <= 200_000 for body in bodies)
    assert all(1 <= len(orjson.loads(body)["value"]) <= 100 for body in bodies)
    assert any(len(orjson.loads(body)["value"]) < 100 for body in bodies[:-1])  # the byte limit cut chunks


def test_default_byte_limit_leaves_margin_under_the_service_limit() -> None:
    assert C.BULK_MAX_CHUNK_BYTES < 1_048_576


def test_413_halves_the_chunk_until_it_fits(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService(max_body=6_000)

    def tasks() -> Iterator[BatchTaskCreateContent]:
        for number in range(250):
            yield BatchTaskCreateContent(id=f"t{number}", command_line="y" * 400)

    report: BulkAddReport = run(lambda: add_many(service.send_chunk, tasks()))

    service.assert_exactly_once({f"t{n}" for n in range(250)})
    assert (report.created, report.failed) == (250, 0)
    assert service.statuses[413] > 0
    assert sleeps == []  # a split is sent at once: it is not a retry after a failure


def test_single_task_refused_as_too_large_by_the_service_fails_alone(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService(max_body=2_000)
    tasks = [BatchTaskCreateContent(id=f"t{n}", command_line="z") for n in range(10)]
    tasks.insert(4, BatchTaskCreateContent(id="big", command_line="z" * 5_000))

    report: BulkAddReport = run(lambda: add_many(service.send_chunk, tasks))

    assert (report.created, report.failed) == (10, 1)
    [failure] = report.failures
    assert (failure.task_id, failure.index, failure.code) == ("big", 4, "RequestBodyTooLarge")


def test_task_over_the_limit_fails_with_a_clear_error_and_is_never_sent(
    run: Run, sleeps: list[float]
) -> None:
    service = FakeBatchService()
    tasks = list(make_tasks(30))
    tasks.insert(7, BatchTaskCreateContent(id="huge", command_line="h" * 1_100_000))

    report: BulkAddReport = run(lambda: add_many(service.send_chunk, tasks))

    assert (report.created, report.failed) == (30, 1)
    [failure] = report.failures
    assert (failure.task_id, failure.index, failure.code) == ("huge", 7, "TaskTooLarge")
    assert "'huge'" in failure.message and "bytes" in failure.message
    assert "huge" not in service.sent_ids


def test_duplicate_ids_fail_without_case_and_are_not_sent(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()
    tasks = list(make_tasks(20))
    tasks.insert(5, BatchTaskCreateContent(id="TASK-3", command_line="dup"))
    tasks.append(BatchTaskCreateContent(id="task-19", command_line="dup again"))

    report: BulkAddReport = run(lambda: add_many(service.send_chunk, tasks))

    assert (report.created, report.failed) == (20, 2)
    assert [(f.task_id, f.index, f.code) for f in report.failures] == [
        ("TASK-3", 5, "DuplicateTaskId"),
        ("task-19", 21, "DuplicateTaskId"),
    ]
    assert "'task-3'" in report.failures[0].message
    assert "TASK-3" not in service.sent_ids
    assert service.creations["task-3"] == 1


def test_invalid_tasks_fail_with_validation_details_and_the_rest_continue(
    run: Run, sleeps: list[float]
) -> None:
    service = FakeBatchService()
    tasks: list[Any] = list(make_tasks(10))
    tasks[2] = BatchTaskCreateContent(id="no-command")
    tasks[4] = BatchTaskCreateContent(id="bad id!", command_line="x")
    tasks[6] = {"id": "dict", "commandLine": "x"}
    tasks[8] = BatchTaskCreateContent(command_line="no id")

    report: BulkAddReport = run(lambda: add_many(service.send_chunk, tasks))

    assert (report.created, report.failed) == (6, 4)
    by_index = {failure.index: failure for failure in report.failures}
    assert {failure.code for failure in report.failures} == {"ValidationError"}
    assert "command_line is required" in by_index[2].message
    assert by_index[4].task_id == "bad id!" and "' '" in by_index[4].message
    assert "BatchTaskCreateContent" in by_index[6].message and by_index[6].task_id is None
    assert by_index[8].task_id is None and "id" in by_index[8].message


def test_clienterror_fails_the_task_with_the_batch_error(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()
    service.scripts["task-3"] = ["clienterror"]

    report: BulkAddReport = run(lambda: add_many(service.send_chunk, make_tasks(10)))

    assert (report.created, report.failed) == (9, 1)
    [failure] = report.failures
    assert (failure.task_id, failure.code, failure.message) == (
        "task-3",
        "InvalidPropertyValue",
        "commandLine is bad",
    )
    assert failure.error is not None and failure.error.values is not None
    assert (failure.error.values[0].key, failure.error.values[0].value) == ("PropertyName", "commandLine")
    assert sleeps == []  # not retried


def test_unknown_status_is_a_failure_not_a_success(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()
    service.scripts["task-1"] = ["status:Pending"]
    service.scripts["task-2"] = ["status:SUCCESS"]

    report: BulkAddReport = run(lambda: add_many(service.send_chunk, make_tasks(5)))

    assert (report.created, report.failed) == (4, 1)
    [failure] = report.failures
    assert (failure.task_id, failure.code) == ("task-1", "UnknownStatus")
    assert "'pending'" in failure.message


def test_servererror_tasks_are_retried_with_backoff_and_only_them(run: Run, sleeps: list[float]) -> None:
    bodies: list[bytes] = []
    service = FakeBatchService()
    service.scripts["task-4"] = ["servererror", "servererror"]

    async def send(body: bytes) -> bytes:
        bodies.append(body)
        return await service.send_chunk(body)

    report: BulkAddReport = run(lambda: add_many(send, make_tasks(50)))

    assert (report.created, report.failed, report.requests, report.retries) == (50, 0, 3, 2)
    assert [len(orjson.loads(body)["value"]) for body in bodies] == [50, 1, 1]
    assert len(sleeps) == 2 and all(delay >= C.BULK_MIN_RETRY_DELAY for delay in sleeps)


def test_missing_result_is_retried_not_assumed_created(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()
    service.scripts["task-2"] = ["omit"]  # created, but left out of the answer

    report: BulkAddReport = run(lambda: add_many(service.send_chunk, make_tasks(5)))

    # The retry meets TaskExists; the first attempt may have landed, so the task counts as created by us.
    assert (report.created, report.existing, report.failed, report.retries) == (5, 0, 0, 1)
    assert service.creations["task-2"] == 1


def test_persistent_servererror_ends_in_doubt(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()
    service.scripts["task-0"] = ["servererror"] * 20
    stream = None

    async def main() -> list[TaskOutcome]:
        nonlocal stream
        async with iter_add(service.send_chunk, make_tasks(3), max_attempts=4) as stream:
            return [outcome async for outcome in stream]

    outcomes = run(main)

    assert stream is not None
    assert stream.report.in_doubt == ["task-0"] and stream.report.created == 2
    [doubt] = [outcome for outcome in outcomes if outcome.task_id == "task-0"]
    assert doubt.status is TaskOutcomeStatus.IN_DOUBT and doubt.attempts == 4
    assert doubt.failure is not None and doubt.failure.code == "InternalError"
    assert len(sleeps) == 3


def test_whole_request_throttling_gives_up_after_bounded_waits(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService(Faults(busy_with_retry_after=1.0))

    report: BulkAddReport = run(lambda: add_many(service.send_chunk, make_tasks(5), max_attempts=5))

    assert (report.created, report.failed, report.requests) == (0, 5, 5)
    assert {failure.code for failure in report.failures} == {"ServerBusy"}
    assert "5 attempt" in report.failures[0].message
    assert report.in_doubt == []  # a 503 means not processed
    assert len(sleeps) == 4 and all(1.0 <= delay <= 1.0 + C.RETRY_AFTER_JITTER for delay in sleeps)


def test_exhausted_500s_leave_tasks_in_doubt(run: Run, sleeps: list[float]) -> None:
    async def send(body: bytes) -> bytes:
        from batchaio.errors import ServerError

        raise ServerError(500, code="InternalError", message="boom")

    report: BulkAddReport = run(lambda: add_many(send, make_tasks(3), max_attempts=3))

    assert report.failed == 0 and sorted(report.in_doubt) == ["task-0", "task-1", "task-2"]
    assert not report.complete


def test_bad_request_fails_the_chunk_only(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()
    service_send = service.send_chunk

    async def send(body: bytes) -> bytes:
        if b'"task-150"' in body:
            from batchaio.errors import BadRequestError

            raise BadRequestError(400, code="InvalidRequestBody", message="bad body")
        return await service_send(body)

    report: BulkAddReport = run(lambda: add_many(send, make_tasks(300)))

    assert (report.created, report.failed) == (200, 100)
    assert {failure.code for failure in report.failures} == {"InvalidRequestBody"}


def test_job_not_found_stops_the_run_with_the_report(run: Run, sleeps: list[float]) -> None:
    requests = 0

    async def send(body: bytes) -> bytes:
        nonlocal requests
        requests += 1
        await anyio.lowlevel.checkpoint()
        raise NotFoundError(404, code="JobNotFound", message="The specified job does not exist.")

    with pytest.raises(BulkAddError) as caught:
        run(lambda: add_many(send, make_tasks(10_000), concurrency=4))

    report = caught.value.report
    assert isinstance(caught.value.__cause__, NotFoundError)
    assert requests <= 4
    assert report.failed >= 100 and {f.code for f in report.failures} == {"JobNotFound"}
    assert report.total <= 6 * 100 + 1  # the input was not read to the end
    assert report.created == 0 and len(report.pending) + len(report.in_doubt) + report.failed == report.total


def test_a_stopped_run_sends_nothing_more_even_through_a_sender_without_checkpoints(
    run: Run, sleeps: list[float]
) -> None:
    service = FakeBatchService()
    after_refusal = 0
    refused = False

    async def send(body: bytes) -> bytes:
        nonlocal after_refusal, refused
        if refused:
            after_refusal += 1
        if service.requests == 2:
            refused = True
            raise NotFoundError(404, code="JobNotFound", message="The specified job does not exist.")
        return await service.send_chunk(body)  # answers at once: no checkpoint anywhere

    with pytest.raises(BulkAddError) as caught:
        run(lambda: add_many(send, make_tasks(5000), concurrency=4, chunk_size=10))

    report = caught.value.report
    assert after_refusal == 0
    assert report.created == len(service.tasks) == 20
    assert set(report.pending).isdisjoint(service.sent_ids) and report.in_doubt == []


def test_input_that_raises_stops_the_run(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()

    def tasks() -> Iterator[BatchTaskCreateContent]:
        yield from make_tasks(150)
        raise RuntimeError("input broke")

    with pytest.raises(BulkAddError, match="input broke") as caught:
        run(lambda: add_many(service.send_chunk, tasks(), concurrency=1))

    assert isinstance(caught.value.__cause__, RuntimeError)
    assert caught.value.report.total == 150


def test_an_input_that_cannot_be_iterated_is_asked_once(run: Run, sleeps: list[float]) -> None:
    calls = 0

    class Unreadable:
        def __iter__(self) -> Iterator[BatchTaskCreateContent]:
            nonlocal calls
            calls += 1
            raise OSError("cannot open the task list")

    with pytest.raises(BulkAddError, match="cannot open") as caught:
        run(lambda: add_many(FakeBatchService().send_chunk, Unreadable(), concurrency=8))

    assert calls == 1
    assert caught.value.report.total == 0


def test_progress_callback_sees_counts_grow_to_the_final_report(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService(Faults(server_error=0.1), seed=5)
    service.tasks["task-9"] = {}
    seen: list[tuple[int, int, int, int]] = []

    def progress(report: BulkAddReport) -> None:
        seen.append((report.created, report.existing, report.failed, report.requests))

    tasks = [*make_tasks(1000), BatchTaskCreateContent(id="x")]
    report: BulkAddReport = run(lambda: add_many(service.send_chunk, tasks, progress=progress))

    assert len(seen) == report.requests + 1  # once per answer, once at the end
    assert seen == sorted(seen)
    assert seen[-1] == (999, 1, 1, report.requests)


def test_async_generator_input(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService(Faults(reset_after_apply=0.1), seed=2)

    async def tasks() -> AsyncIterator[BatchTaskCreateContent]:
        for task in make_tasks(1234):
            if task.id is not None and task.id.endswith("7"):
                await anyio.lowlevel.checkpoint()
            yield task

    report: BulkAddReport = run(lambda: add_many(service.send_chunk, tasks(), concurrency=3))

    service.assert_exactly_once({f"task-{n}" for n in range(1234)})
    assert (report.created, report.failed) == (1234, 0)


@pytest.mark.parametrize(("concurrency", "chunk_size"), [(1, 100), (4, 25), (8, 100)])
def test_input_is_read_lazily(run: Run, sleeps: list[float], concurrency: int, chunk_size: int) -> None:
    service = FakeBatchService()
    consumed = 0
    lookahead = 0

    async def send(body: bytes) -> bytes:
        for _ in range(3):
            await anyio.lowlevel.checkpoint()
        return await service.send_chunk(body)

    def tasks() -> Iterator[BatchTaskCreateContent]:
        nonlocal consumed, lookahead
        for task in make_tasks(5000):
            consumed += 1
            lookahead = max(lookahead, consumed - len(service.sent_ids))
            yield task

    report: BulkAddReport = run(
        lambda: add_many(send, tasks(), concurrency=concurrency, chunk_size=chunk_size)
    )

    assert report.created == 5000
    assert lookahead <= concurrency * chunk_size + chunk_size + 1


def test_cancellation_leaves_a_consistent_account(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()
    consumed: list[str] = []
    final: list[BulkAddReport] = []
    requests = 0

    async def send(body: bytes) -> bytes:
        nonlocal requests
        requests += 1
        if requests > 5:
            service.handle(body)  # applied, but the answer never comes back
            await anyio.sleep_forever()
        return await service.send_chunk(body)

    def tasks() -> Iterator[BatchTaskCreateContent]:
        for task in make_tasks(10_000):
            assert task.id is not None
            consumed.append(task.id)
            yield task

    def progress(report: BulkAddReport) -> None:
        final.append(report)

    async def main() -> None:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(lambda: add_many(send, tasks(), concurrency=3, progress=progress))
                while requests < 8:
                    await anyio.lowlevel.checkpoint()
                scope.cancel()

    run(main)

    report = final[-1]
    assert report.cancelled and not report.complete
    assert report.created == 500 and report.failed == 0
    assert len(report.in_doubt) == 300  # three requests were in flight
    assert set(report.in_doubt) <= {key for key in service.tasks}
    assert report.total == len(consumed)  # nothing read is unaccounted for
    assert set(report.pending).isdisjoint(service.sent_ids)


def test_deadline_stops_the_run_and_reports_what_is_unfinished(run: Run, sleeps: list[float]) -> None:
    async def send(body: bytes) -> bytes:
        await anyio.sleep_forever()
        raise AssertionError

    with pytest.raises(BulkAddDeadlineExceeded) as caught:
        run(lambda: add_many(send, make_tasks(1000), concurrency=2, deadline=0.05))

    report = caught.value.report
    assert isinstance(caught.value, TimeoutError)
    assert report.deadline_exceeded and len(report.in_doubt) == 200
    assert len(report.pending) == report.total - 200 and report.created == 0


def test_iter_add_yields_every_outcome_once(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService(MIXED, seed=11)
    service.tasks["task-5"] = {}
    tasks = list(make_tasks(800))
    tasks.insert(20, BatchTaskCreateContent(id="TASK-7", command_line="dup"))

    async def main() -> tuple[list[TaskOutcome], BulkAddReport]:
        async with iter_add(service.send_chunk, tasks) as stream:
            outcomes = [outcome async for outcome in stream]
        return outcomes, stream.report

    outcomes, report = run(main)

    assert sorted(outcome.index for outcome in outcomes) == list(range(801))
    statuses = {outcome.index: outcome.status for outcome in outcomes}
    assert statuses[5] is TaskOutcomeStatus.EXISTING and statuses[20] is TaskOutcomeStatus.FAILED
    assert sum(1 for status in statuses.values() if status is TaskOutcomeStatus.CREATED) == 799
    created = next(outcome for outcome in outcomes if outcome.status is TaskOutcomeStatus.CREATED)
    assert created.result is not None and created.result.e_tag == "0x8DC9B2F8F1E5A3C"
    assert created.result.last_modified is not None and created.ok
    assert (report.created, report.existing, report.failed) == (799, 1, 1)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_failures_found_before_sending_are_streamed_without_reading_everything(
    run: Run, sleeps: list[float], asynchronous: bool
) -> None:
    consumed = 0

    async def send(body: bytes) -> bytes:
        raise AssertionError("nothing valid to send")

    def tasks() -> Iterator[BatchTaskCreateContent]:
        nonlocal consumed
        for number in range(10_000):
            consumed += 1
            yield BatchTaskCreateContent(id=f"t{number}")  # no command line

    async def atasks() -> AsyncIterator[BatchTaskCreateContent]:
        for task in tasks():
            yield task

    async def main() -> tuple[int, int]:
        first_seen_at = 0
        count = 0
        async with iter_add(send, atasks() if asynchronous else tasks(), chunk_size=50) as stream:
            async for outcome in stream:
                assert outcome.status is TaskOutcomeStatus.FAILED
                first_seen_at = first_seen_at or consumed
                count += 1
        return first_seen_at, count

    first_seen_at, count = run(main)

    assert count == 10_000
    assert first_seen_at <= 8 * 50 + 50  # outcomes flowed while the input was still being read


def test_iter_add_stopped_early_inside_async_with(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()
    consumed = 0

    def tasks() -> Iterator[BatchTaskCreateContent]:
        nonlocal consumed
        for task in make_tasks(100_000):
            consumed += 1
            yield task

    async def main() -> BulkAddReport:
        async with iter_add(service.send_chunk, tasks(), concurrency=2) as stream:
            async for outcome in stream:
                if outcome.index == 150:
                    break
        return stream.report

    report = run(main)

    assert report.cancelled and consumed < 1000
    assert report.total == consumed


def test_iter_add_raises_after_the_known_outcomes(run: Run, sleeps: list[float]) -> None:
    async def send(body: bytes) -> bytes:
        raise NotFoundError(404, code="JobNotFound", message="no job")

    async def main() -> list[TaskOutcome]:
        seen: list[TaskOutcome] = []
        with pytest.raises(BulkAddError):
            async with iter_add(send, make_tasks(50), concurrency=1) as stream:
                async for outcome in stream:
                    seen.append(outcome)
        return seen

    seen = run(main)

    assert len(seen) == 50 and {outcome.failure.code for outcome in seen if outcome.failure} == {
        "JobNotFound"
    }


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"chunk_size": 101}, "chunk_size"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"concurrency": 0}, "concurrency"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"deadline": 0}, "deadline"),
    ],
)
def test_bad_options_are_refused_before_sending(options: dict[str, Any], field: str) -> None:
    async def send(body: bytes) -> bytes:
        raise AssertionError("nothing may be sent")

    with pytest.raises(ValidationError) as caught:
        anyio.run(lambda: add_many(send, make_tasks(1), **options))
    assert caught.value.field == field

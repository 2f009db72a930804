"""How the bulk engine settles tasks when the service refuses a request or the pipeline refuses to send it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import orjson
import pytest
from _bulk_fake import FakeBatchService, add_many, make_tasks

from batchaio import _constants as C
from batchaio._bulk_report import BulkAddError, BulkAddReport
from batchaio._retry import RetryPolicy
from batchaio.errors import (
    AuthenticationError,
    BadRequestError,
    BatchStatusError,
    ConflictError,
    NotFoundError,
    OutcomeUnknownError,
    PreconditionFailedError,
    ValidationError,
)
from batchaio.models import BatchTaskCreateContent

Run = Callable[[Callable[[], Any]], Any]


@pytest.mark.parametrize(
    "refusal",
    [
        BadRequestError(400, code="InvalidRequestBody", message="bad"),
        AuthenticationError(401, code="AuthenticationFailed", message="no"),
        AuthenticationError(403, code="AuthenticationFailed", message="key rotated"),
        NotFoundError(404, code="JobNotFound", message="gone"),
        ConflictError(409, code="JobCompleted", message="done"),
        PreconditionFailedError(412, code="ConditionNotMet", message="changed"),
    ],
    ids=lambda error: str(error.status_code),
)
def test_refusal_after_an_attempt_that_may_have_landed_leaves_tasks_in_doubt(
    run: Run, sleeps: list[float], refusal: BatchStatusError
) -> None:
    service = FakeBatchService()
    calls = 0

    async def send(body: bytes) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 1:
            service.handle(body)  # applied, then the connection dropped
            raise OutcomeUnknownError("connection reset", attempts=1)
        raise refusal

    async def main() -> BulkAddReport:
        try:
            return await add_many(send, make_tasks(3), concurrency=1)
        except BulkAddError as exc:
            return exc.report

    report = run(main)

    assert sorted(report.in_doubt) == ["task-0", "task-1", "task-2"] == sorted(service.tasks)
    assert report.failed == 0 and report.failures == []


def test_refusal_on_a_first_attempt_fails_the_tasks(run: Run, sleeps: list[float]) -> None:
    async def send(body: bytes) -> bytes:
        raise AuthenticationError(403, code="AuthenticationFailed", message="no")

    with pytest.raises(BulkAddError) as caught:
        run(lambda: add_many(send, make_tasks(3), concurrency=1))

    report = caught.value.report
    assert report.failed == 3 and report.in_doubt == []


def test_validation_error_from_the_sender_leaves_tasks_pending_not_in_doubt(
    run: Run, sleeps: list[float]
) -> None:
    async def send(body: bytes) -> bytes:
        raise ValidationError("server_timeout must be a whole number of seconds", field="server_timeout")

    with pytest.raises(BulkAddError) as caught:
        run(lambda: add_many(send, make_tasks(3), concurrency=1))

    report = caught.value.report
    assert isinstance(caught.value.__cause__, ValidationError)
    assert sorted(report.pending) == ["task-0", "task-1", "task-2"] and report.in_doubt == []


SAS = "https://acct.blob.core.windows.net/c/in.txt?sv=2022-11-02&sig=SECRETSIG"


def test_failures_never_carry_secrets(run: Run, sleeps: list[float]) -> None:
    async def send(body: bytes) -> bytes:
        results = [
            {
                "status": "ClientError",
                "taskId": task["id"],
                "error": {
                    "code": "InvalidPropertyValue",
                    "message": {"value": f"The value provided is invalid: {SAS}"},
                    "values": [
                        {"key": "PropertyName", "value": "httpUrl"},
                        {"key": "PropertyValue", "value": SAS},
                    ],
                },
            }
            if task["id"] == "t-0"
            else {
                "status": "ServerError",
                "taskId": task["id"],
                "error": {"code": "InternalError", "message": {"value": f"could not read {SAS}"}},
            }
            for task in orjson.loads(body)["value"]
        ]
        return orjson.dumps({"value": results})

    tasks = [BatchTaskCreateContent(id=f"t-{n}", command_line="x") for n in range(2)]
    report: BulkAddReport = run(lambda: add_many(send, tasks, max_attempts=2))

    assert report.failed == 1 and report.in_doubt == ["t-1"]
    (failure,) = report.failures
    assert failure.error is not None and failure.error.values is not None
    assert failure.error.values[1].value is not None and failure.error.values[1].value.startswith("https://")
    assert "SECRETSIG" not in repr(failure) and "SECRETSIG" not in failure.message


def test_a_long_run_of_invalid_tasks_lets_other_tasks_run(run: Run, sleeps: list[float]) -> None:
    consumed = 0
    seen_midway = 0

    async def send(body: bytes) -> bytes:
        raise AssertionError("nothing valid to send")

    def tasks() -> Iterator[BatchTaskCreateContent]:
        nonlocal consumed
        for number in range(5000):
            consumed += 1
            yield BatchTaskCreateContent(id=f"t{number}")  # no command line

    async def watch(done: anyio.Event) -> None:
        nonlocal seen_midway
        while not done.is_set():
            if 0 < consumed < 5000:
                seen_midway += 1
            await anyio.lowlevel.checkpoint()

    async def main() -> BulkAddReport:
        done = anyio.Event()
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(watch, done)
            report = await add_many(send, tasks(), chunk_size=50)
            done.set()
        return report

    report = run(main)

    assert report.failed == 5000
    assert seen_midway > 10  # about once per chunk_size rejections (never, if the producer held the loop)


def test_the_report_keeps_a_bounded_list_of_failures_and_exact_counts(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()
    tasks = [BatchTaskCreateContent(id=f"bad-{n}") for n in range(30)] + list(make_tasks(20))

    report: BulkAddReport = run(lambda: add_many(service.send_chunk, tasks, max_failures_kept=10))

    assert (report.created, report.failed, report.failures_dropped) == (20, 30, 20)
    assert [failure.index for failure in report.failures] == list(range(10))
    assert report.total == 50 and "failures_dropped=20" in repr(report)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (RetryPolicy.no_retries(), 1),
        (RetryPolicy(), C.BULK_MAX_ATTEMPTS),
        (RetryPolicy(max_attempts=25), 25),
    ],
)
def test_attempts_per_task_follow_the_retry_policy(
    run: Run, sleeps: list[float], policy: RetryPolicy, expected: int
) -> None:
    service = FakeBatchService()
    service.scripts["task-0"] = ["servererror"] * 30

    report: BulkAddReport = run(lambda: add_many(service.send_chunk, make_tasks(1), retry=policy))

    assert report.requests == expected and report.in_doubt == ["task-0"]


def test_backoff_follows_the_retry_policy_with_a_floor(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()
    service.scripts["task-0"] = ["servererror"] * 3
    policy = RetryPolicy(backoff_base=0.0, backoff_cap=0.0)

    report: BulkAddReport = run(lambda: add_many(service.send_chunk, make_tasks(1), retry=policy))

    assert report.created == 1 and sleeps == [C.BULK_MIN_RETRY_DELAY] * 3

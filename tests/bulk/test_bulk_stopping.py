"""How a run stops early: an unreachable service, a refusal of the whole job, an input that raises, a server
that never finishes an answer; through the client's real pipeline, the service mocked."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import orjson
import pytest
from _bulk_fake import FakeBatchService, make_tasks

import batchaio
from batchaio import BatchClient, BulkAddError, BulkAddReport, RetryPolicy, SharedKeyCredential
from batchaio.models import BatchTaskCreateContent

Run = Callable[[Callable[[], Any]], Any]
HOST = "https://acct.westeurope.batch.azure.com"
KEY = base64.b64encode(b"k" * 32).decode()


def client_with(handler: Callable[[httpx.Request], Any], retry: RetryPolicy | None = None) -> BatchClient:
    return BatchClient(
        HOST,
        SharedKeyCredential("acct", KEY),
        transport=httpx.MockTransport(handler),
        **({"retry": retry} if retry is not None else {}),
    )


# --- 1. an unreachable service ----------------------------------------------------------------------------


def test_a_service_never_reached_stops_the_run_after_one_calls_attempts(
    run: Run, sleeps: list[float]
) -> None:
    requests = 0
    consumed = 0

    def refuse(request: httpx.Request) -> httpx.Response:
        nonlocal requests
        requests += 1
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    def tasks() -> Iterator[BatchTaskCreateContent]:
        nonlocal consumed
        for task in make_tasks(2400):
            consumed += 1
            yield task

    policy = RetryPolicy(max_attempts=4)

    async def main() -> None:
        async with client_with(refuse, policy) as client:
            await client.tasks.add_many("job-1", tasks(), concurrency=8)

    with pytest.raises(BulkAddError) as caught:
        run(main)

    error = caught.value
    report = error.report
    assert isinstance(error, batchaio.BulkAddUnreachableError)
    assert isinstance(error, batchaio.RequestNotSentError) and not error.outcome_unknown
    assert isinstance(error.__cause__, batchaio.RequestNotSentError)
    assert "no request reached the service" in str(error)
    # Never sent: pending, not failed; every task read accounted for.
    assert report.failed == 0 and report.failures == [] and report.in_doubt == []
    assert len(report.pending) == report.total == consumed < 2400
    # About one call's attempts per worker, one call's waits: not ten attempts for every chunk of the input.
    assert requests <= 8 * policy.max_attempts
    assert len(sleeps) <= 8 * (policy.max_attempts - 1)


def test_a_service_reached_once_is_retried_as_before(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()
    requests = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal requests
        requests += 1
        if requests == 1 or requests > 6:
            return service.http_handler(request)
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    async def main() -> BulkAddReport:
        async with client_with(flaky, RetryPolicy(max_attempts=2)) as client:
            return await client.tasks.add_many("job-1", make_tasks(200), concurrency=1)

    report = run(main)

    assert report.created == 200 and report.complete
    assert report.retries == 5  # the second chunk failed five times unsent, more than one call would try


# --- 3. a refusal of the whole job ------------------------------------------------------------------------


def refusal_handler(status: int, code: str) -> Callable[[httpx.Request], httpx.Response]:
    body = orjson.dumps({"code": code, "message": {"lang": "en-US", "value": f"{code}\nRequestId:r1"}})

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"request-id": "r1"})

    return handler


@pytest.mark.parametrize(
    ("status", "code", "error_class"),
    [
        (404, "JobNotFound", batchaio.NotFoundError),
        (403, "AuthenticationFailed", batchaio.AuthenticationError),
        (409, "JobCompleted", batchaio.ConflictError),
    ],
)
def test_a_refused_run_is_caught_as_its_status_error(
    run: Run, sleeps: list[float], status: int, code: str, error_class: type[Exception]
) -> None:
    async def main() -> None:
        async with client_with(refusal_handler(status, code)) as client:
            await client.tasks.add_many("job-1", make_tasks(500), concurrency=2)

    with pytest.raises(error_class) as caught:
        run(main)

    error: Any = caught.value
    assert isinstance(error, BulkAddError) and isinstance(error, batchaio.BatchStatusError)
    assert (error.status_code, error.code, error.request_id) == (status, code, "r1")
    assert isinstance(error.__cause__, error_class)
    assert "refused the bulk submission" in str(error)
    report = error.report
    assert report.failed >= 100 and {failure.code for failure in report.failures} == {code}
    assert report.total == report.failed + len(report.pending)


def test_a_refused_stream_raises_the_status_error_after_every_outcome(run: Run, sleeps: list[float]) -> None:
    async def main() -> None:
        seen = 0
        with pytest.raises(batchaio.NotFoundError) as caught:
            async with (
                client_with(refusal_handler(404, "JobNotFound")) as client,
                client.tasks.iter_add("job-1", make_tasks(120), concurrency=1) as stream,
            ):
                async for _ in stream:
                    seen += 1
        assert caught.value.report is stream.report  # type: ignore[attr-defined]
        assert seen == stream.report.total == 101  # the input was read one task past the refused chunk

    run(main)


# --- 5. an input that raises mid-way ----------------------------------------------------------------------


def test_an_input_raising_lets_the_requests_in_flight_finish(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()
    answered = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal answered
        for _ in range(20):
            await anyio.lowlevel.checkpoint()
        answered += 1
        return service.http_handler(request)

    def tasks() -> Iterator[BatchTaskCreateContent]:
        yield from make_tasks(150)
        raise RuntimeError("input broke")

    async def main() -> None:
        async with client_with(slow) as client:
            await client.tasks.add_many("job-1", tasks(), concurrency=3, chunk_size=50)

    with pytest.raises(BulkAddError, match="input broke") as caught:
        run(main)

    report = caught.value.report
    assert answered == 2
    assert report.in_doubt == [] and report.created == 100 == len(service.tasks)
    assert sorted(report.pending) == sorted(f"task-{n}" for n in range(100, 150))
    assert set(report.pending).isdisjoint(service.sent_ids)


def test_requests_still_out_after_the_grace_are_left_in_doubt(run: Run, sleeps: list[float]) -> None:
    async def stuck(request: httpx.Request) -> httpx.Response:
        await anyio.sleep_forever()
        raise AssertionError

    async def tasks() -> AsyncIterator[BatchTaskCreateContent]:
        for task in make_tasks(60):
            yield task
        raise RuntimeError("input broke")

    async def main() -> BulkAddReport:
        async with client_with(stuck) as client:
            with anyio.fail_after(5):
                try:
                    await client.tasks.add_many("job-1", tasks(), chunk_size=20, stop_grace=0.05)
                except BulkAddError as exc:
                    return exc.report
        raise AssertionError("the run did not stop")

    report = run(main)

    # Two chunks were out when the input raised; the third was still being filled: never sent.
    assert len(report.in_doubt) == 40 and len(report.pending) == 20 and not report.cancelled


# --- 6. a per-request deadline ----------------------------------------------------------------------------


def test_each_chunk_request_has_the_calls_deadline(run: Run, sleeps: list[float]) -> None:
    async def trickle() -> AsyncIterator[bytes]:
        while True:
            yield b" "
            await anyio.sleep(0.01)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=trickle(), headers={"content-type": "application/json"})

    async def main() -> BulkAddReport:
        async with client_with(handler, RetryPolicy(deadline=0.2)) as client:
            with anyio.fail_after(10):  # without a per-request bound the run never ends
                return await client.tasks.add_many("job-1", make_tasks(30), max_attempts=2)

    report = run(main)

    assert sorted(report.in_doubt) == sorted(f"task-{n}" for n in range(30))
    assert report.requests == 2 and report.failed == 0


# --- 2. retries are logged --------------------------------------------------------------------------------


def test_each_retried_chunk_is_logged_at_info(
    run: Run, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    service = FakeBatchService()
    service.scripts["task-0"] = ["busy"]
    service.scripts["task-150"] = ["servererror"]
    requests = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal requests
        requests += 1
        if requests == 3:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return service.http_handler(request)

    async def main() -> BulkAddReport:
        async with client_with(handler) as client:
            return await client.tasks.add_many("job-1", make_tasks(200), concurrency=1)

    with caplog.at_level("INFO", logger="batchaio"):
        report = run(main)

    assert report.created == 200 and report.retries == 3
    lines = [record for record in caplog.records if "retrying in" in record.getMessage()]
    assert [record.name for record in lines] == ["batchaio"] * 3
    assert all(record.levelname == "INFO" for record in lines)
    messages = [record.getMessage() for record in lines]
    assert "job 'job-1': 100 task(s), attempt 1 failed (503 ServerBusy); retrying in" in messages[0]
    assert "100 task(s), attempt 1 failed (RequestNotSentError); retrying in" in messages[1]
    assert "1 task(s), attempt 2 failed (servererror or no result); retrying in" in messages[2]
    assert [f"{delay:.3f} s" for delay in sleeps] == [message.rsplit("in ", 1)[1] for message in messages]


def test_retry_log_lines_are_redacted(
    run: Run, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    secret_code = "Busy:https://acct.blob.core.windows.net/c/x?sv=1&sig=SECRETSIG"
    answers = [
        httpx.Response(503, content=orjson.dumps({"code": secret_code, "message": {"value": "busy"}})),
        httpx.Response(200, content=orjson.dumps({"value": [{"status": "Success", "taskId": "task-0"}]})),
    ]

    async def main() -> BulkAddReport:
        async with client_with(lambda request: answers.pop(0)) as client:
            return await client.tasks.add_many("job-1", make_tasks(1))

    with caplog.at_level("INFO", logger="batchaio"):
        report = run(main)

    assert report.created == 1 and report.retries == 1
    [line] = [record.getMessage() for record in caplog.records if "retrying in" in record.getMessage()]
    assert "SECRETSIG" not in line and "503 Busy:https://acct.blob.core.windows.net/c/x?" in line

"""The pure core of bulk submission, with tables and no I/O: chunking, answers, failure decisions, options."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from batchaio import _constants as C
from batchaio._bulk_core import (
    Action,
    Chunker,
    Decision,
    Entry,
    Ledger,
    assemble,
    decide,
    read_answer,
)
from batchaio._bulk_options import BulkOptions
from batchaio._bulk_report import TaskOutcomeStatus
from batchaio._retry import RetryPolicy
from batchaio.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DeadlineExceededError,
    NotFoundError,
    OutcomeUnknownError,
    RequestBodyTooLargeError,
    RequestNotSentError,
    ServerError,
    ThrottledError,
    ValidationError,
)
from batchaio.models import BatchTaskCreateContent

S = TaskOutcomeStatus


def entries(*ids: str) -> tuple[Ledger, list[Entry]]:
    ledger = Ledger(max_failures_kept=100, streaming=True)
    held = [Entry(index, task_id, task_id.lower(), b"{}") for index, task_id in enumerate(ids)]
    ledger.live.update({entry.key: entry for entry in held})
    return ledger, held


# --- failures in, decisions out ---------------------------------------------------------------------------

NOT_SENT = RequestNotSentError("ConnectError: refused")
RESET = OutcomeUnknownError("ReadError: reset")
BUSY = ServerError(503, code="ServerBusy", retry_after=2.0)
LATE = DeadlineExceededError("late", outcome_unknown=True)
INVALID = ValidationError("bad", field="server_timeout")


RETRY, SPLIT, FAIL, REFUSED = Action.RETRY, Action.SPLIT, Action.FAIL_CHUNK, Action.STOP_REFUSED
D = Decision


@pytest.mark.parametrize(
    ("failure", "size", "attempts", "reached", "expected"),
    [
        (BUSY, 5, 1, True, D(RETRY, False, 2.0, "503 ServerBusy", 503)),
        (ServerError(500, code="InternalError"), 5, 1, True, D(RETRY, True, None, "500 InternalError", 500)),
        (ServerError(502), 5, 1, True, D(RETRY, True, None, "502", 502)),
        (ThrottledError(429, code="Throttled"), 5, 1, True, D(RETRY, False, None, "429 Throttled", 429)),
        (RequestBodyTooLargeError(413), 5, 1, True, D(SPLIT, reason="413")),
        (RequestBodyTooLargeError(413), 1, 1, True, D(FAIL, reason="413")),
        (BadRequestError(400, code="InvalidBody"), 5, 1, True, D(FAIL, reason="400 InvalidBody")),
        (NotFoundError(404, code="JobNotFound"), 5, 1, False, D(REFUSED, reason="404 JobNotFound")),
        (AuthenticationError(403, code="AuthFailed"), 5, 1, False, D(REFUSED, reason="403 AuthFailed")),
        (ConflictError(409, code="JobCompleted"), 5, 1, True, D(REFUSED, reason="409 JobCompleted")),
        (RESET, 5, 1, True, D(RETRY, True, reason="OutcomeUnknownError")),
        (LATE, 5, 1, True, D(RETRY, True, reason="DeadlineExceededError")),
        # Not sent: retried once the service has been reached, or while a call's attempts remain.
        (NOT_SENT, 5, 9, True, D(RETRY, False, reason="RequestNotSentError")),
        (NOT_SENT, 5, 4, False, D(RETRY, False, reason="RequestNotSentError")),
        (NOT_SENT, 5, 5, False, D(Action.STOP_UNREACHABLE, reason="RequestNotSentError")),
        (RESET, 5, 5, False, D(RETRY, True, reason="OutcomeUnknownError")),
        (INVALID, 5, 1, True, D(Action.STOP_FAILED, False, reason="ValidationError")),
        (RuntimeError("sender broke"), 5, 1, True, D(Action.STOP_FAILED, True, reason="RuntimeError")),
    ],
)  # fmt: skip
def test_decide(failure: Exception, size: int, attempts: int, reached: bool, expected: Decision) -> None:
    assert decide(failure, size, attempts=attempts, reached=reached, call_attempts=5) == expected


# --- answers in, outcomes and retries out -----------------------------------------------------------------


def answer(*results: dict[str, Any]) -> bytes:
    return orjson.dumps({"value": list(results)})


def error(status: str, task_id: str, code: str) -> dict[str, Any]:
    return {"status": status, "taskId": task_id, "error": {"code": code, "message": {"value": "why"}}}


@pytest.mark.parametrize(
    ("result", "maybe_applied", "outcome", "retried"),
    [
        ({"status": "Success", "taskId": "a"}, False, S.CREATED, False),
        ({"status": "success", "taskId": "A"}, False, S.CREATED, False),  # any case, for status and ID
        (error("ClientError", "a", "TaskExists"), False, S.EXISTING, False),
        (error("ClientError", "a", "TaskExists"), True, S.CREATED, False),  # an earlier attempt made it
        (error("ClientError", "a", "InvalidPropertyValue"), False, S.FAILED, False),
        (error("ServerError", "a", "InternalError"), False, None, True),
        ({"status": "Pending", "taskId": "a"}, False, S.FAILED, False),  # an unknown status is no success
        ({"status": "Success", "taskId": "b"}, False, None, True),  # no result for "a": sent again
    ],
)
def test_read_answer(result: dict[str, Any], maybe_applied: bool, outcome: S | None, retried: bool) -> None:
    ledger, [entry] = entries("a")
    entry.maybe_applied = maybe_applied

    retry = read_answer(ledger, [entry], answer(result), attempts=1)

    assert retry == ([entry] if retried else [])
    assert [o.status for o in ledger.take_outcomes()] == ([outcome] if outcome else [])
    assert ("a" in ledger.live) is retried
    if retried:
        assert entry.maybe_applied and entry.last_error is not None


@pytest.mark.parametrize("content", [b"not json", b"{}", b'{"value": 3}', b"[]"])
def test_an_unreadable_answer_retries_every_task_as_maybe_applied(content: bytes) -> None:
    ledger, held = entries("a", "b")

    assert read_answer(ledger, held, content, attempts=1) == held
    assert all(entry.maybe_applied for entry in held) and ledger.report.total == 0


def test_the_ledger_counts_each_task_once_whatever_ends_the_run() -> None:
    ledger, held = entries("ok", "gone", "sent", "unsent")
    read_answer(ledger, held[:2], answer({"status": "Success", "taskId": "ok"}), attempts=1)  # "gone" retried
    ledger.close(in_flight={"sent"})

    report = ledger.report
    assert (report.created, sorted(report.in_doubt), report.pending) == (1, ["gone", "sent"], ["unsent"])
    assert report.total == 4 and not ledger.live
    statuses = {outcome.task_id: outcome.status for outcome in ledger.take_outcomes()}
    assert statuses == {"ok": S.CREATED, "gone": S.IN_DOUBT, "sent": S.IN_DOUBT, "unsent": S.PENDING}


# --- tasks in, chunks out ---------------------------------------------------------------------------------


def chunker(chunk_size: int = 3, max_chunk_bytes: int = 1000) -> tuple[Ledger, Chunker]:
    ledger = Ledger(max_failures_kept=100, streaming=True)
    return ledger, Chunker(ledger, chunk_size=chunk_size, max_chunk_bytes=max_chunk_bytes)


def task(task_id: str | None, size: int = 1) -> BatchTaskCreateContent:
    return BatchTaskCreateContent(id=task_id, command_line="x" * size)


@pytest.mark.parametrize(
    ("tasks", "chunk_size", "max_bytes", "chunks", "failures"),
    [
        (["a", "b", "c", "d"], 3, 1000, [["a", "b", "c"], ["d"]], []),
        (["a", "b", "A", "c"], 3, 1000, [["a", "b", "c"]], [("A", "DuplicateTaskId")]),
        (["a", "bad id", "b"], 2, 1000, [["a", "b"]], [("bad id", "ValidationError")]),
        ([None, "a"], 3, 1000, [["a"]], [(None, "ValidationError")]),
        (["a", "big", "b"], 3, 120, [["a", "b"]], [("big", "TaskTooLarge")]),
        (["a", "b", "c"], 100, 90, [["a"], ["b"], ["c"]], []),  # two tasks of 41 bytes do not fit in 90
    ],
)  # fmt: skip
def test_chunker(
    tasks: list[str | None], chunk_size: int, max_bytes: int, chunks: list[list[str]], failures: list[Any]
) -> None:
    ledger, packer = chunker(chunk_size, max_bytes)
    source = iter([task(t, 200 if t == "big" else 20) for t in tasks])
    got: list[list[Entry]] = []
    while (full := packer.fill(source)) is not None:
        got.append(full)
    got.append(packer.take_rest())

    assert [[entry.task_id for entry in chunk] for chunk in got if chunk] == chunks
    assert [(f.task_id, f.code) for f in ledger.report.failures] == failures
    assert all(len(assemble(chunk)) <= max_bytes for chunk in got)


def test_the_chunker_hands_back_after_a_run_of_rejections() -> None:
    ledger, packer = chunker(chunk_size=2)
    source = iter([task("bad id"), task("bad id 2"), task("a")])

    assert packer.fill(source) == []  # deliver these failures before reading on
    assert ledger.report.failed == 2 and packer.rejected == 2


def test_assemble_gives_the_request_body() -> None:
    first, second = Entry(0, "a", "a", b'{"id":"a"}'), Entry(1, "b", "b", b'{"id":"b"}')
    assert orjson.loads(assemble([first, second])) == {"value": [{"id": "a"}, {"id": "b"}]}


# --- options ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": True}, "concurrency"),
        ({"concurrency": 2.0}, "concurrency"),
        ({"chunk_size": 101}, "chunk_size"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"max_chunk_bytes": 12}, "max_chunk_bytes"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_failures_kept": -1}, "max_failures_kept"),
        ({"deadline": 0}, "deadline"),
        ({"deadline": float("nan")}, "deadline"),
        ({"deadline": "60"}, "deadline"),
        ({"stop_grace": -1}, "stop_grace"),
        ({"stop_grace": float("inf")}, "stop_grace"),
        ({"stop_grace": float("nan")}, "stop_grace"),
        ({"server_timeout": 31}, "server_timeout"),
        ({"server_timeout": 0}, "server_timeout"),
        ({"retry": 3}, "retry"),
        ({"rng": 7}, "rng"),
        ({"progress": "print"}, "progress"),
    ],
)
def test_bad_options_raise_validation_error_naming_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        BulkOptions(**options)
    assert caught.value.field == field and field in str(caught.value)


@pytest.mark.parametrize(
    ("options", "policy", "attempts"),
    [
        (BulkOptions(), RetryPolicy(), C.BULK_MAX_ATTEMPTS),
        (BulkOptions(), RetryPolicy(max_attempts=25), 25),
        (BulkOptions(), RetryPolicy.no_retries(), 1),
        (BulkOptions(max_attempts=3), RetryPolicy.no_retries(), 3),
    ],
)
def test_attempts_per_task(options: BulkOptions, policy: RetryPolicy, attempts: int) -> None:
    assert options.attempts_per_task(policy) == attempts


def test_the_options_are_the_keywords_of_both_resource_methods() -> None:
    import inspect

    import attrs

    from batchaio.resources._task_extensions import TaskExtensions

    fields = {field.name: field.default for field in attrs.fields(BulkOptions)}
    for method in (TaskExtensions.add_many, TaskExtensions.iter_add):
        keywords = {
            name: parameter.default
            for name, parameter in inspect.signature(method).parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY
        }
        assert keywords == fields, method.__name__


def test_a_per_task_error_is_decoded_once_without_the_services_trailer() -> None:
    ledger, [entry] = entries("a")
    raw = {
        "code": "InvalidPropertyValue",
        "message": {
            "lang": "en-US",
            "value": "The value is invalid.\nRequestId:r-1\nTime:2024-07-01T10:15:30Z",
        },
        "values": [{"key": "PropertyValue", "value": "https://a.blob.core.windows.net/c?sig=SECRET"}],
    }

    read_answer(ledger, [entry], answer({"status": "ClientError", "taskId": "a", "error": raw}), attempts=1)

    [failure] = ledger.report.failures
    assert (failure.code, failure.message) == ("InvalidPropertyValue", "The value is invalid.")
    assert failure.error is not None and failure.error.values is not None
    assert "SECRET" not in repr(failure) and failure.error.values[0].key == "PropertyValue"

"""One line per failure, with the Batch code and the request id, and the exit code it gives."""

from __future__ import annotations

import builtins
import sys

import pytest

from batchaio import (
    BulkAddError,
    BulkAddReport,
    NotFoundError,
    RequestNotSentError,
    ServerError,
    ValidationError,
)
from batchaio.cli._errors import CliError, error_line, exit_code_for, unwrap


def _not_found() -> NotFoundError:
    return NotFoundError(
        404,
        code="JobNotFound",
        message="The specified job does not exist.\nRequestId:abc-123\nTime:2026-01-01T00:00:00.0000000Z",
        request_id="abc-123",
        client_request_id="cli-9",
    )


@pytest.mark.parametrize(
    ("exc", "line", "code"),
    [
        (_not_found(), "JobNotFound: The specified job does not exist. (HTTP 404, request id abc-123)", 1),
        (
            ServerError(503, code=None, message="", client_request_id="c-1"),
            "Error: (no message) (HTTP 503, client request id c-1)",
            1,
        ),
        (ValidationError("--id 't t' is invalid", field="--id"), "invalid input: --id 't t' is invalid", 2),
        (CliError("no endpoint: give --endpoint"), "no endpoint: give --endpoint", 2),
        (CliError("gave up", exit_code=1), "gave up", 1),
        (
            FileNotFoundError(2, "No such file or directory", "tasks.jsonl"),
            "No such file or directory: tasks.jsonl",
            1,
        ),
        (RuntimeError("odd\nthing"), "RuntimeError: odd thing", 1),
    ],
)
def test_error_lines(exc: BaseException, line: str, code: int) -> None:
    assert error_line(exc) == line
    assert exit_code_for(exc) == code
    assert "\n" not in error_line(exc)


def test_a_refused_bulk_run_shows_the_service_error_it_carries() -> None:
    try:
        try:
            raise _not_found()
        except NotFoundError as cause:
            raise BulkAddError("the service refused the run", BulkAddReport()) from cause
    except BulkAddError as exc:
        assert (
            error_line(exc) == "JobNotFound: The specified job does not exist. (HTTP 404, request id abc-123)"
        )


def test_transport_errors_keep_their_sentence() -> None:
    exc = RequestNotSentError("connection refused", method="GET", url="http://127.0.0.1:1/jobs", attempts=3)
    assert error_line(exc).startswith("RequestNotSentError: connection refused (GET http://127.0.0.1:1/jobs)")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="BaseExceptionGroup is built in from 3.11")
def test_exception_groups_of_one_are_unwrapped() -> None:
    group_class = getattr(builtins, "BaseExceptionGroup")  # noqa: B009 (a name Python 3.10 lacks)
    inner = _not_found()
    group = group_class("outer", [group_class("inner", [inner])])
    assert unwrap(group) is inner
    assert error_line(group).startswith("JobNotFound")

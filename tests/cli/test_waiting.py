"""What the waiting commands show and the exit code of a wait: pure, with tables."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from batchaio import FailureExample, FailureGroup, FailureReport
from batchaio._workflow_errors import StartTaskFailure
from batchaio.cli._waiting import (
    counts_text,
    failure_lines,
    failure_records,
    start_task_lines,
    wait_exit_code,
    watch_line,
    watch_record,
)
from batchaio.models import BatchNodeInfo, BatchTask, BatchTaskExecutionInfo, BatchTaskFailureInfo

START = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("failed", "timed_out", "code"), [(0, False, 0), (3, False, 1), (0, True, 2), (3, True, 2)]
)
def test_wait_exit_code(failed: int, timed_out: bool, code: int) -> None:
    assert wait_exit_code(failed=failed, timed_out=timed_out) == code


def test_counts_text() -> None:
    text = counts_text(active=736, running=64, completed=1200, succeeded=1190, failed=10, elapsed=65)
    assert text == "1,200/2,000 completed (1,190 succeeded, 10 failed)  running 64  active 736  0:01:05"


def _task(
    exit_code: int | None = None,
    failure: str | None = None,
    node: str | None = None,
    seconds: float | None = None,
) -> BatchTask:
    info = BatchTaskExecutionInfo(
        exit_code=exit_code,
        failure_info=BatchTaskFailureInfo(code=failure) if failure else None,
        start_time=START if seconds is not None else None,
        end_time=START + timedelta(seconds=seconds) if seconds is not None else None,
    )
    return BatchTask(id="t-7", execution_info=info, node_info=BatchNodeInfo(node_id=node) if node else None)


@pytest.mark.parametrize(
    ("task", "line", "record"),
    [
        (
            _task(0, node="tvm-1", seconds=1.25),
            "t-7  exit 0  on tvm-1  1.2 s",
            {"id": "t-7", "exitCode": 0, "failureCode": None, "nodeId": "tvm-1", "seconds": 1.25},
        ),
        (
            _task(3, failure="FailureExitCode"),
            "t-7  exit 3  failed: FailureExitCode",
            {"id": "t-7", "exitCode": 3, "failureCode": "FailureExitCode", "nodeId": None, "seconds": None},
        ),
        (
            _task(None, failure="ResourceFileDownloadFailed"),
            "t-7  no exit code  failed: ResourceFileDownloadFailed",
            {
                "id": "t-7",
                "exitCode": None,
                "failureCode": "ResourceFileDownloadFailed",
                "nodeId": None,
                "seconds": None,
            },
        ),
        (
            BatchTask(id="t-7"),
            "t-7  no exit code",
            {"id": "t-7", "exitCode": None, "failureCode": None, "nodeId": None, "seconds": None},
        ),
    ],
)
def test_watch_lines(task: BatchTask, line: str, record: dict[str, object]) -> None:
    assert watch_line(task) == line
    assert watch_record(task) == record


def test_failure_lines_and_records() -> None:
    report = FailureReport(
        failed=5,
        groups=(
            FailureGroup(
                failure_code="FailureExitCode",
                exit_code=3,
                count=4,
                message="The task exited with an exit code\nrepresenting a failure",
                examples=(
                    FailureExample(task_id="t1", node_id="tvm-1", stderr_tail="line one\nline two\n"),
                    FailureExample(task_id="t2", node_id=None, stderr_tail=None),
                ),
            ),
            FailureGroup(
                failure_code="FileUploadMiscError",
                exit_code=0,
                count=1,
                message=None,
                examples=(
                    FailureExample(
                        task_id="t3", node_id="tvm-2", stderr_tail="", log_file="fileuploaderr.txt"
                    ),
                ),
            ),
        ),
    )
    assert failure_lines(report) == [
        "5 task(s) failed, 2 kind(s) of failure:",
        "  4 x FailureExitCode, exit code 3",
        "    The task exited with an exit code representing a failure",
        "    t1 on tvm-1: stderr.txt",
        "      | line one",
        "      | line two",
        "    t2: stderr.txt",
        "      | (not readable)",
        "  1 x FileUploadMiscError, exit code 0",
        "    t3 on tvm-2: fileuploaderr.txt",
        "      | (empty)",
    ]
    assert failure_records(report)[1] == {
        "failureCode": "FileUploadMiscError",
        "exitCode": 0,
        "count": 1,
        "message": None,
        "examples": [{"taskId": "t3", "nodeId": "tvm-2", "logFile": "fileuploaderr.txt", "tail": ""}],
    }
    assert failure_lines(FailureReport(failed=0, groups=())) == ["no task failed"]


def test_start_task_lines() -> None:
    assert start_task_lines(
        [
            StartTaskFailure(node_id="n1", exit_code=1, failure_code=None, stderr_tail="no driver\n"),
            StartTaskFailure(node_id="n2", exit_code=None, failure_code="ResourceFileDownloadFailed"),
        ]
    ) == [
        "    n1: exit code 1; startup/stderr.txt:",
        "      | no driver",
        "    n2: ResourceFileDownloadFailed; startup/stderr.txt:",
        "      | (not readable)",
    ]

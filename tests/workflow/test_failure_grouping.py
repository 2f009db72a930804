"""Failure triage without I/O: what counts as a failure, how failures group, which log tells why."""

from __future__ import annotations

import pytest

from batchaio._failures import FailureGrouper, FailureKind, failure_kind, log_file_for, tail_range
from batchaio.models import (
    BatchNodeInfo,
    BatchTask,
    BatchTaskExecutionInfo,
    BatchTaskExecutionResult,
    BatchTaskFailureInfo,
    ErrorCategory,
)


def task(
    task_id: str,
    exit_code: int | None,
    code: str | None = None,
    *,
    result: str | None = None,
    node: str = "n1",
) -> BatchTask:
    failure = (
        None
        if code is None
        else BatchTaskFailureInfo(category=ErrorCategory.USER_ERROR, code=code, message=f"{code}!")
    )
    if result is None:
        result = "failure" if failure is not None or (exit_code or 0) != 0 else "success"
    return BatchTask(
        id=task_id,
        execution_info=BatchTaskExecutionInfo(
            exit_code=exit_code,
            failure_info=failure,
            result=BatchTaskExecutionResult(result),
            retry_count=0,
            requeue_count=0,
        ),
        node_info=BatchNodeInfo(node_id=node),
    )


KINDS = [
    (task("ok", 0), None),
    (task("exit", 2, "FailureExitCode"), FailureKind("FailureExitCode", 2)),
    (task("upload", 0, "FileUploadMiscError"), FailureKind("FileUploadMiscError", 0)),
    (
        task("never ran", None, "ResourceFileDownloadMiscError"),
        FailureKind("ResourceFileDownloadMiscError", None),
    ),
    (task("bare exit", 7, result="success"), FailureKind(None, 7)),  # an exit code the service did not flag
    (task("flagged", None, result="failure"), FailureKind(None, None)),
    (BatchTask(id="not run"), None),
]


@pytest.mark.parametrize(("the_task", "expected"), KINDS)
def test_failure_kind(the_task: BatchTask, expected: FailureKind | None) -> None:
    assert failure_kind(the_task) == expected


@pytest.mark.parametrize(
    ("code", "path"),
    [
        ("FileUploadMiscError", "fileuploaderr.txt"),
        ("fileuploadauthenticationerror", "fileuploaderr.txt"),
        ("FailureExitCode", "stderr.txt"),
        (None, "stderr.txt"),
    ],
)
def test_log_file_for(code: str | None, path: str) -> None:
    assert log_file_for(FailureKind(code, 1)) == path


@pytest.mark.parametrize(
    ("size", "tail", "expected"), [(0, 10, None), (5, 10, (0, 5)), (100, 10, (90, 10)), (10, 10, (0, 10))]
)
def test_tail_range(size: int, tail: int, expected: tuple[int, int] | None) -> None:
    assert tail_range(size, tail) == expected


def test_grouper_counts_every_failure_and_keeps_a_few_examples_per_kind() -> None:
    grouper = FailureGrouper(max_examples=2)
    tasks = [task(f"a{n}", 1, "FailureExitCode", node=f"n{n}") for n in range(5)]
    tasks += [task(f"b{n}", 0, "FileUploadMiscError") for n in range(3)]
    tasks += [task("c", 0), task("d", 2, "FailureExitCode")]
    added = [grouper.add(t) for t in tasks]
    assert added.count(True) == 9
    report = grouper.report({"a0": "boom\n", "b0": "upload failed"})
    assert report.failed == 9
    assert [(g.failure_code, g.exit_code, g.count) for g in report.groups] == [
        ("FailureExitCode", 1, 5),
        ("FileUploadMiscError", 0, 3),
        ("FailureExitCode", 2, 1),
    ]
    first = report.groups[0]
    assert [(e.task_id, e.node_id, e.stderr_tail) for e in first.examples] == [
        ("a0", "n0", "boom\n"),
        ("a1", "n1", None),
    ]
    assert first.message == "FailureExitCode!"
    assert report.groups[1].examples[0].log_file == "fileuploaderr.txt"
    assert "9 task(s) failed" in str(report)


def test_grouper_with_no_examples_still_counts() -> None:
    grouper = FailureGrouper(max_examples=0)
    grouper.add(task("a", 1, "FailureExitCode"))
    assert grouper.examples() == []
    assert grouper.report().groups[0].count == 1

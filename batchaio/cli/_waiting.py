"""What ``tasks watch``, ``jobs wait``, ``jobs failures`` and ``pools ensure`` show, and the exit code of a
wait: pure functions of the values the workflow layer returns."""

from __future__ import annotations

from collections.abc import Sequence

from batchaio._failures import FailureReport
from batchaio._failures import failure_kind as _failure_kind
from batchaio._workflow_errors import StartTaskFailure
from batchaio.cli._errors import EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT
from batchaio.cli._progress import format_elapsed
from batchaio.models import BatchPool, BatchTask

__all__ = [
    "counts_text",
    "failure_lines",
    "failure_records",
    "pool_line",
    "start_task_lines",
    "task_failed",
    "wait_exit_code",
    "watch_line",
    "watch_record",
]

TAIL_INDENT = "      | "


def counts_text(
    *, active: int, running: int, completed: int, succeeded: int, failed: int, elapsed: float
) -> str:
    """``1,200/2,000 completed (1,190 succeeded, 10 failed)  running 64  active 736  0:01:05``."""
    total = active + running + completed
    return (
        f"{completed:,}/{total:,} completed ({succeeded:,} succeeded, {failed:,} failed)  "
        f"running {running:,}  active {active:,}  {format_elapsed(elapsed)}"
    )


def wait_exit_code(*, failed: int, timed_out: bool) -> int:
    """``jobs wait``: 2 on timeout, 1 when any task failed, 0 when every task succeeded."""
    if timed_out:
        return EXIT_TIMEOUT
    return EXIT_FAILED if failed else EXIT_OK


def _exit_code(task: BatchTask) -> int | None:
    return task.execution_info.exit_code if task.execution_info is not None else None


def _failure_code(task: BatchTask) -> str | None:
    info = task.execution_info.failure_info if task.execution_info is not None else None
    return info.code if info is not None else None


def _seconds(task: BatchTask) -> float | None:
    info = task.execution_info
    if info is None or info.start_time is None or info.end_time is None:
        return None
    return (info.end_time - info.start_time).total_seconds()


def watch_line(task: BatchTask) -> str:
    """One completion: ``task-7  exit 0  on tvm-1  1.2 s``, with the failure code when it failed."""
    parts = [task.id or "?"]
    exit_code, failure = _exit_code(task), _failure_code(task)
    parts.append("no exit code" if exit_code is None else f"exit {exit_code}")
    if failure:
        parts.append(f"failed: {failure}")
    node = task.node_info.node_id if task.node_info is not None else None
    if node:
        parts.append(f"on {node}")
    seconds = _seconds(task)
    if seconds is not None:
        parts.append(f"{seconds:.1f} s")
    return "  ".join(parts)


def watch_record(task: BatchTask) -> dict[str, object]:
    """One completion as a JSON Lines record (``--jsonl``)."""
    return {
        "id": task.id,
        "exitCode": _exit_code(task),
        "failureCode": _failure_code(task),
        "nodeId": task.node_info.node_id if task.node_info is not None else None,
        "seconds": _seconds(task),
    }


def task_failed(task: BatchTask) -> bool:
    """A completed task failed: a failure result, a ``failureInfo`` (a failed upload after exit 0 too), or a
    non-zero exit code (the workflow layer's rule)."""
    return _failure_kind(task) is not None


def failure_lines(report: FailureReport) -> list[str]:
    """The failure report as text: one heading per kind of failure, then its examples and their stderr."""
    if not report.groups:
        return ["no task failed"]
    lines = [f"{report.failed:,} task(s) failed, {len(report.groups)} kind(s) of failure:"]
    for group in report.groups:
        exit_text = "" if group.exit_code is None else f", exit code {group.exit_code}"
        lines.append(f"  {group.count:,} x {group.failure_code or 'failed'}{exit_text}")
        if group.message:
            lines.append(f"    {' '.join(group.message.split())}")
        for example in group.examples:
            where = f" on {example.node_id}" if example.node_id else ""
            lines.append(f"    {example.task_id}{where}: {example.log_file}")
            lines += _tail(example.stderr_tail)
    return lines


def _tail(text: str | None) -> list[str]:
    if text is None:
        return [f"{TAIL_INDENT}(not readable)"]
    return [f"{TAIL_INDENT}{line}" for line in text.rstrip("\n").splitlines()] or [f"{TAIL_INDENT}(empty)"]


def start_task_lines(failures: Sequence[StartTaskFailure]) -> list[str]:
    """Under a start-task error: each node, how its start task ended, and the end of its stderr."""
    lines = []
    for failure in failures:
        how = f"exit code {failure.exit_code}" if failure.exit_code is not None else failure.failure_code
        lines.append(f"    {failure.node_id}: {how or 'failed'}; startup/stderr.txt:")
        lines += _tail(failure.stderr_tail)
    return lines


def failure_records(report: FailureReport) -> list[dict[str, object]]:
    """The failure report as JSON Lines records, one per kind of failure."""
    return [
        {
            "failureCode": group.failure_code,
            "exitCode": group.exit_code,
            "count": group.count,
            "message": group.message,
            "examples": [
                {"taskId": e.task_id, "nodeId": e.node_id, "logFile": e.log_file, "tail": e.stderr_tail}
                for e in group.examples
            ],
        }
        for group in report.groups
    ]


def pool_line(pool: BatchPool) -> str:
    """``pool-1 is ready: 2 dedicated and 0 low-priority nodes (steady)``."""
    allocation = pool.allocation_state.value if pool.allocation_state is not None else "unknown"
    return (
        f"{pool.id} is ready: {pool.current_dedicated_nodes or 0:,} dedicated and "
        f"{pool.current_low_priority_nodes or 0:,} low-priority nodes ({allocation})"
    )

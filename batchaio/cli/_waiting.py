"""What ``tasks watch``, ``jobs wait``, ``jobs failures`` and ``pools ensure`` show, and the exit code of a
wait: pure functions of the values the workflow layer returns."""

from __future__ import annotations

from batchaio.cli._errors import EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT
from batchaio.cli._progress import format_elapsed
from batchaio.models import BatchTask

__all__ = ["counts_text", "wait_exit_code", "watch_line", "watch_record"]


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

"""Why a job's tasks failed: ``client.tasks.failure_report``.

Pure part: :func:`failure_kind` says whether a task failed and how (failure code, exit code), and
:class:`FailureGrouper` counts the failed tasks by kind, keeping a few examples of each (memory follows the
number of kinds, not of tasks). :func:`tail_range` picks the bytes of a file's end. The I/O lists the failed
tasks once and reads the examples' stderr tails with ranged downloads, a bounded number at a time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

import anyio
import attrs

from batchaio import _constants as C
from batchaio import filters as f
from batchaio._files import BatchFileProperties, FileDownload
from batchaio._workflow_checks import check_count
from batchaio.errors import BatchStatusError
from batchaio.models import BatchTask, BatchTaskExecutionResult

if TYPE_CHECKING:
    from batchaio.resources import Tasks

__all__ = [
    "FailureExample",
    "FailureGroup",
    "FailureGrouper",
    "FailureKind",
    "FailureReport",
    "failure_kind",
    "failure_report",
    "log_file_for",
    "read_file_tail",
    "tail_range",
]

STDERR = "stderr.txt"
UPLOAD_ERRORS = "fileuploaderr.txt"
# What the report reads of each failed task.
FAILURE_FIELDS = ("id", "state", "executionInfo", "nodeInfo")


@attrs.frozen
class FailureKind:
    """A kind of failure: the ``failureInfo`` code (``FailureExitCode``, ``FileUploadMiscError``...) and the
    exit code (``None`` when the task did not run to an exit code)."""

    failure_code: str | None
    exit_code: int | None


@attrs.frozen
class FailureExample:
    """One failed task: its id, the node it ran on, and the end of its stderr (``log_file``) or ``None``."""

    task_id: str
    node_id: str | None
    stderr_tail: str | None = None
    log_file: str = STDERR


@attrs.frozen
class FailureGroup:
    """The failed tasks of one kind: ``count`` of them, ``message`` of the first, a few ``examples``."""

    failure_code: str | None
    exit_code: int | None
    count: int
    message: str | None
    examples: tuple[FailureExample, ...]


@attrs.frozen
class FailureReport:
    """``failed`` tasks in all, in ``groups`` by kind, the largest group first."""

    failed: int
    groups: tuple[FailureGroup, ...]

    def __str__(self) -> str:
        if not self.groups:
            return "no task failed"
        lines = [f"{self.failed} task(s) failed:"]
        for group in self.groups:
            code = group.failure_code or "failure"
            exit_text = "" if group.exit_code is None else f" (exit code {group.exit_code})"
            lines.append(f"  {group.count} x {code}{exit_text}: {group.message or ''}".rstrip(": "))
        return "\n".join(lines)


def failure_kind(task: BatchTask) -> FailureKind | None:
    """How ``task`` failed, or ``None`` if it did not (yet) fail.

    A task fails when its result is a failure, when it has a ``failureInfo`` (an exit code of 0 with a
    failed output upload is a failure), or when it exited with a non-zero code.
    """
    info = task.execution_info
    if info is None:
        return None
    failure = info.failure_info
    failed = (
        info.result == BatchTaskExecutionResult.FAILURE
        or failure is not None
        or (info.exit_code is not None and info.exit_code != 0)
    )
    if not failed:
        return None
    return FailureKind(failure.code if failure is not None else None, info.exit_code)


def log_file_for(kind: FailureKind) -> str:
    """The file that says why a task failed: ``fileuploaderr.txt`` for a failed upload, else stderr."""
    code = (kind.failure_code or "").lower()
    return UPLOAD_ERRORS if code.startswith("fileupload") else STDERR


def tail_range(size: int, tail_bytes: int) -> tuple[int, int] | None:
    """``(offset, length)`` of the last ``tail_bytes`` of a file of ``size`` bytes; ``None`` if empty."""
    if size <= 0:
        return None
    length = min(size, tail_bytes)
    return size - length, length


class FailureGrouper:
    """Counts failed tasks by :class:`FailureKind`, keeping the first ``max_examples`` of each kind."""

    def __init__(self, max_examples: int) -> None:
        self.max_examples = max_examples
        self.failed = 0
        self._counts: dict[FailureKind, int] = {}
        self._messages: dict[FailureKind, str | None] = {}
        self._examples: dict[FailureKind, list[FailureExample]] = {}

    def add(self, task: BatchTask) -> bool:
        """Count ``task`` if it failed; whether it did."""
        kind = failure_kind(task)
        if kind is None or task.id is None:
            return False
        self.failed += 1
        self._counts[kind] = self._counts.get(kind, 0) + 1
        examples = self._examples.setdefault(kind, [])
        if kind not in self._messages:
            info = task.execution_info
            failure = info.failure_info if info is not None else None
            self._messages[kind] = failure.message if failure is not None else None
        if len(examples) < self.max_examples:
            node = task.node_info.node_id if task.node_info is not None else None
            examples.append(FailureExample(task.id, node, log_file=log_file_for(kind)))
        return True

    def examples(self) -> list[FailureExample]:
        """Every example kept, in the order added."""
        return [example for examples in self._examples.values() for example in examples]

    def report(self, tails: dict[str, str | None] | None = None) -> FailureReport:
        """The report, with the stderr tails read for the examples (by task id)."""
        tails = tails or {}
        groups = [
            FailureGroup(
                failure_code=kind.failure_code,
                exit_code=kind.exit_code,
                count=count,
                message=self._messages.get(kind),
                examples=tuple(
                    attrs.evolve(example, stderr_tail=tails.get(example.task_id))
                    for example in self._examples[kind]
                ),
            )
            for kind, count in self._counts.items()
        ]
        groups.sort(
            key=lambda g: (-g.count, g.failure_code or "", -1 if g.exit_code is None else g.exit_code)
        )
        return FailureReport(failed=self.failed, groups=tuple(groups))


async def failure_report(
    tasks: Tasks, job_id: str, *, tail_bytes: int, max_examples: int, concurrency: int
) -> FailureReport:
    """List the job's failed tasks, group them and read the examples' stderr tails."""
    check_count("tail_bytes", tail_bytes, minimum=1)
    check_count("max_examples", max_examples, minimum=0)
    check_count("concurrency", concurrency, minimum=1)
    grouper = FailureGrouper(max_examples)
    pager = tasks.list(
        job_id,
        filter=f.eq("state", "completed") & f.eq("executionInfo/result", "failure"),
        select=list(FAILURE_FIELDS),
        max_results=C.WATCH_PAGE_SIZE,
    )
    async for task in pager:
        grouper.add(task)
    tails = await read_tails(tasks, job_id, grouper.examples(), tail_bytes, concurrency)
    return grouper.report(tails)


async def read_tails(
    tasks: Tasks, job_id: str, examples: Sequence[FailureExample], tail_bytes: int, concurrency: int
) -> dict[str, str | None]:
    """The last ``tail_bytes`` of each example's log file, ``concurrency`` downloads at a time."""
    tails: dict[str, str | None] = {}
    limiter = anyio.CapacityLimiter(concurrency)

    async def read_one(example: FailureExample) -> None:
        async with limiter:
            tails[example.task_id] = await read_tail(
                tasks, job_id, example.task_id, example.log_file, tail_bytes
            )

    async with anyio.create_task_group() as group:
        for example in examples:
            group.start_soon(read_one, example)
    return tails


async def read_tail(tasks: Tasks, job_id: str, task_id: str, path: str, tail_bytes: int) -> str | None:
    """The end of one task file as text, or ``None`` when it cannot be read (missing, node gone)."""
    return await read_file_tail(
        partial(tasks.get_file_properties, job_id, task_id, path),
        partial(tasks.download_file, job_id, task_id, path),
        tail_bytes,
    )


async def read_file_tail(
    properties: Callable[[], Awaitable[BatchFileProperties]],
    download: Callable[..., FileDownload],
    tail_bytes: int,
) -> str | None:
    """The last ``tail_bytes`` of a task or node file as text (``None`` when it cannot be read): its size
    from ``properties()``, then one ranged ``download(offset=..., length=...)``."""
    try:
        span = tail_range((await properties()).content_length or 0, tail_bytes)
        if span is None:
            return ""
        offset, length = span
        chunks = []
        async with download(offset=offset, length=length) as stream:
            async for chunk in stream:
                chunks.append(chunk)
    except BatchStatusError:
        return None
    return b"".join(chunks).decode("utf-8", errors="replace")

"""Submitting tasks from the command line: the library's streaming bulk engine (``client.tasks.iter_add``),
a progress display, a failures file, and a gentle Ctrl-C.

The first Ctrl-C stops reading the input; the requests in flight get a grace period to finish (so fewer tasks
are left in doubt), then the run is cancelled. A second Ctrl-C cancels at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

import anyio
import orjson

from batchaio import _constants as C
from batchaio._bulk_report import TaskOutcome, TaskOutcomeStatus
from batchaio._client import BatchClient
from batchaio.cli._errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from batchaio.cli._jsonl import LineFailure, TaskFile
from batchaio.cli._progress import Display, Tally, estimate_total, progress_text, summary_lines
from batchaio.cli._running import Interrupts
from batchaio.models import BatchTaskCreateContent

__all__ = ["FailureLog", "SubmitResult", "add_exit_code", "submit"]


def add_exit_code(tally: Tally, *, interrupted: bool) -> int:
    """130 when interrupted; 0 when every task was created or already existed; 1 otherwise."""
    if interrupted:
        return EXIT_INTERRUPTED
    if tally.failed or tally.in_doubt or tally.pending:
        return EXIT_FAILED
    return EXIT_OK


@dataclass
class SubmitResult:
    """How a submission ended."""

    tally: Tally
    elapsed: float
    interrupted: bool

    @property
    def exit_code(self) -> int:
        return add_exit_code(self.tally, interrupted=self.interrupted)


@dataclass
class FailureLog:
    """Failures as JSON lines (``--failures PATH``): ``taskId``, ``line`` or ``index``, ``status``
    (``failed``, ``in_doubt``), ``code``, ``message``. Without a file it only counts the unreadable lines."""

    out: TextIO | None = None
    unreadable: int = 0
    written: int = field(default=0)

    def bad_line(self, failure: LineFailure) -> None:
        self.unreadable += 1
        self._write(
            {
                "taskId": failure.task_id,
                "line": failure.line,
                "status": "failed",
                "code": failure.code,
                "message": failure.message,
            }
        )

    def outcome(self, outcome: TaskOutcome, line: int | None) -> None:
        if outcome.failure is None or outcome.status not in (
            TaskOutcomeStatus.FAILED,
            TaskOutcomeStatus.IN_DOUBT,
        ):
            return
        where = {"line": line} if line is not None else {"index": outcome.index}
        self._write(
            {
                "taskId": outcome.task_id,
                **where,
                "status": outcome.status.value,
                "code": outcome.failure.code,
                "message": outcome.failure.message,
            }
        )

    def _write(self, record: dict[str, object]) -> None:
        if self.out is not None:
            self.out.write(orjson.dumps(record).decode() + "\n")
            self.written += 1


async def submit(
    client: BatchClient,
    job_id: str,
    tasks: Iterable[BatchTaskCreateContent] | AsyncIterable[BatchTaskCreateContent],
    *,
    interrupts: Interrupts,
    display: Display,
    failures: FailureLog,
    source: TaskFile | None = None,
    expected: int | None = None,
    concurrency: int = C.BULK_DEFAULT_CONCURRENCY,
    out: TextIO,
) -> SubmitResult:
    """Add ``tasks`` to ``job_id``, showing progress; print the summary to ``out``.

    Errors that stop the whole run (the job is missing, the credential is refused) are raised after the
    display is closed; the run's counts so far are printed first.
    """
    started = anyio.current_time()
    run_scope = anyio.CancelScope()
    stop: Callable[[], None] | None = None
    if source is not None:
        stop = source.stop
    elif isinstance(tasks, Iterable):
        tasks = stoppable = _Stoppable(tasks)
        stop = stoppable.stop
    stream = client.tasks.iter_add(job_id, tasks, concurrency=concurrency)

    def show() -> None:
        tally = Tally.of(stream.report, failures.unreadable)
        total, exact = expected, True
        if total is None and source is not None:
            lines = source.tasks_read + failures.unreadable
            total = estimate_total(lines, source.bytes_read, source.size, done=source.done)
            exact = source.done
        display.update(
            progress_text(tally, anyio.current_time() - started, total, exact=exact),
            tally.total - tally.in_doubt - tally.pending,
            total,
        )

    async def tick() -> None:
        while True:
            await anyio.sleep(display.refresh_seconds)
            show()

    async def cancel_after_grace() -> None:
        await anyio.sleep(C.CLI_STOP_GRACE_SECONDS)
        run_scope.cancel()

    def on_interrupt(count: int) -> None:
        if count == 1 and stop is not None:
            stop()
            task_group.start_soon(cancel_after_grace)
        else:
            run_scope.cancel()

    display.start()
    failed = True
    try:
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(tick)
            with interrupts.handled_by(on_interrupt), run_scope:
                try:
                    async with stream:
                        async for outcome in stream:
                            failures.outcome(outcome, source.line_of(outcome.index) if source else None)
                            if source is not None:
                                source.settle(outcome.index)
                finally:
                    task_group.cancel_scope.cancel()
        failed = False
    finally:
        show()
        display.stop()
        tally = Tally.of(stream.report, failures.unreadable)
        elapsed = anyio.current_time() - started
        if not failed or tally.created or tally.existing:
            for line in summary_lines(tally, elapsed, interrupted=interrupts.interrupted):
                print(line, file=out, flush=True)
    return SubmitResult(tally, elapsed, interrupts.interrupted)


class _Stoppable:
    """A task iterable that ends early once :meth:`stop` is called (the first Ctrl-C of a factory run)."""

    def __init__(self, tasks: Iterable[BatchTaskCreateContent]) -> None:
        self._tasks = tasks
        self._stopped = False

    def __iter__(self) -> Iterator[BatchTaskCreateContent]:
        for task in self._tasks:
            if self._stopped:
                return
            yield task

    def stop(self) -> None:
        self._stopped = True

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
from anyio.abc import TaskGroup

from batchaio import _constants as C
from batchaio._bulk import BulkAddStream
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

    ``source`` (a JSON Lines input) gives line numbers and an estimate of the total; ``expected`` is the
    exact total when it is known (a factory). Errors that stop the whole run (the job is missing, the
    credential is refused) are raised after the display is closed, with the summary printed first if any task
    got in.
    """
    stop: Callable[[], None] | None = None
    if source is not None:
        stop = source.stop
    elif isinstance(tasks, Iterable):
        tasks = stoppable = _Stoppable(tasks)
        stop = stoppable.stop
    submission = _Submission(
        client.tasks.iter_add(job_id, tasks, concurrency=concurrency),
        display,
        failures,
        source,
        expected,
        stop,
    )
    display.start()
    finished = False
    try:
        with interrupts.handled_by(submission.on_interrupt):
            await submission.run()
        finished = True
    finally:
        submission.show()
        display.stop()
        tally = Tally.of(submission.stream.report, failures.unreadable)
        elapsed = anyio.current_time() - submission.started
        if finished or tally.created or tally.existing:
            for line in summary_lines(tally, elapsed, interrupted=interrupts.interrupted):
                print(line, file=out, flush=True)
    return SubmitResult(tally, elapsed, interrupts.interrupted)


class _Submission:
    """One run of the bulk stream, with its display ticking beside it and a gentle Ctrl-C."""

    def __init__(
        self,
        stream: BulkAddStream,
        display: Display,
        failures: FailureLog,
        source: TaskFile | None,
        expected: int | None,
        stop: Callable[[], None] | None,
    ) -> None:
        self.stream = stream
        self.display = display
        self.failures = failures
        self.source = source
        self.expected = expected
        self.stop = stop
        self.started = anyio.current_time()
        self.scope = anyio.CancelScope()
        self._task_group: TaskGroup | None = None

    async def run(self) -> None:
        async with anyio.create_task_group() as self._task_group:
            self._task_group.start_soon(self._tick)
            with self.scope:
                try:
                    await self._consume()
                finally:
                    self._task_group.cancel_scope.cancel()

    async def _consume(self) -> None:
        source = self.source
        async with self.stream as outcomes:
            async for outcome in outcomes:
                if outcome.failure is not None:
                    self.failures.outcome(outcome, source.line_of(outcome.index) if source else None)

    def show(self) -> None:
        tally = Tally.of(self.stream.report, self.failures.unreadable)
        total, exact, source = self.expected, True, self.source
        if total is None and source is not None:
            lines = source.tasks_read + self.failures.unreadable
            total = estimate_total(lines, source.bytes_read, source.size, done=source.done)
            exact = source.done
        elapsed = anyio.current_time() - self.started
        settled = tally.total - tally.in_doubt - tally.pending
        self.display.update(progress_text(tally, elapsed, total, exact=exact), settled, total)

    async def _tick(self) -> None:
        while True:
            await anyio.sleep(self.display.refresh_seconds)
            self.show()

    async def _cancel_after_grace(self) -> None:
        await anyio.sleep(C.CLI_STOP_GRACE_SECONDS)
        self.scope.cancel()

    def on_interrupt(self, count: int) -> None:
        """First Ctrl-C: read no more, give the requests in flight a grace period. Second: cancel."""
        if count == 1 and self.stop is not None and self._task_group is not None:
            self.stop()
            self._task_group.start_soon(self._cancel_after_grace)
        else:
            self.scope.cancel()


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

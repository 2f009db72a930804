"""The stream side of a bulk submission: outcomes handed from the run to the consumer of ``iter_add``."""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable
from types import TracebackType
from typing import Protocol

import anyio
from anyio.abc import TaskGroup

from batchaio._bulk_report import BulkAddError, BulkAddReport, TaskOutcome

__all__ = ["BulkAddStream", "Outbox"]


class _Run(Protocol):
    """What the stream drives: the run, and its live report."""

    @property
    def report(self) -> BulkAddReport: ...

    def run(self) -> Awaitable[BulkAddReport]: ...


class Outbox:
    """Outcomes on their way from the engine to the consumer of a :class:`BulkAddStream`.

    Batches are added at once (:meth:`put`), so none is ever lost to a cancelled wait; the adder then waits
    (:meth:`wait_for_room`) while more than ``limit`` outcomes are held, which bounds memory when the consumer
    is slower than the service.
    """

    def __init__(self, limit: int) -> None:
        self._batches: deque[list[TaskOutcome]] = deque()
        self._held = 0
        self._limit = limit
        self._closed = False
        self._added = anyio.Event()
        self._taken = anyio.Event()

    def put(self, batch: list[TaskOutcome]) -> None:
        self._batches.append(batch)
        self._held += len(batch)
        self._added.set()

    async def wait_for_room(self) -> None:
        while self._held > self._limit and not self._closed:
            if self._taken.is_set():
                self._taken = anyio.Event()
            await self._taken.wait()

    def close(self) -> None:
        """No more batches will come; waiting adders are released."""
        self._closed = True
        self._added.set()
        self._taken.set()

    async def get(self) -> list[TaskOutcome] | None:
        """The oldest batch, waiting for one if needed; ``None`` once closed and drained."""
        while not self._batches:
            if self._closed:
                return None
            if self._added.is_set():
                self._added = anyio.Event()
            await self._added.wait()
        batch = self._batches.popleft()
        self._held -= len(batch)
        self._taken.set()
        return batch


class BulkAddStream:
    """The outcomes of a bulk submission, one :class:`TaskOutcome` per task read, as soon as each is known.

    Iterate it inside ``async with``, which runs the submission and winds it down when the block ends::

        async with client.tasks.iter_add("job-1", tasks) as stream:
            async for outcome in stream:
                ...

    Iterating without ``async with`` raises :class:`RuntimeError`: the submission's tasks need a scope that
    outlives each step of the loop, so that breaking out of it can stop them cleanly (under asyncio and trio).
    Leaving the block before the end (``break``, an exception) stops the submission: requests in flight are
    abandoned and their tasks reported in doubt. ``report`` is the run's :class:`BulkAddReport`, final once
    the iteration ends. If the run stops early (the deadline, the service refusing the job, the input
    raising) the iteration first yields an outcome for every task read, those unsettled with status
    :attr:`TaskOutcomeStatus.IN_DOUBT` or :attr:`TaskOutcomeStatus.PENDING`, then raises
    :class:`BulkAddError` (or :class:`BulkAddDeadlineExceeded`).
    """

    def __init__(self, submission: _Run, outbox: Outbox) -> None:
        self._submission = submission
        self._outbox = outbox
        self._task_group: TaskGroup | None = None
        self._entered = False
        self._error: BulkAddError | None = None
        self._buffer: list[TaskOutcome] = []
        self._position = 0

    @property
    def report(self) -> BulkAddReport:
        """The run's report: live during the run, final after it."""
        return self._submission.report

    async def __aenter__(self) -> BulkAddStream:
        if self._entered:
            raise RuntimeError("a BulkAddStream can be entered only once")
        self._entered = True
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        task_group.start_soon(self._drive)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        task_group, self._task_group = self._task_group, None
        if task_group is None:
            return None
        task_group.cancel_scope.cancel()
        # The body's own exception is left to propagate as it is, not wrapped in an exception group.
        await task_group.__aexit__(None, None, None)
        return None

    async def aclose(self) -> None:
        """Stop the submission (requests in flight are abandoned and reported in doubt)."""
        await self.__aexit__(None, None, None)

    async def _drive(self) -> None:
        try:
            await self._submission.run()
        except BulkAddError as exc:
            self._error = exc
        finally:
            self._outbox.close()

    def __aiter__(self) -> BulkAddStream:
        if not self._entered:
            raise RuntimeError(
                "iterate a BulkAddStream inside 'async with': 'async with client.tasks.iter_add(job_id, "
                "tasks) as stream: async for outcome in stream: ...'"
            )
        return self

    async def __anext__(self) -> TaskOutcome:
        if self._position < len(self._buffer):
            outcome = self._buffer[self._position]
            self._position += 1
            return outcome
        batch = await self._outbox.get()
        if batch is not None:
            self._buffer = batch
            self._position = 1
            return batch[0]
        error, self._error = self._error, None
        if error is not None:
            raise error
        raise StopAsyncIteration

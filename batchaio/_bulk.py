"""Streaming bulk task submission through ``addtaskcollection``: the I/O driver.

Every decision (how tasks are chunked, what an answer or a failure means, how long to wait) is made by the
pure functions of :mod:`batchaio._bulk_core`; this module reads the input, sends, waits and stops.
``concurrency`` workers each read the next chunk from the input themselves (one at a time), so no more
than about ``(concurrency + 1) * chunk_size`` tasks are held at once whatever the length of the input, and
each owns its chunk until every task in it has an outcome.

A run stops early when the service refuses the job itself, when no request can reach the service, when the
input or the progress callback raises: it sends nothing more, and requests already in flight get
``stop_grace`` seconds to finish so that their tasks get a definite outcome. The run's ``deadline`` and a
cancellation stop it at once: requests in flight are abandoned and their tasks reported in doubt.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator

import anyio
import anyio.lowlevel
import attrs
from anyio.abc import TaskGroup

from batchaio import _constants as C
from batchaio._bulk_core import (
    Action,
    Chunker,
    Decision,
    Entry,
    Ledger,
    assemble,
    decide,
    exception_error,
    mark_landed,
    reached_service,
    read_answer,
)
from batchaio._bulk_options import BulkOptions
from batchaio._bulk_report import (
    BulkAddDeadlineExceeded,
    BulkAddError,
    BulkAddRefusedError,
    BulkAddReport,
    BulkAddUnreachableError,
)
from batchaio._bulk_stream import BulkAddStream, Outbox
from batchaio._config import NOT_GIVEN, NotGiven, TimeoutLike
from batchaio._ids import path_id
from batchaio._options import DefaultOptions
from batchaio._redact import redact_text
from batchaio._retry import RetryPolicy, retry_delay
from batchaio._transport import BatchRequest, Pipeline
from batchaio.errors import BatchStatusError, TransportError
from batchaio.models import BatchTaskCreateContent

__all__ = [
    "BulkAddStream",
    "SendChunk",
    "TaskSource",
    "add_many",
    "iter_add",
    "pipeline_sender",
    "stream_to_job",
    "submit_to_job",
]

SendChunk = Callable[[bytes], Awaitable[bytes]]
"""Posts one ``{"value": [...]}`` body to ``addtaskcollection`` and returns the 200 response's content.

Error statuses and transport failures are raised as :mod:`batchaio.errors` exceptions, never retried."""

TaskSource = Iterable[BatchTaskCreateContent] | AsyncIterable[BatchTaskCreateContent]

logger = logging.getLogger(C.LOGGER_NAME)
_sleep = anyio.sleep
_OPERATION = "Tasks_CreateTaskCollection"


class _Stop(Exception):
    """A worker's way out once it has stopped the run (the error is kept in ``_Submission._error``)."""


class _Submission:
    """One run: ``concurrency`` workers reading, sending and waiting; the ledger keeps the account."""

    def __init__(
        self,
        send: SendChunk,
        tasks: TaskSource,
        options: BulkOptions,
        *,
        policy: RetryPolicy,
        outbox: Outbox | None,
        target: str,
    ) -> None:
        self._send = send
        self._tasks = tasks
        self._options = options
        self._policy = policy if options.rng is None else attrs.evolve(policy, rng=options.rng)
        self._max_attempts = options.attempts_per_task(policy)
        self._ledger = Ledger(max_failures_kept=options.max_failures_kept, streaming=outbox is not None)
        self._chunker = Chunker(
            self._ledger, chunk_size=options.chunk_size, max_chunk_bytes=options.max_chunk_bytes
        )
        self._outbox = outbox
        self._target = target
        self._sending: dict[int, list[Entry]] = {}  # the tasks of each request in flight
        self._idle: set[anyio.CancelScope] = set()  # waits and reads a stop interrupts
        self._reached = False  # some request of the run reached the service
        self._stopping = False
        self._error: BulkAddError | None = None
        self._cause: BaseException | None = None
        self._task_group: TaskGroup | None = None
        self._started = 0.0
        self._reader: Iterator[object] | AsyncIterator[object] | None = None
        self._reading = anyio.Lock()
        self._input_done = False

    @property
    def report(self) -> BulkAddReport:
        return self._ledger.report

    # --- the run ------------------------------------------------------------------------------------------

    async def run(self) -> BulkAddReport:
        """Submit every task; return the report or raise :class:`BulkAddError` (or a subclass) with it."""
        self._started = anyio.current_time()
        deadline = self._options.deadline
        deadline_at = self._started + deadline if deadline is not None else float("inf")
        try:
            with anyio.CancelScope(deadline=deadline_at) as deadline_scope:
                async with anyio.create_task_group() as task_group:
                    self._task_group = task_group
                    for _ in range(self._options.concurrency):
                        task_group.start_soon(self._work)
        except anyio.get_cancelled_exc_class():
            await self._finish(cancelled=True)
            raise
        await self._finish(deadline_exceeded=deadline_scope.cancelled_caught)
        if self._error is not None:
            raise self._error from self._cause
        if deadline_scope.cancelled_caught:
            report = self.report
            raise BulkAddDeadlineExceeded(
                f"the bulk submission's deadline of {deadline} s passed: {len(report.in_doubt)} task(s) in "
                f"doubt, {len(report.pending)} pending",
                report,
            )
        return self.report

    def _stop(self, error: BulkAddError, cause: BaseException) -> None:
        """Stop the run: nothing more is read or sent, waits end now, requests in flight get the grace."""
        if self._error is None:
            self._error, self._cause = error, cause
        self._stopping = True
        for idle in list(self._idle):
            idle.cancel()
        assert self._task_group is not None
        scope = self._task_group.cancel_scope
        scope.deadline = min(scope.deadline, anyio.current_time() + self._options.stop_grace)

    def _stopped(self) -> bool:
        """Has the run been stopped (by another worker, while this one was waiting)?"""
        return self._stopping

    def _failed(self, message: str) -> BulkAddError:
        return BulkAddError(redact_text(message), self.report)

    async def _finish(self, *, cancelled: bool = False, deadline_exceeded: bool = False) -> None:
        report = self.report
        self._ledger.close({entry.key for entries in self._sending.values() for entry in entries})
        if self._outbox is not None:
            outcomes = self._ledger.take_outcomes()
            if outcomes:
                self._outbox.put(outcomes)
        report.cancelled = cancelled
        report.deadline_exceeded = deadline_exceeded
        report.elapsed = anyio.current_time() - self._started
        progress = self._options.progress
        if progress is None:
            return
        try:
            result = progress(report)
            if inspect.isawaitable(result):
                # A cancelled run still reports, within the grace.
                with anyio.move_on_after(self._options.stop_grace if cancelled else None, shield=cancelled):
                    await result
        except Exception as exc:
            # The run is over: nothing to stop, but the caller hears of it (unless it was cancelled).
            if self._error is None:
                self._error, self._cause = self._failed(_progress_failed(exc)), exc

    async def _notify(self) -> None:
        """Call the progress callback (awaited if ``async``); one that raises stops the run."""
        assert self._options.progress is not None
        try:
            result = self._options.progress(self.report)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            self._stop(self._failed(_progress_failed(exc)), exc)
            raise _Stop from exc

    async def _flush(self) -> None:
        """Hand the outcomes found so far to the stream, then wait while its consumer is behind. The hand-over
        is immediate, so a wait cut short by the deadline or a cancellation loses nothing."""
        outbox = self._outbox
        if outbox is not None:
            outcomes = self._ledger.take_outcomes()
            if outcomes:
                outbox.put(outcomes)
                await outbox.wait_for_room()

    # --- reading the input --------------------------------------------------------------------------------

    async def _next_chunk(self) -> list[Entry] | None:
        """The next chunk to send, read from the input by the worker asking; ``None`` once the input is done
        or the run stops.

        Workers read for themselves rather than through a producer task: handing each chunk over a stream
        cost extra task switches per request, a large part of the run's CPU time. One worker reads at a
        time (an async iterator cannot be advanced by two tasks at once, and a worker pausing in a long
        stretch of invalid input must let the consumer run, not the next worker read on).
        """
        if self._input_done or self._stopping:
            return None
        try:
            await self._start_reading()
            try:
                full = await self._read()
            finally:
                self._reading.release()
        except Exception as exc:
            # Nothing more is sent: the partial chunk's tasks stay unsent and are reported pending.
            self._input_done = True
            self._chunker.take_rest()
            self._stop(self._failed(f"reading the tasks raised {type(exc).__name__}: {exc}"), exc)
            return None
        if full is None:
            if self._stopped():
                return None
            # The input is exhausted: the first worker to see it takes the last, partial chunk.
            self._input_done = True
            full = self._chunker.take_rest()
            if not full:
                await self._flush()
                return None
        self._chunker.rejected = 0
        await self._flush()
        return full

    async def _start_reading(self) -> None:
        """Take the reading lock, without the checkpoint ``Lock.acquire`` makes when nobody holds it: a
        yield to the event loop per chunk measurably adds to the CPU time of a bulk run."""
        try:
            self._reading.acquire_nowait()
        except anyio.WouldBlock:
            await self._reading.acquire()

    async def _read(self) -> list[Entry] | None:
        if self._reader is None:
            tasks = self._tasks
            self._reader = aiter(tasks) if isinstance(tasks, AsyncIterable) else iter(tasks)
        if isinstance(self._reader, AsyncIterator):
            return await self._fill_from_async(self._reader)
        return await self._fill_from(self._reader)

    async def _fill_from(self, tasks: Iterator[object]) -> list[Entry] | None:
        while not self._input_done and not self._stopping:
            full = self._chunker.fill(tasks)
            if full is None:
                return None
            if full:
                return full
            await self._pause()
        return None

    async def _fill_from_async(self, tasks: AsyncIterator[object]) -> list[Entry] | None:
        chunker = self._chunker
        while not self._input_done and not self._stopping:
            with anyio.CancelScope() as scope:
                self._idle.add(scope)
                try:
                    task = await anext(tasks)
                except StopAsyncIteration:
                    return None
                finally:
                    self._idle.discard(scope)
            if scope.cancelled_caught:
                return None
            full = chunker.fill(iter((task,)))
            if full:
                return full
            if chunker.rejected >= self._options.chunk_size:
                await self._pause()
        return None

    async def _pause(self) -> None:
        """Deliver the failures found so far and let other tasks run: a long stretch of invalid input must not
        hold the event loop."""
        self._chunker.rejected = 0
        await self._flush()
        await anyio.lowlevel.checkpoint()

    # --- sending ------------------------------------------------------------------------------------------

    async def _work(self) -> None:
        while (chunk := await self._next_chunk()) is not None:
            try:
                await self._submit(chunk, 0)
            except _Stop:
                return
            except Exception as exc:
                self._stop(self._failed(f"bulk submission failed: {type(exc).__name__}: {exc}"), exc)
                return

    async def _submit(self, pending: list[Entry], attempts: int) -> None:
        """Send ``pending`` until every task in it has an outcome (``attempts`` already made for them) or the
        run stops."""
        while pending and not self._stopping:
            if attempts >= self._max_attempts:
                self._ledger.give_up(pending, attempts)
                break
            # Reading the input makes no checkpoint, and a sender may make none before its bytes leave: a run
            # cancelled sends nothing more.
            await anyio.lowlevel.checkpoint_if_cancelled()
            attempts += 1
            try:
                content = await self._send_once(pending, attempts)
            except Exception as failure:
                pending = await self._after_failure(pending, attempts, failure)
                continue
            self._reached = True
            pending = read_answer(self._ledger, pending, content, attempts)
            await self._flush()
            if self._options.progress is not None:
                await self._notify()
            if pending:
                await self._wait(pending, attempts, None)
        await self._flush()

    async def _send_once(self, pending: list[Entry], attempts: int) -> bytes:
        report = self.report
        if attempts > 1:
            report.retries += 1
        report.requests += 1
        if self._ledger.streaming:
            for entry in pending:
                entry.attempts = attempts
        # Registered while the request is out: if the run is cancelled now, these tasks are in doubt.
        self._sending[id(pending)] = pending
        try:
            content = await self._send(assemble(pending))
        except Exception:
            del self._sending[id(pending)]
            raise
        del self._sending[id(pending)]
        return content

    async def _after_failure(self, pending: list[Entry], attempts: int, failure: Exception) -> list[Entry]:
        """Act on a failed request; return the tasks to send again (after the wait, made here)."""
        self._reached = self._reached or reached_service(failure)
        decision = decide(
            failure,
            len(pending),
            attempts=attempts,
            reached=self._reached,
            call_attempts=self._policy.max_attempts,
        )
        if decision.action is Action.RETRY:
            mark_landed(pending, decision.maybe_applied, exception_error(failure))
            await self._wait(pending, attempts, decision)
            return pending
        if decision.action is Action.SPLIT:
            half = len(pending) // 2
            await self._submit(pending[:half], attempts - 1)
            await self._submit(pending[half:], attempts - 1)
            return []
        if decision.action is Action.FAIL_CHUNK:
            assert isinstance(failure, BatchStatusError)
            self._ledger.refuse(pending, attempts, failure)
            return []
        self._stop(self._stop_error(decision, pending, attempts, failure), failure)
        raise _Stop from failure

    def _stop_error(
        self, decision: Decision, pending: list[Entry], attempts: int, failure: Exception
    ) -> BulkAddError:
        """Settle what the stopping request says about its tasks; the error the run will raise."""
        report = self.report
        if decision.action is Action.STOP_REFUSED:
            assert isinstance(failure, BatchStatusError)
            self._ledger.refuse(pending, attempts, failure)
            message = redact_text(f"the service refused the bulk submission: {failure}")
            return BulkAddRefusedError.for_refusal(message, report, failure)
        mark_landed(pending, decision.maybe_applied, exception_error(failure))
        if decision.action is Action.STOP_UNREACHABLE:
            assert isinstance(failure, TransportError)
            message = redact_text(
                f"no request reached the service: a chunk failed unsent {attempts} time(s) and the run "
                f"stopped with every task read pending ({failure})"
            )
            return BulkAddUnreachableError(message, report, failure)
        return self._failed(f"bulk submission failed: {type(failure).__name__}: {failure}")

    async def _wait(self, pending: list[Entry], attempts: int, decision: Decision | None) -> None:
        """Wait before sending ``pending`` again (if they have attempts left; ``decision`` is ``None`` after a
        200 answer with tasks to retry); a stop ends the wait."""
        if attempts >= self._max_attempts or self._stopping:
            return
        delay = retry_delay(
            self._policy,
            attempts,
            retry_after=decision.retry_after if decision is not None else None,
            operation_id=_OPERATION,
            status_code=decision.status_code if decision is not None else None,
            minimum=C.BULK_MIN_RETRY_DELAY,
        )
        reason = decision.reason if decision is not None else "servererror or no result"
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "%s: %d task(s), attempt %d failed (%s); retrying in %.3f s",
                self._target, len(pending), attempts, redact_text(reason), delay,
            )  # fmt: skip
        with anyio.CancelScope() as scope:
            self._idle.add(scope)
            try:
                await _sleep(delay)
            finally:
                self._idle.discard(scope)


def _progress_failed(exc: Exception) -> str:
    return f"the progress callback raised {type(exc).__name__}: {exc}"


# --- entry points (the tasks resource delegates here) -------------------------------------------------------


def pipeline_sender(
    pipeline: Pipeline,
    job_id: str,
    *,
    server_timeout: int | None = None,
    deadline: float | None = None,
    timeout: TimeoutLike | NotGiven = NOT_GIVEN,
) -> SendChunk:
    """A :data:`SendChunk` posting to ``/jobs/{job_id}/addtaskcollection`` through ``pipeline``, once each.

    The job ID is checked here, before anything is sent. Retries are the run's, so the pipeline makes one
    attempt, bounded like any other call by ``deadline`` (seconds; the retry policy's per-call deadline).
    """
    path = f"/jobs/{path_id(job_id, 'job_id')}/addtaskcollection"
    policy = RetryPolicy.no_retries(deadline=deadline)

    async def send(body: bytes) -> bytes:
        request = BatchRequest(
            operation_id=_OPERATION,
            method="POST",
            path=path,
            content=body,
            server_timeout=server_timeout,
            retry=policy,
            timeout=timeout,
        )
        response = await pipeline.send(request)
        return response.content

    return send


def _submission(
    pipeline: Pipeline,
    job_id: str,
    tasks: TaskSource,
    options: BulkOptions,
    outbox: Outbox | None,
    defaults: DefaultOptions,
) -> _Submission:
    """The run, on the terms of ``options`` over the defaults of the client (or of its ``with_options`` view):
    the view's ``retry`` is the run's policy unless ``retry=`` is given; its ``deadline``, ``timeout`` and
    ``server_timeout`` bound each chunk request."""
    policy = options.policy(defaults.get("retry", pipeline.retry))
    server_timeout = options.server_timeout
    if server_timeout is None:
        server_timeout = defaults.get("server_timeout")
    send = pipeline_sender(
        pipeline,
        job_id,
        server_timeout=server_timeout,
        deadline=defaults.get("deadline", policy.deadline),
        timeout=defaults.get("timeout", NOT_GIVEN),
    )
    target = f"bulk add to job {job_id!r}"
    return _Submission(send, tasks, options, policy=policy, outbox=outbox, target=target)


def submit_to_job(
    pipeline: Pipeline, job_id: str, tasks: TaskSource, options: BulkOptions, defaults: DefaultOptions
) -> Awaitable[BulkAddReport]:
    """:meth:`~batchaio.resources.tasks.Tasks.add_many` through ``pipeline``."""
    return _submission(pipeline, job_id, tasks, options, None, defaults).run()


def stream_to_job(
    pipeline: Pipeline, job_id: str, tasks: TaskSource, options: BulkOptions, defaults: DefaultOptions
) -> BulkAddStream:
    """:meth:`~batchaio.resources.tasks.Tasks.iter_add` through ``pipeline``."""
    outbox = Outbox(options.concurrency * options.chunk_size)
    return BulkAddStream(_submission(pipeline, job_id, tasks, options, outbox, defaults), outbox)


async def add_many(send: SendChunk, tasks: TaskSource, options: BulkOptions | None = None) -> BulkAddReport:
    """Submit ``tasks`` through ``send`` and return the report (see :meth:`Tasks.add_many`)."""
    options = options if options is not None else BulkOptions()
    policy = options.policy(RetryPolicy())
    return await _Submission(send, tasks, options, policy=policy, outbox=None, target="bulk add").run()


def iter_add(send: SendChunk, tasks: TaskSource, options: BulkOptions | None = None) -> BulkAddStream:
    """Submit ``tasks`` through ``send``, yielding outcomes (see :meth:`Tasks.iter_add`)."""
    options = options if options is not None else BulkOptions()
    outbox = Outbox(options.concurrency * options.chunk_size)
    policy = options.policy(RetryPolicy())
    return BulkAddStream(
        _Submission(send, tasks, options, policy=policy, outbox=outbox, target="bulk add"), outbox
    )

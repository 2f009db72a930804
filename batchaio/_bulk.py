"""Streaming bulk task submission through ``addtaskcollection``.

The engine reads the caller's tasks lazily, encodes each once, packs them into chunks of at most
``chunk_size`` tasks and :data:`~batchaio._constants.BULK_MAX_CHUNK_BYTES` bytes, and lets ``concurrency``
workers send them. A worker that is free reads the next chunk from the input itself, so no more than about
``(concurrency + 1) * chunk_size`` tasks are held at once whatever the length of the input.

Each worker owns its chunk until every task in it has an outcome:

- a whole-request failure (429, 5xx, reset, timeout) re-sends the chunk after a jittered backoff (Retry-After
  honoured); a 413 halves the chunk; a 400 fails its tasks; any other error status (``JobNotFound``,
  authentication) stops the run;
- per task, ``success`` is created, ``servererror`` and a missing result are re-sent (bounded, with backoff),
  ``clienterror`` fails the task except ``TaskExists``: created by us when an earlier attempt carrying the
  task had an unknown outcome, otherwise already existing; any other status fails the task.

A task is "maybe applied" once a request carrying it ended without a definite answer for it (a reset or
timeout after sending, a 500/502/504, a per-task ``servererror``, a missing result). When retries run out for
such a task, or the run stops while it is in flight, it is reported in doubt rather than failed.

Duplicate IDs are caught among the tasks held at once (the chunk being filled and the chunks in flight),
compared without case: the later one fails with ``DuplicateTaskId``. A duplicate of a task finished earlier in
the run reaches the service, which answers ``TaskExists``.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

import anyio
import anyio.lowlevel
import orjson
from anyio.abc import TaskGroup

from batchaio import _constants as C
from batchaio._bulk_report import (
    DUPLICATE_TASK_ID,
    MISSING_RESULT,
    RUN_STOPPED,
    TASK_TOO_LARGE,
    UNKNOWN_STATUS,
    VALIDATION_ERROR,
    BulkAddDeadlineExceeded,
    BulkAddError,
    BulkAddReport,
    TaskFailure,
    TaskOutcome,
    TaskOutcomeStatus,
)
from batchaio._ids import entity_id, is_entity_id, path_id
from batchaio._redact import redact_data, redact_text
from batchaio._retry import RetryPolicy, backoff_delay, status_outcome_unknown
from batchaio._serde import converter, encoder_for
from batchaio._transport import BatchRequest, Pipeline
from batchaio.errors import (
    BadRequestError,
    BatchStatusError,
    RequestBodyTooLargeError,
    TransportError,
    ValidationError,
)
from batchaio.models import BatchError, BatchTaskAddResult, BatchTaskCreateContent

__all__ = [
    "BulkAddStream",
    "ProgressCallback",
    "SendChunk",
    "TaskSource",
    "add_many",
    "iter_add",
    "pipeline_sender",
]

SendChunk = Callable[[bytes], Awaitable[bytes]]
"""Posts one ``{"value": [...]}`` body to ``addtaskcollection`` and returns the 200 response's content.

Error statuses and transport failures are raised as :mod:`batchaio.errors` exceptions, never retried."""

ProgressCallback = Callable[[BulkAddReport], object]
TaskSource = Iterable[BatchTaskCreateContent] | AsyncIterable[BatchTaskCreateContent]

_OPEN = b'{"value":['
_CLOSE = b"]}"
_ENVELOPE = len(_OPEN) + len(_CLOSE)
_TASK_EXISTS = "taskexists"

_sleep = anyio.sleep
_encode_task = encoder_for(BatchTaskCreateContent)


class _Entry:
    """One encoded task held by the engine until its outcome is known."""

    __slots__ = ("attempts", "body", "index", "key", "last_error", "maybe_applied", "task_id")

    def __init__(self, index: int, task_id: str, key: str, body: bytes) -> None:
        self.index = index
        self.task_id = task_id
        self.key = key
        self.body = body
        self.maybe_applied = False
        self.attempts = 0
        self.last_error: tuple[str, str, Any] | None = None


class _Stop(Exception):
    """A whole-run stop decided by a worker (the cause is kept in ``_Engine._stop_cause``)."""


def _assemble(entries: list[_Entry]) -> bytes:
    return _OPEN + b",".join([entry.body for entry in entries]) + _CLOSE


def _progress_failed(exc: Exception) -> str:
    return f"the progress callback raised {type(exc).__name__}: {exc}"


def _error_fields(raw: Any) -> tuple[str, str]:
    if not isinstance(raw, dict):
        return "", ""
    code = raw.get("code")
    message = raw.get("message")
    if isinstance(message, dict):
        message = message.get("value")
    return (code if isinstance(code, str) else ""), (message if isinstance(message, str) else "")


def _task_failure(task_id: str | None, index: int, code: str, message: str, raw_error: Any) -> TaskFailure:
    """The one place a :class:`TaskFailure` is built: its message and the service's error are redacted (a
    task's resource files or output URLs may carry SAS tokens, and error messages may quote them)."""
    error = None
    if isinstance(raw_error, dict):
        try:
            error = converter.structure(redact_data(raw_error), BatchError)
        except Exception:
            error = None
    return TaskFailure(task_id=task_id, index=index, code=code, message=redact_text(message), error=error)


def _exception_error(exc: BaseException) -> tuple[str, str, Any]:
    if isinstance(exc, BatchStatusError):
        values = [{"key": key, "value": value} for key, value in exc.values.items()]
        raw = {"code": exc.code, "message": {"value": exc.message}, "values": values}
        return exc.code or f"HTTP{exc.status_code}", exc.message or str(exc), raw
    return type(exc).__name__, str(exc), None


class _Engine:
    def __init__(
        self,
        send: SendChunk,
        tasks: TaskSource,
        *,
        concurrency: int,
        chunk_size: int,
        max_chunk_bytes: int,
        policy: RetryPolicy,
        max_attempts: int | None,
        max_failures_kept: int,
        deadline: float | None,
        progress: ProgressCallback | None,
        outcomes: _Outbox | None,
        rng: random.Random | None,
    ) -> None:
        _check_positive("concurrency", concurrency)
        _check_positive("chunk_size", chunk_size)
        if chunk_size > C.BULK_MAX_TASKS_PER_CHUNK:
            raise ValidationError(
                f"chunk_size is {chunk_size}: addtaskcollection takes at most "
                f"{C.BULK_MAX_TASKS_PER_CHUNK} tasks",
                field="chunk_size",
            )
        if max_attempts is None:
            max_attempts = default_max_attempts(policy)
        _check_positive("max_attempts", max_attempts)
        if (
            not isinstance(max_failures_kept, int)
            or isinstance(max_failures_kept, bool)
            or max_failures_kept < 0
        ):
            raise ValidationError(
                f"max_failures_kept must be an integer >= 0, got {max_failures_kept!r}",
                field="max_failures_kept",
            )
        if max_chunk_bytes <= _ENVELOPE:
            raise ValidationError(f"max_chunk_bytes is {max_chunk_bytes}: too small", field="max_chunk_bytes")
        if deadline is not None and not deadline > 0:
            raise ValidationError(
                f"deadline must be a positive number of seconds, got {deadline!r}", field="deadline"
            )
        self._send = send
        self._tasks = tasks
        self._concurrency = concurrency
        self._chunk_size = chunk_size
        self._max_chunk_bytes = max_chunk_bytes
        self._max_attempts = max_attempts
        self._max_failures_kept = max_failures_kept
        self._deadline = deadline
        self._progress = progress
        self._outcomes = outcomes
        self._policy = policy
        self._rng = rng if rng is not None else policy.rng
        self.report = BulkAddReport()
        self._live: dict[str, _Entry] = {}
        self._sending: dict[int, list[_Entry]] = {}  # the tasks of each request in flight
        self._batch: list[TaskOutcome] = []
        self._stop_cause: BaseException | None = None
        self._stop_message = ""
        self._task_group: TaskGroup | None = None
        self._started = 0.0
        self._index = -1
        self._chunk: list[_Entry] = []
        self._chunk_bytes = 0  # encoded tasks and commas, without the envelope
        self._rejected = 0  # tasks failed by _fill since the engine last let other tasks run
        self._reader: Iterator[object] | AsyncIterator[object] | None = None
        self._reading = anyio.Lock()
        self._input_done = False

    # --- the run ------------------------------------------------------------------------------------------

    async def run(self) -> BulkAddReport:
        """Submit every task; return the report or raise :class:`BulkAddError` with it."""
        self._started = anyio.current_time()
        deadline_at = self._started + self._deadline if self._deadline is not None else float("inf")
        cancelled = anyio.get_cancelled_exc_class()
        try:
            with anyio.CancelScope(deadline=deadline_at) as deadline_scope:
                async with anyio.create_task_group() as task_group:
                    self._task_group = task_group
                    for _ in range(self._concurrency):
                        task_group.start_soon(self._work)
        except cancelled:
            self._finish(cancelled=True)
            raise
        self._finish(deadline_exceeded=deadline_scope.cancelled_caught)
        if self._stop_cause is not None:
            raise BulkAddError(self._stop_message, self.report) from self._stop_cause
        if deadline_scope.cancelled_caught:
            raise BulkAddDeadlineExceeded(
                f"the bulk submission's deadline of {self._deadline} s passed: {self._unfinished()}",
                self.report,
            )
        return self.report

    def _unfinished(self) -> str:
        return f"{len(self.report.in_doubt)} task(s) in doubt, {len(self.report.pending)} pending"

    def _stop(self, message: str, cause: BaseException) -> None:
        if self._stop_cause is None:
            self._stop_cause = cause
            self._stop_message = redact_text(message)
        assert self._task_group is not None
        self._task_group.cancel_scope.cancel()

    def _finish(self, *, cancelled: bool = False, deadline_exceeded: bool = False) -> None:
        report = self.report
        in_flight = {entry.key for entries in self._sending.values() for entry in entries}
        self._deliver_unfinished(in_flight)
        for entry in self._live.values():
            if entry.maybe_applied or entry.key in in_flight:
                report.in_doubt.append(entry.task_id)
            else:
                report.pending.append(entry.task_id)
        self._live.clear()
        report.cancelled = cancelled
        report.deadline_exceeded = deadline_exceeded
        report.elapsed = anyio.current_time() - self._started
        if self._progress is not None:
            try:
                self._progress(report)
            except Exception as exc:
                # The run is over: nothing to stop, but the caller hears of it (unless it was cancelled).
                if self._stop_cause is None:
                    self._stop_cause = exc
                    self._stop_message = redact_text(_progress_failed(exc))

    def _notify(self) -> None:
        """Call the progress callback; one that raises stops the run like any other failure."""
        assert self._progress is not None
        try:
            self._progress(self.report)
        except Exception as exc:
            self._stop(_progress_failed(exc), exc)
            raise _Stop from exc

    # --- reading the input --------------------------------------------------------------------------------

    async def _next_chunk(self) -> list[_Entry] | None:
        """The next chunk to send, read from the input by the worker asking; ``None`` once the input is done.

        Workers read for themselves rather than through a producer task: handing each chunk over a stream
        cost extra task switches per request, a large part of the engine's CPU time. One worker reads at a
        time (an async iterator cannot be advanced by two tasks at once, and a worker pausing in a long
        stretch of invalid input must let the consumer run, not the next worker read on).
        """
        if self._input_done:
            return None
        try:
            if self._reader is None:
                self._reader = (
                    aiter(self._tasks) if isinstance(self._tasks, AsyncIterable) else iter(self._tasks)
                )
            await self._start_reading()
            try:
                if isinstance(self._reader, AsyncIterator):
                    full = await self._fill_from_async(self._reader)
                else:
                    full = await self._fill_from(self._reader)
            finally:
                self._reading.release()
        except Exception as exc:
            # Nothing more is sent: the partial chunk's tasks stay unsent and are reported pending.
            self._input_done = True
            self._chunk = []
            self._stop(f"reading the tasks raised {type(exc).__name__}: {exc}", exc)
            return None
        if full is None:
            # The input is exhausted: the first worker to see it takes the last, partial chunk.
            self._input_done = True
            full, self._chunk = self._chunk, []
            if not full:
                await self._flush()
                return None
        self._rejected = 0
        if self._batch:
            await self._flush()
        return full

    async def _start_reading(self) -> None:
        """Take the reading lock, without the checkpoint ``Lock.acquire`` makes when nobody holds it: a
        yield to the event loop per chunk measurably adds to the CPU time of a bulk run."""
        try:
            self._reading.acquire_nowait()
        except anyio.WouldBlock:
            await self._reading.acquire()

    async def _fill_from(self, tasks: Iterator[object]) -> list[_Entry] | None:
        while not self._input_done:
            full = self._fill(tasks)
            if full is None:
                return None
            if full:
                return full
            await self._pause()
        return None

    async def _fill_from_async(self, tasks: AsyncIterator[object]) -> list[_Entry] | None:
        while not self._input_done:
            try:
                task = await anext(tasks)
            except StopAsyncIteration:
                return None
            full = self._fill(iter((task,)))
            if full:
                return full
            if self._rejected >= self._chunk_size:
                await self._pause()
        return None

    async def _pause(self) -> None:
        """Deliver the failures found so far and let other tasks run: a long stretch of invalid input must not
        hold the event loop."""
        self._rejected = 0
        await self._flush()
        await anyio.lowlevel.checkpoint()

    def _fill(self, tasks: Iterator[object]) -> list[_Entry] | None:
        """Read, check and encode tasks until one closes a chunk: return that chunk (``None`` if ``tasks`` ran
        out first). Tasks that cannot be sent are failed on the way (:meth:`_reject` says why); an empty list
        asks the caller to deliver their outcomes before reading on."""
        live = self._live
        chunk = self._chunk
        chunk_bytes = self._chunk_bytes
        chunk_size = self._chunk_size
        limit = self._max_chunk_bytes - _ENVELOPE
        index = self._index
        for task in tasks:
            index += 1
            task_id = task.id if isinstance(task, BatchTaskCreateContent) else None
            if isinstance(task_id, str) and is_entity_id(task_id):
                try:
                    body = _encode_task(task)  # type: ignore[arg-type]
                except Exception:
                    body = None
                key = task_id.lower()
                if body is not None and key not in live and len(body) <= limit:
                    size = len(body)
                    entry = live[key] = _Entry(index, task_id, key, body)
                    if not chunk:
                        chunk.append(entry)
                        chunk_bytes = size
                    elif len(chunk) >= chunk_size or chunk_bytes + 1 + size > limit:
                        self._chunk = [entry]
                        self._chunk_bytes = size
                        self._index = index
                        return chunk
                    else:
                        chunk.append(entry)
                        chunk_bytes += 1 + size
                    continue
            self._reject(task, index)
            self._rejected += 1
            if self._rejected >= chunk_size:
                self._chunk_bytes = chunk_bytes
                self._index = index
                return []
        self._chunk_bytes = chunk_bytes
        self._index = index
        return None

    def _reject(self, task: object, index: int) -> None:
        """Fail a task :meth:`_fill` cannot send, with the reason."""
        if not isinstance(task, BatchTaskCreateContent):
            task_id = getattr(task, "id", None)
            message = f"tasks must be BatchTaskCreateContent, not {type(task).__name__}"
            self._fail_local(task_id if isinstance(task_id, str) else None, index, VALIDATION_ERROR, message)
            return
        task_id = task.id
        try:
            entity_id(task_id, "id")
            body = _encode_task(task)
        except ValidationError as exc:
            self._fail_local(task_id if isinstance(task_id, str) else None, index, VALIDATION_ERROR, str(exc))
            return
        except Exception as exc:
            message = f"task {task_id!r} cannot be encoded: {type(exc).__name__}: {exc}"
            self._fail_local(task_id, index, VALIDATION_ERROR, message)
            return
        assert task_id is not None
        earlier = self._live.get(task_id.lower())
        if earlier is not None:
            message = (
                f"task ID {task_id!r} (input position {index}) duplicates {earlier.task_id!r} "
                f"(position {earlier.index}) still being submitted; IDs are compared without case"
            )
            self._fail_local(task_id, index, DUPLICATE_TASK_ID, message)
            return
        message = (
            f"task {task_id!r} is {len(body)} bytes once encoded: alone it is over the "
            f"{self._max_chunk_bytes}-byte request limit"
        )
        self._fail_local(task_id, index, TASK_TOO_LARGE, message)

    def _fail_local(self, task_id: str | None, index: int, code: str, message: str) -> None:
        failure = _task_failure(task_id, index, code, message, None)
        self._record_failure(failure)
        if self._outcomes is not None:
            self._batch.append(
                TaskOutcome(
                    task_id=task_id, index=index, status=TaskOutcomeStatus.FAILED, attempts=0, failure=failure
                )
            )

    def _record_failure(self, failure: TaskFailure) -> None:
        report = self.report
        report.failed += 1
        if len(report.failures) < self._max_failures_kept:
            report.failures.append(failure)
        else:
            report.failures_dropped += 1

    # --- workers ------------------------------------------------------------------------------------------

    async def _work(self) -> None:
        while (chunk := await self._next_chunk()) is not None:
            try:
                await self._submit(chunk, 0)
            except _Stop:
                return
            except Exception as exc:
                self._stop(f"bulk submission failed: {type(exc).__name__}: {exc}", exc)
                return

    async def _submit(self, pending: list[_Entry], attempts: int) -> None:
        """Send ``pending`` until every task in it has an outcome (``attempts`` already made for them)."""
        report = self.report
        while pending:
            if attempts >= self._max_attempts:
                self._give_up(pending, attempts)
                break
            # Reading the input makes no checkpoint, and a sender may make none before its bytes leave: a run
            # already stopped or cancelled sends nothing more.
            await anyio.lowlevel.checkpoint_if_cancelled()
            body = _assemble(pending)
            if attempts:
                report.retries += 1
            attempts += 1
            report.requests += 1
            # Registered while the request is out: if the run stops now, these tasks are in doubt.
            self._sending[id(pending)] = pending
            if self._outcomes is not None:
                for entry in pending:
                    entry.attempts = attempts
            try:
                content = await self._send(body)
            except Exception as exc:
                del self._sending[id(pending)]
                failure: Exception = exc
            else:
                del self._sending[id(pending)]
                pending = self._apply_results(pending, content, attempts)
                await self._flush()
                if self._progress is not None:
                    self._notify()
                if pending and attempts < self._max_attempts:
                    await _sleep(self._delay(attempts, None))
                continue
            retry_after: float | None = None
            if isinstance(failure, RequestBodyTooLargeError):
                if len(pending) == 1:
                    self._refuse(pending, attempts, failure)
                    break
                half = len(pending) // 2
                await self._submit(pending[:half], attempts - 1)
                await self._submit(pending[half:], attempts - 1)
                break
            if isinstance(failure, BadRequestError):
                self._refuse(pending, attempts, failure)
                break
            if isinstance(failure, BatchStatusError) and failure.status_code in C.RETRYABLE_STATUSES:
                self._landed(pending, status_outcome_unknown(failure.status_code), _exception_error(failure))
                retry_after = failure.retry_after
            elif isinstance(failure, TransportError):
                self._landed(pending, failure.outcome_unknown, _exception_error(failure))
            else:
                if isinstance(failure, BatchStatusError):
                    self._refuse(pending, attempts, failure)
                    await self._flush()
                    self._stop(f"the service refused the bulk submission: {failure}", failure)
                else:
                    # A ValidationError is raised before anything is sent; anything else may have been sent.
                    self._landed(pending, not isinstance(failure, ValidationError), _exception_error(failure))
                    self._stop(f"bulk submission failed: {type(failure).__name__}: {failure}", failure)
                raise _Stop from failure
            if attempts < self._max_attempts:
                await _sleep(self._delay(attempts, retry_after))
        await self._flush()

    @staticmethod
    def _landed(entries: list[_Entry], maybe_applied: bool, error: tuple[str, str, Any]) -> None:
        for entry in entries:
            if maybe_applied:
                entry.maybe_applied = True
            entry.last_error = error

    def _delay(self, attempts: int, retry_after: float | None) -> float:
        """The wait before the next attempt, on the retry policy's terms (never less than a floor)."""
        policy = self._policy
        if retry_after is not None:
            jitter = self._rng.uniform(0.0, C.BULK_RETRY_AFTER_JITTER * max(retry_after, policy.backoff_base))
            wait = min(retry_after + jitter, policy.retry_after_cap)
        else:
            wait = backoff_delay(attempts, base=policy.backoff_base, cap=policy.backoff_cap, rng=self._rng)
        return max(wait, C.BULK_MIN_RETRY_DELAY)

    def _apply_results(self, pending: list[_Entry], content: bytes, attempts: int) -> list[_Entry]:
        """Record each per-task result of a 200 answer; return the tasks to send again."""
        try:
            results = orjson.loads(content)["value"]
            if not isinstance(results, list):
                raise TypeError("value is not a list")
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            self._landed(
                pending, True, ("InvalidResponse", f"unreadable addtaskcollection response: {exc}", None)
            )
            return pending
        by_id = {entry.task_id: entry for entry in pending}
        retry: list[_Entry] = []
        quiet = self._outcomes is None
        live = self._live
        created = 0
        for result in results:
            try:
                entry = by_id.pop(result["taskId"])
            except (KeyError, TypeError):
                found = _match_without_case(result, by_id)
                if found is None:
                    continue
                entry = found
            status = result.get("status")
            if status == "Success" and quiet:
                del live[entry.key]
                created += 1
                continue
            status = status.lower() if isinstance(status, str) else status
            if status == "success":
                self._resolve_ok(entry, TaskOutcomeStatus.CREATED, attempts, result)
            elif status == "clienterror":
                raw_error = result.get("error")
                code, message = _error_fields(raw_error)
                if code.lower() == _TASK_EXISTS:
                    status_ = TaskOutcomeStatus.CREATED if entry.maybe_applied else TaskOutcomeStatus.EXISTING
                    self._resolve_ok(entry, status_, attempts, result)
                else:
                    self._resolve_failed(entry, attempts, code or "ClientError", message, raw_error)
            elif status == "servererror":
                raw_error = result.get("error")
                code, message = _error_fields(raw_error)
                entry.maybe_applied = True
                entry.last_error = (code or "ServerError", message, raw_error)
                retry.append(entry)
            else:
                message = (
                    f"the service answered status {status!r} for task {entry.task_id!r}, which is not known"
                )
                self._resolve_failed(entry, attempts, UNKNOWN_STATUS, message, result.get("error"))
        self.report.created += created
        for entry in by_id.values():
            entry.maybe_applied = True
            message = f"the service's answer had no result for task {entry.task_id!r}"
            entry.last_error = (MISSING_RESULT, message, None)
            retry.append(entry)
        return retry

    # --- outcomes -----------------------------------------------------------------------------------------

    def _resolve_ok(self, entry: _Entry, status: TaskOutcomeStatus, attempts: int, result: Any) -> None:
        del self._live[entry.key]
        if status is TaskOutcomeStatus.CREATED:
            self.report.created += 1
        else:
            self.report.existing += 1
        if self._outcomes is not None:
            self._batch.append(
                TaskOutcome(
                    task_id=entry.task_id,
                    index=entry.index,
                    status=status,
                    attempts=attempts,
                    result=_add_result(result),
                )
            )

    def _resolve_failed(self, entry: _Entry, attempts: int, code: str, message: str, raw_error: Any) -> None:
        del self._live[entry.key]
        failure = _task_failure(entry.task_id, entry.index, code, message, raw_error)
        self._record_failure(failure)
        if self._outcomes is not None:
            self._batch.append(
                TaskOutcome(
                    task_id=entry.task_id,
                    index=entry.index,
                    status=TaskOutcomeStatus.FAILED,
                    attempts=attempts,
                    failure=failure,
                )
            )

    def _refuse(self, pending: list[_Entry], attempts: int, failure: BatchStatusError) -> None:
        """Settle tasks whose request the service refused as a whole: failed, or in doubt when an earlier
        attempt carrying them may have created them."""
        code, message, raw_error = _exception_error(failure)
        for entry in pending:
            if entry.maybe_applied:
                self._resolve_in_doubt(entry, attempts, code, message, raw_error)
            else:
                self._resolve_failed(entry, attempts, code, message, raw_error)

    def _give_up(self, pending: list[_Entry], attempts: int) -> None:
        for entry in pending:
            code, message, raw_error = entry.last_error or ("RetriesExhausted", "", None)
            message = f"gave up after {attempts} attempt(s); last error {code}: {message}".rstrip(": ")
            if entry.maybe_applied:
                self._resolve_in_doubt(entry, attempts, code, message, raw_error)
            else:
                self._resolve_failed(entry, attempts, code, message, raw_error)

    def _resolve_in_doubt(
        self, entry: _Entry, attempts: int, code: str, message: str, raw_error: Any
    ) -> None:
        del self._live[entry.key]
        self.report.in_doubt.append(entry.task_id)
        if self._outcomes is not None:
            message = f"{message}; an earlier attempt may have created the task"
            failure = _task_failure(entry.task_id, entry.index, code, message, raw_error)
            self._batch.append(
                TaskOutcome(
                    task_id=entry.task_id,
                    index=entry.index,
                    status=TaskOutcomeStatus.IN_DOUBT,
                    attempts=attempts,
                    failure=failure,
                )
            )

    async def _flush(self) -> None:
        """Hand the outcomes found so far to the stream, then wait while its consumer is behind. The hand-over
        is immediate, so a wait cut short by the deadline or a cancellation loses nothing."""
        outbox = self._outcomes
        if outbox is not None and self._batch:
            batch, self._batch = self._batch, []
            outbox.put(batch)
            await outbox.wait_for_room()

    def _deliver_unfinished(self, in_flight: set[str]) -> None:
        """At the end of a stopped run, the outcomes still owed to the stream: those found but not yet handed
        over, then one for every task read and unsettled (in doubt or pending)."""
        outbox = self._outcomes
        if outbox is None:
            return
        batch, self._batch = self._batch, []
        for entry in self._live.values():
            if entry.maybe_applied or entry.key in in_flight:
                code, message, raw_error = entry.last_error or (
                    RUN_STOPPED,
                    "the run stopped while a request carrying the task was in flight",
                    None,
                )
                message = f"{message}; the task may have been created"
                failure = _task_failure(entry.task_id, entry.index, code, message, raw_error)
                status = TaskOutcomeStatus.IN_DOUBT
            else:
                failure = None
                status = TaskOutcomeStatus.PENDING
            batch.append(
                TaskOutcome(
                    task_id=entry.task_id,
                    index=entry.index,
                    status=status,
                    attempts=entry.attempts,
                    failure=failure,
                )
            )
        if batch:
            outbox.put(batch)


def _match_without_case(result: Any, by_id: dict[str, _Entry]) -> _Entry | None:
    """The entry whose ID differs from the result's ``taskId`` only by case (taken out of ``by_id``)."""
    task_id = result.get("taskId") if isinstance(result, dict) else None
    if not isinstance(task_id, str):
        return None
    key = task_id.lower()
    for entry in by_id.values():
        if entry.key == key:
            del by_id[entry.task_id]
            return entry
    return None


def _add_result(raw: Any) -> BatchTaskAddResult | None:
    try:
        return converter.structure(raw, BatchTaskAddResult)
    except Exception:
        return None


def default_max_attempts(policy: RetryPolicy) -> int:
    """Requests that may carry one task when the caller does not say: one if ``policy`` makes no retries,
    otherwise the larger of its ``max_attempts`` and :data:`~batchaio._constants.BULK_MAX_ATTEMPTS` (a bulk
    run makes thousands of calls and has to outlast throttling that a single call would give up on)."""
    if policy.max_attempts == 1:
        return 1
    return max(policy.max_attempts, C.BULK_MAX_ATTEMPTS)


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValidationError(f"{name} must be an integer >= 1, got {value!r}", field=name)


# --- entry points (the tasks resource delegates here) -------------------------------------------------------


def pipeline_sender(pipeline: Pipeline, job_id: str, *, server_timeout: int | None = None) -> SendChunk:
    """A :data:`SendChunk` posting to ``/jobs/{job_id}/addtaskcollection`` through ``pipeline``, once each.

    The job ID is checked here, before anything is sent. Retries are the engine's, so the pipeline's are off.
    """
    path = f"/jobs/{path_id(job_id, 'job_id')}/addtaskcollection"
    policy = RetryPolicy.no_retries(deadline=None)

    async def send(body: bytes) -> bytes:
        request = BatchRequest(
            operation_id="Tasks_CreateTaskCollection",
            method="POST",
            path=path,
            content=body,
            server_timeout=server_timeout,
            retry=policy,
        )
        response = await pipeline.send(request)
        return response.content

    return send


# --------------------------------------------------


async def add_many(
    send: SendChunk,
    tasks: TaskSource,
    *,
    concurrency: int = C.BULK_DEFAULT_CONCURRENCY,
    chunk_size: int = C.BULK_MAX_TASKS_PER_CHUNK,
    max_chunk_bytes: int = C.BULK_MAX_CHUNK_BYTES,
    retry: RetryPolicy | None = None,
    max_attempts: int | None = None,
    max_failures_kept: int = C.BULK_MAX_FAILURES_KEPT,
    deadline: float | None = None,
    progress: ProgressCallback | None = None,
    rng: random.Random | None = None,
) -> BulkAddReport:
    """Submit ``tasks`` through ``send`` and return the report (see :meth:`TasksResource.add_many`)."""
    engine = _Engine(
        send,
        tasks,
        concurrency=concurrency,
        chunk_size=chunk_size,
        max_chunk_bytes=max_chunk_bytes,
        policy=retry if retry is not None else RetryPolicy(deadline=None),
        max_attempts=max_attempts,
        max_failures_kept=max_failures_kept,
        deadline=deadline,
        progress=progress,
        outcomes=None,
        rng=rng,
    )
    return await engine.run()


def iter_add(
    send: SendChunk,
    tasks: TaskSource,
    *,
    concurrency: int = C.BULK_DEFAULT_CONCURRENCY,
    chunk_size: int = C.BULK_MAX_TASKS_PER_CHUNK,
    max_chunk_bytes: int = C.BULK_MAX_CHUNK_BYTES,
    retry: RetryPolicy | None = None,
    max_attempts: int | None = None,
    max_failures_kept: int = C.BULK_MAX_FAILURES_KEPT,
    deadline: float | None = None,
    progress: ProgressCallback | None = None,
    rng: random.Random | None = None,
) -> BulkAddStream:
    """Submit ``tasks`` through ``send``, yielding outcomes (see :meth:`TasksResource.iter_add`)."""
    outbox = _Outbox(concurrency * chunk_size if isinstance(chunk_size, int) else 0)
    engine = _Engine(
        send,
        tasks,
        concurrency=concurrency,
        chunk_size=chunk_size,
        max_chunk_bytes=max_chunk_bytes,
        policy=retry if retry is not None else RetryPolicy(deadline=None),
        max_attempts=max_attempts,
        max_failures_kept=max_failures_kept,
        deadline=deadline,
        progress=progress,
        outcomes=outbox,
        rng=rng,
    )
    return BulkAddStream(engine, outbox)


class _Outbox:
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

    def __init__(self, engine: _Engine, outbox: _Outbox) -> None:
        self._engine = engine
        self._outbox = outbox
        self._task_group: TaskGroup | None = None
        self._entered = False
        self._error: BulkAddError | None = None
        self._buffer: list[TaskOutcome] = []
        self._position = 0

    @property
    def report(self) -> BulkAddReport:
        """The run's report: live during the run, final after it."""
        return self._engine.report

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
            await self._engine.run()
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

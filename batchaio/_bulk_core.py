"""The decisions of a bulk submission, no I/O: tasks in, chunks out; answers in, outcomes and retries out.

- :class:`Chunker` reads, checks and encodes tasks, packing them into chunks of at most ``chunk_size`` tasks
  and ``max_chunk_bytes`` bytes; tasks that cannot be sent (invalid, too large, a duplicate ID among those
  held) fail on the way.
- :func:`read_answer` settles the tasks of a 200 answer and returns those to send again.
- :func:`decide` says what a failed request means: retry after a wait, split the chunk, fail its tasks, or
  stop the run.
- :class:`Ledger` holds every task read until it has an outcome, and the report counting them exactly once.

A task is "maybe applied" once a request carrying it ended without a definite answer for it (a reset or
timeout after sending, a 500/502/504, a per-task ``servererror``, a missing result). When retries run out for
such a task, or the run stops while it is in flight, it is reported in doubt rather than failed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Any

import attrs
import orjson

from batchaio import _constants as C
from batchaio._bulk_options import ENVELOPE_BYTES
from batchaio._bulk_report import (
    DUPLICATE_TASK_ID,
    MISSING_RESULT,
    RUN_STOPPED,
    TASK_TOO_LARGE,
    UNKNOWN_STATUS,
    VALIDATION_ERROR,
    BulkAddReport,
    TaskFailure,
    TaskOutcome,
    TaskOutcomeStatus,
)
from batchaio._encoder import encoder_for
from batchaio._ids import ENTITY_ID, entity_id
from batchaio._redact import redact_data, redact_text
from batchaio._retry import status_outcome_unknown
from batchaio._serde import converter
from batchaio.errors import (
    BadRequestError,
    BatchStatusError,
    RequestBodyTooLargeError,
    TransportError,
    ValidationError,
    error_from_data,
    error_message,
)
from batchaio.models import (
    BatchError,
    BatchErrorDetail,
    BatchErrorMessage,
    BatchTaskAddResult,
    BatchTaskCreateContent,
)

__all__ = [
    "Action",
    "Chunker",
    "Decision",
    "Entry",
    "Ledger",
    "assemble",
    "decide",
    "read_answer",
]

_OPEN = b'{"value":['
_CLOSE = b"]}"
_TASK_EXISTS = "taskexists"
_TASK = BatchTaskCreateContent
_encode_task = encoder_for(BatchTaskCreateContent)
_is_entity_id = ENTITY_ID.fullmatch

# A failed attempt's error for a task: its code, its message and the service's error (redacted), if any.
LastError = tuple[str, str, "BatchError | None"]


class Entry:
    """One encoded task held until its outcome is known."""

    __slots__ = ("attempts", "body", "index", "key", "last_error", "maybe_applied", "task_id")

    def __init__(self, index: int, task_id: str, key: str, body: bytes) -> None:
        self.index = index
        self.task_id = task_id
        self.key = key
        self.body = body
        self.maybe_applied = False
        self.attempts = 0
        self.last_error: LastError | None = None


def assemble(entries: list[Entry]) -> bytes:
    """The ``addtaskcollection`` body carrying ``entries``."""
    return _OPEN + b",".join([entry.body for entry in entries]) + _CLOSE


# --- outcomes -----------------------------------------------------------------------------------------------


def task_failure(
    task_id: str | None, index: int, code: str, message: str, error: BatchError | None
) -> TaskFailure:
    """The one place a :class:`TaskFailure` is built; its message is redacted (a task's resource files or
    output URLs may carry SAS tokens, and error messages may quote them), as ``error`` already is."""
    return TaskFailure(task_id=task_id, index=index, code=code, message=redact_text(message), error=error)


def result_error(raw: Any) -> BatchError | None:
    """The error of a per-task result, decoded once (the errors module's tolerant decoding) and redacted."""
    return error_from_data(redact_data(raw)) if isinstance(raw, dict) else None


def status_error_detail(exc: BatchStatusError) -> BatchError:
    """The Batch error an error status carried (decoded and redacted by the pipeline); built from the
    exception's fields when a sender raised one without it."""
    if exc.error is not None:
        return exc.error
    return BatchError(
        code=exc.code,
        message=BatchErrorMessage(value=exc.message),
        values=[BatchErrorDetail(key=key, value=value) for key, value in exc.values.items()],
    )


def exception_error(exc: BaseException) -> LastError:
    """``(code, message, error)`` for the tasks of a request that failed with ``exc``."""
    if isinstance(exc, BatchStatusError):
        return exc.code or f"HTTP{exc.status_code}", exc.message or str(exc), status_error_detail(exc)
    return type(exc).__name__, str(exc), None


def _add_result(raw: Any) -> BatchTaskAddResult | None:
    try:
        return converter.structure(raw, BatchTaskAddResult)
    except Exception:
        return None


class Ledger:
    """Every task read, held until it has an outcome, and the report that counts each exactly once.

    With ``streaming`` the outcomes are also collected, one :class:`TaskOutcome` per task, for
    :meth:`take_outcomes`; without it successes are only counted.
    """

    def __init__(self, *, max_failures_kept: int, streaming: bool) -> None:
        self.report = BulkAddReport()
        self.live: dict[str, Entry] = {}
        self.streaming = streaming
        self._outcomes: list[TaskOutcome] = []
        self._max_failures_kept = max_failures_kept

    def take_outcomes(self) -> list[TaskOutcome]:
        outcomes, self._outcomes = self._outcomes, []
        return outcomes

    def _add(self, outcome: TaskOutcome) -> None:
        self._outcomes.append(outcome)

    def created(self, entry: Entry, status: TaskOutcomeStatus, attempts: int, result: Any) -> None:
        del self.live[entry.key]
        if status is TaskOutcomeStatus.CREATED:
            self.report.created += 1
        else:
            self.report.existing += 1
        if self.streaming:
            result_model = _add_result(result)
            self._add(
                TaskOutcome(
                    task_id=entry.task_id,
                    index=entry.index,
                    status=status,
                    attempts=attempts,
                    result=result_model,
                )
            )

    def failed(self, entry: Entry, attempts: int, code: str, message: str, error: BatchError | None) -> None:
        del self.live[entry.key]
        self._record_failure(task_failure(entry.task_id, entry.index, code, message, error), attempts)

    def failed_unsent(self, task_id: str | None, index: int, code: str, message: str) -> None:
        """A task that was never held: refused before sending (invalid, too large, a duplicate)."""
        self._record_failure(task_failure(task_id, index, code, message, None), 0)

    def _record_failure(self, failure: TaskFailure, attempts: int) -> None:
        report = self.report
        report.failed += 1
        if len(report.failures) < self._max_failures_kept:
            report.failures.append(failure)
        else:
            report.failures_dropped += 1
        if self.streaming:
            self._add(
                TaskOutcome(
                    task_id=failure.task_id,
                    index=failure.index,
                    status=TaskOutcomeStatus.FAILED,
                    attempts=attempts,
                    failure=failure,
                )
            )

    def in_doubt(
        self, entry: Entry, attempts: int, code: str, message: str, error: BatchError | None
    ) -> None:
        del self.live[entry.key]
        self.report.in_doubt.append(entry.task_id)
        if self.streaming:
            message = f"{message}; an earlier attempt may have created the task"
            failure = task_failure(entry.task_id, entry.index, code, message, error)
            self._add(
                TaskOutcome(
                    task_id=entry.task_id,
                    index=entry.index,
                    status=TaskOutcomeStatus.IN_DOUBT,
                    attempts=attempts,
                    failure=failure,
                )
            )

    def refuse(self, pending: list[Entry], attempts: int, refusal: BatchStatusError) -> None:
        """Settle tasks whose request the service refused as a whole: failed, or in doubt when an earlier
        attempt carrying them may have created them."""
        code, message, error = exception_error(refusal)
        for entry in pending:
            if entry.maybe_applied:
                self.in_doubt(entry, attempts, code, message, error)
            else:
                self.failed(entry, attempts, code, message, error)

    def give_up(self, pending: list[Entry], attempts: int) -> None:
        for entry in pending:
            code, message, error = entry.last_error or ("RetriesExhausted", "", None)
            message = f"gave up after {attempts} attempt(s); last error {code}: {message}".rstrip(": ")
            if entry.maybe_applied:
                self.in_doubt(entry, attempts, code, message, error)
            else:
                self.failed(entry, attempts, code, message, error)

    def close(self, in_flight: set[str]) -> None:
        """At the end of the run, settle every task still held: in doubt if a request carrying it may have
        landed or was in flight, otherwise pending (known not created by this run)."""
        for entry in self.live.values():
            if entry.maybe_applied or entry.key in in_flight:
                self.report.in_doubt.append(entry.task_id)
                if self.streaming:
                    self._add(self._unfinished_outcome(entry))
            else:
                self.report.pending.append(entry.task_id)
                if self.streaming:
                    self._add(
                        TaskOutcome(
                            task_id=entry.task_id,
                            index=entry.index,
                            status=TaskOutcomeStatus.PENDING,
                            attempts=entry.attempts,
                        )
                    )
        self.live.clear()

    @staticmethod
    def _unfinished_outcome(entry: Entry) -> TaskOutcome:
        code, message, error = entry.last_error or (
            RUN_STOPPED,
            "the run stopped while a request carrying the task was in flight",
            None,
        )
        failure = task_failure(
            entry.task_id, entry.index, code, f"{message}; the task may have been created", error
        )
        return TaskOutcome(
            task_id=entry.task_id,
            index=entry.index,
            status=TaskOutcomeStatus.IN_DOUBT,
            attempts=entry.attempts,
            failure=failure,
        )


# --- tasks in, chunks out -----------------------------------------------------------------------------------


class Chunker:
    """Reads, checks and encodes tasks into chunks; holds the chunk being filled.

    Duplicate IDs are caught among the tasks held at once (``ledger.live``: the chunk being filled and the
    chunks in flight), compared without case; a duplicate of a task finished earlier reaches the service,
    which answers ``TaskExists``.
    """

    def __init__(self, ledger: Ledger, *, chunk_size: int, max_chunk_bytes: int) -> None:
        self._ledger = ledger
        self._chunk_size = chunk_size
        self._max_chunk_bytes = max_chunk_bytes
        self._limit = max_chunk_bytes - ENVELOPE_BYTES
        self._chunk: list[Entry] = []
        self._chunk_bytes = 0  # encoded tasks and commas, without the envelope
        self._index = -1
        self.rejected = 0  # tasks failed since the caller last reset the count

    def fill(self, tasks: Iterator[object]) -> list[Entry] | None:
        """Read, check and encode tasks until one closes a chunk: return that chunk (``None`` if ``tasks`` ran
        out first). Tasks that cannot be sent are failed on the way; after ``chunk_size`` of them an empty
        list asks the caller to deliver their outcomes before reading on."""
        live = self._ledger.live
        chunk = self._chunk
        chunk_bytes = self._chunk_bytes
        chunk_size = self._chunk_size
        limit = self._limit
        index = self._index
        for task in tasks:
            index += 1
            task_id = task.id if task.__class__ is _TASK or isinstance(task, _TASK) else None
            if (task_id.__class__ is str or isinstance(task_id, str)) and _is_entity_id(task_id):
                try:
                    body = _encode_task(task)  # type: ignore[arg-type]
                except Exception:
                    body = None
                key = task_id.lower()
                if body is not None and key not in live and len(body) <= limit:
                    size = len(body)
                    entry = live[key] = Entry(index, task_id, key, body)
                    if not chunk:
                        chunk.append(entry)
                        chunk_bytes = size
                    elif len(chunk) >= chunk_size or chunk_bytes + 1 + size > limit:
                        self._chunk, self._chunk_bytes, self._index = [entry], size, index
                        return chunk
                    else:
                        chunk.append(entry)
                        chunk_bytes += 1 + size
                    continue
            self._reject(task, index)
            self.rejected += 1
            if self.rejected >= chunk_size:
                self._chunk_bytes, self._index = chunk_bytes, index
                return []
        self._chunk_bytes, self._index = chunk_bytes, index
        return None

    def take_rest(self) -> list[Entry]:
        """The last, partial chunk (the input is exhausted)."""
        rest, self._chunk, self._chunk_bytes = self._chunk, [], 0
        return rest

    def _reject(self, task: object, index: int) -> None:
        """Fail a task :meth:`fill` cannot send, with the reason."""
        ledger = self._ledger
        if not isinstance(task, BatchTaskCreateContent):
            task_id = getattr(task, "id", None)
            message = f"tasks must be BatchTaskCreateContent, not {type(task).__name__}"
            ledger.failed_unsent(
                task_id if isinstance(task_id, str) else None, index, VALIDATION_ERROR, message
            )
            return
        task_id = task.id
        try:
            entity_id(task_id, "id")
            body = _encode_task(task)
        except ValidationError as exc:
            ledger.failed_unsent(
                task_id if isinstance(task_id, str) else None, index, VALIDATION_ERROR, str(exc)
            )
            return
        except Exception as exc:
            message = f"task {task_id!r} cannot be encoded: {type(exc).__name__}: {exc}"
            ledger.failed_unsent(task_id, index, VALIDATION_ERROR, message)
            return
        assert task_id is not None
        earlier = ledger.live.get(task_id.lower())
        if earlier is not None:
            message = (
                f"task ID {task_id!r} (input position {index}) duplicates {earlier.task_id!r} "
                f"(position {earlier.index}) still being submitted; IDs are compared without case"
            )
            ledger.failed_unsent(task_id, index, DUPLICATE_TASK_ID, message)
            return
        message = (
            f"task {task_id!r} is {len(body)} bytes once encoded: alone it is over the "
            f"{self._max_chunk_bytes}-byte request limit"
        )
        ledger.failed_unsent(task_id, index, TASK_TOO_LARGE, message)


# --- answers in, outcomes and retries out -------------------------------------------------------------------


def _error_fields(error: BatchError | None) -> tuple[str, str]:
    """The code and the message (without the service's ``RequestId``/``Time`` trailer) of ``error``."""
    if error is None:
        return "", ""
    text = error.message.value if error.message is not None and error.message.value is not None else ""
    return error.code or "", error_message(text)


def _match_without_case(result: Any, by_id: dict[str, Entry]) -> Entry | None:
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


def read_answer(ledger: Ledger, pending: list[Entry], content: bytes, attempts: int) -> list[Entry]:
    """Settle the tasks of a 200 answer to a request carrying ``pending``; return the tasks to send again
    (per-task ``servererror``, or no result for them; an unreadable answer retries every task)."""
    try:
        results = orjson.loads(content)["value"]
        if not isinstance(results, list):
            raise TypeError("value is not a list")
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        mark_landed(pending, True, ("InvalidResponse", f"unreadable addtaskcollection response: {exc}", None))
        return pending
    by_id = {entry.task_id: entry for entry in pending}
    retry: list[Entry] = []
    quiet = not ledger.streaming
    live = ledger.live
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
        elif _settle_result(ledger, entry, status, result, attempts):
            retry.append(entry)
    ledger.report.created += created
    for entry in by_id.values():
        entry.maybe_applied = True
        entry.last_error = (
            MISSING_RESULT,
            f"the service's answer had no result for task {entry.task_id!r}",
            None,
        )
        retry.append(entry)
    return retry


def _settle_result(ledger: Ledger, entry: Entry, status: Any, result: Any, attempts: int) -> bool:
    """Settle one per-task result; ``True`` when the task is to be sent again."""
    status = status.lower() if isinstance(status, str) else status
    if status == "success":
        ledger.created(entry, TaskOutcomeStatus.CREATED, attempts, result)
    elif status == "clienterror":
        error = result_error(result.get("error"))
        code, message = _error_fields(error)
        if code.lower() == _TASK_EXISTS:
            created = TaskOutcomeStatus.CREATED if entry.maybe_applied else TaskOutcomeStatus.EXISTING
            ledger.created(entry, created, attempts, result)
        else:
            ledger.failed(entry, attempts, code or "ClientError", message, error)
    elif status == "servererror":
        error = result_error(result.get("error"))
        code, message = _error_fields(error)
        entry.maybe_applied = True
        entry.last_error = (code or "ServerError", message, error)
        return True
    else:
        message = f"the service answered status {status!r} for task {entry.task_id!r}, which is not known"
        ledger.failed(entry, attempts, UNKNOWN_STATUS, message, result_error(result.get("error")))
    return False


def mark_landed(entries: list[Entry], maybe_applied: bool, error: LastError) -> None:
    """Record a failed attempt carrying ``entries``: its error, and whether it may have created them."""
    for entry in entries:
        if maybe_applied:
            entry.maybe_applied = True
        entry.last_error = error


class Action(enum.Enum):
    """What to do after a request failed as a whole."""

    RETRY = "retry"
    """Wait, then send the same tasks again (throttling, 5xx, a transport failure)."""
    SPLIT = "split"
    """Send each half of the chunk at once (413 for a chunk of more than one task)."""
    FAIL_CHUNK = "fail-chunk"
    """Fail the chunk's tasks (or leave them in doubt); the run goes on (400, 413 for one task)."""
    STOP_REFUSED = "stop-refused"
    """The service refused the job itself (404 ``JobNotFound``, 401/403...): settle the chunk and stop."""
    STOP_UNREACHABLE = "stop-unreachable"
    """No request of the run ever reached the service and this chunk ran out of a call's attempts."""
    STOP_FAILED = "stop-failed"
    """Anything else (the sender raised): stop the run; the tasks stay held."""


@attrs.frozen
class Decision:
    action: Action
    maybe_applied: bool = False
    """The failed attempt may have created the chunk's tasks."""
    retry_after: float | None = None
    reason: str = ""
    """What failed, for the log: ``"503 ServerBusy"``, ``"RequestNotSentError"``."""
    status_code: int | None = None
    """The status of a retried error answer (the wait after a 429 depends on it)."""


def reached_service(failure: BaseException) -> bool:
    """Did the failed request reach something that answered or may have applied it?"""
    return isinstance(failure, BatchStatusError) or (
        isinstance(failure, TransportError) and failure.outcome_unknown
    )


def decide(failure: Exception, size: int, *, attempts: int, reached: bool, call_attempts: int) -> Decision:
    """What a failed request carrying ``size`` tasks means, after ``attempts`` requests carried them.

    ``reached`` says whether any request of the run reached the service; ``call_attempts`` is the attempts
    one call makes before giving up (the retry policy's ``max_attempts``): a run that never reached the
    service stops once a chunk has failed that many times unsent, rather than grinding through every task.
    """
    if isinstance(failure, BatchStatusError):
        return _decide_status(failure, size)
    if isinstance(failure, TransportError):
        reason = type(failure).__name__
        if not failure.outcome_unknown and not reached and attempts >= call_attempts:
            return Decision(Action.STOP_UNREACHABLE, reason=reason)
        return Decision(Action.RETRY, maybe_applied=failure.outcome_unknown, reason=reason)
    # A ValidationError is raised before anything is sent; anything else may have been sent.
    return Decision(
        Action.STOP_FAILED,
        maybe_applied=not isinstance(failure, ValidationError),
        reason=type(failure).__name__,
    )


def _decide_status(failure: BatchStatusError, size: int) -> Decision:
    status = failure.status_code
    reason = f"{status} {failure.code or ''}".rstrip()
    if isinstance(failure, RequestBodyTooLargeError):
        return Decision(Action.SPLIT if size > 1 else Action.FAIL_CHUNK, reason=reason)
    if isinstance(failure, BadRequestError):
        return Decision(Action.FAIL_CHUNK, reason=reason)
    if status in C.RETRYABLE_STATUSES:
        return Decision(
            Action.RETRY,
            maybe_applied=status_outcome_unknown(status),
            retry_after=failure.retry_after,
            reason=reason,
            status_code=status,
        )
    return Decision(Action.STOP_REFUSED, reason=reason)

"""What a bulk task submission tells its caller: one outcome per task, the failures, and the run's report.

The report holds counts, not the successes themselves, so it stays small for a million tasks; only failures
and tasks whose fate is unknown are listed by ID.
"""

from __future__ import annotations

import enum

import attrs

from batchaio.errors import BatchaioError, BatchStatusError, RequestNotSentError, TransportError
from batchaio.models import BatchError, BatchTaskAddResult

__all__ = [
    "BulkAddDeadlineExceeded",
    "BulkAddError",
    "BulkAddRefusedError",
    "BulkAddUnreachableError",
    "BulkAddReport",
    "TaskFailure",
    "TaskOutcome",
    "TaskOutcomeStatus",
]

# Codes of failures found on the client side (the service's own codes are passed through unchanged).
VALIDATION_ERROR = "ValidationError"
DUPLICATE_TASK_ID = "DuplicateTaskId"
TASK_TOO_LARGE = "TaskTooLarge"
UNKNOWN_STATUS = "UnknownStatus"
MISSING_RESULT = "MissingResult"
RUN_STOPPED = "RunStopped"


class TaskOutcomeStatus(str, enum.Enum):
    """The fate of one task of a bulk submission."""

    CREATED = "created"
    """Created by this run (or ``TaskExists`` answering a retry after an attempt that may have landed)."""
    EXISTING = "existing"
    """Already in the job before this run: the service answered ``TaskExists`` to the first attempt."""
    FAILED = "failed"
    """Not created: refused (``clienterror``), invalid, or retries exhausted with no attempt in doubt."""
    IN_DOUBT = "in_doubt"
    """Retries ran out, or the run stopped, after an attempt whose outcome is unknown: the task may or may
    not exist."""
    PENDING = "pending"
    """Read from the input, but the run stopped (deadline, cancellation, the job refused) before any request
    carrying it could have created it: not created by this run."""


@attrs.frozen(kw_only=True)
class TaskFailure:
    """Why one task was not created.

    ``code`` is the Batch error code (``"InvalidPropertyValue"``, ``"ServerBusy"``...) or one of the
    client-side codes ``"ValidationError"``, ``"DuplicateTaskId"``, ``"TaskTooLarge"``, ``"UnknownStatus"``,
    ``"MissingResult"``. ``index`` is the task's position in the input (0-based), which identifies it even
    when its ID is missing or invalid. ``error`` is the service's full error (with its ``values``) when there
    is one.
    """

    task_id: str | None
    index: int
    code: str
    message: str
    error: BatchError | None = None


@attrs.frozen(kw_only=True)
class TaskOutcome:
    """The outcome of one task, yielded by ``iter_add`` as soon as it is known.

    ``result`` is the service's per-task result (``e_tag``, ``last_modified``, ``location``...) when the
    service sent one; ``failure`` is set for :attr:`TaskOutcomeStatus.FAILED` and
    :attr:`TaskOutcomeStatus.IN_DOUBT` (code ``"RunStopped"`` when the run stopped with a request carrying
    the task in flight). ``attempts`` counts the requests that carried the task.
    """

    task_id: str | None
    index: int
    status: TaskOutcomeStatus
    attempts: int
    result: BatchTaskAddResult | None = None
    failure: TaskFailure | None = None

    @property
    def ok(self) -> bool:
        """``True`` when the task exists now because of this run or from before (created or existing)."""
        return self.status is TaskOutcomeStatus.CREATED or self.status is TaskOutcomeStatus.EXISTING


@attrs.define(kw_only=True, eq=False, repr=False)
class BulkAddReport:
    """Account of a bulk submission; live while the run goes on (progress callbacks receive it), final after.

    Every task read from the input is counted exactly once: in ``created``, ``existing`` or ``failed``, or
    listed in ``in_doubt`` (a request carrying it may have been applied) or ``pending`` (read from the input,
    known not created by this run: the run stopped first). ``failures`` lists failed tasks with their errors,
    the first ``max_failures_kept`` of them (10,000 by default); ``failures_dropped`` counts those left out
    (``failed`` counts them all; ``iter_add`` yields every one).
    ``requests`` counts HTTP requests sent, ``retries`` those that re-sent tasks sent before; ``elapsed`` is
    in seconds. ``cancelled`` and ``deadline_exceeded`` say why a run stopped early.
    """

    created: int = 0
    existing: int = 0
    failed: int = 0
    failures: list[TaskFailure] = attrs.field(factory=list)
    failures_dropped: int = 0
    in_doubt: list[str] = attrs.field(factory=list)
    pending: list[str] = attrs.field(factory=list)
    requests: int = 0
    retries: int = 0
    elapsed: float = 0.0
    cancelled: bool = False
    deadline_exceeded: bool = False

    @property
    def total(self) -> int:
        """Tasks read from the input so far."""
        return self.created + self.existing + self.failed + len(self.in_doubt) + len(self.pending)

    @property
    def complete(self) -> bool:
        """``True`` when every task read has a definite outcome (nothing in doubt or pending)."""
        return not self.in_doubt and not self.pending and not self.cancelled and not self.deadline_exceeded

    def __repr__(self) -> str:
        return (
            f"BulkAddReport(created={self.created}, existing={self.existing}, failed={self.failed}, "
            f"in_doubt={len(self.in_doubt)}, pending={len(self.pending)}, requests={self.requests}, "
            f"retries={self.retries}, elapsed={self.elapsed:.3f}, failures_dropped={self.failures_dropped})"
        )


class BulkAddError(BatchaioError):
    """A bulk submission stopped before every task had an outcome; ``report`` says what is known.

    Raised when the service refuses the whole job (as :class:`BulkAddRefusedError`), when no request could
    reach the service (:class:`BulkAddUnreachableError`), when reading the input raised, or when the progress
    callback raised (the run stops as for any other failure; a cancelled run stays cancelled); the cause is
    chained (``__cause__``).
    """

    def __init__(self, message: str, report: BulkAddReport) -> None:
        super().__init__(message)
        self.report = report


class BulkAddDeadlineExceeded(BulkAddError, TimeoutError):
    """The run's deadline passed; ``report.in_doubt`` and ``report.pending`` list the unfinished tasks."""


def _adopt(error: BaseException, cause: BaseException, message: str, report: BulkAddReport) -> None:
    """Give ``error`` the attributes of ``cause`` (status, code, request IDs...), then its own message and
    report: it is both the run's error and an error of the cause's class."""
    error.__dict__.update(cause.__dict__)
    Exception.__init__(error, message)
    error.report = report  # type: ignore[attr-defined]


class BulkAddRefusedError(BulkAddError, BatchStatusError):
    """The service refused the submission as a whole (``JobNotFound``, bad credentials, the job completed).

    Raised as a subclass of the refusal's own class too, so ``except batchaio.NotFoundError`` (or
    ``AuthenticationError``...) catches it; it carries the refusal's ``status_code``, ``code``, ``message``,
    ``values`` and request IDs, the run's ``report``, and the refusal as ``__cause__``.
    """

    def __init__(self, message: str, report: BulkAddReport, refusal: BatchStatusError) -> None:
        _adopt(self, refusal, message, report)

    @staticmethod
    def for_refusal(message: str, report: BulkAddReport, refusal: BatchStatusError) -> BulkAddRefusedError:
        """The error to raise for ``refusal``: of the class that joins this one to the refusal's."""
        return _refused_class(type(refusal))(message, report, refusal)


_REFUSED_CLASSES: dict[type[BatchStatusError], type[BulkAddRefusedError]] = {}


def _refused_class(status_class: type[BatchStatusError]) -> type[BulkAddRefusedError]:
    """``BulkAddRefusedError`` joined to ``status_class`` (made once per class)."""
    if status_class is BatchStatusError or issubclass(status_class, BulkAddRefusedError):
        return BulkAddRefusedError
    joined = _REFUSED_CLASSES.get(status_class)
    if joined is None:
        name = f"BulkAdd{status_class.__name__}"
        namespace = {
            "__module__": __name__,
            "__doc__": f"{BulkAddRefusedError.__name__} for a {status_class.__name__}.",
        }
        joined = type(name, (BulkAddRefusedError, status_class), namespace)
        _REFUSED_CLASSES[status_class] = joined
    return joined


class BulkAddUnreachableError(BulkAddError, RequestNotSentError):
    """No request of the run reached the service, and one chunk failed unsent as many times as a single call
    tries (connection refused, DNS, TLS): the run stopped rather than try every task. The tasks read are
    ``report.pending`` (never sent); the last failure is the ``__cause__``. Also a
    :class:`~batchaio.errors.RequestNotSentError`.
    """

    def __init__(self, message: str, report: BulkAddReport, failure: TransportError) -> None:
        _adopt(self, failure, message, report)

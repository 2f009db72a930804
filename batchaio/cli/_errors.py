"""What the command line says when a command cannot do its work, and the exit code it ends with.

Every failure becomes one line on standard error (the Batch code, the message and the request id for a service
error); ``--debug`` adds the traceback. Exit codes: 0 success, 1 failure (a task failed, the service refused,
the network failed), 2 bad usage or input found before anything was sent, or a wait that timed out (``jobs
wait``, ``pools ensure``), 130 interrupted.
"""

from __future__ import annotations

from batchaio._bulk_report import BulkAddError
from batchaio._workflow_errors import WaitTimeoutError
from batchaio.errors import BatchaioError, BatchStatusError, TransportError, ValidationError

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
    "CliError",
    "error_line",
    "exit_code_for",
    "unwrap",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A problem the command line explains in one line, with its own exit code (2: bad usage or input)."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def unwrap(exc: BaseException) -> BaseException:
    """The one exception inside (nested) exception groups of one exception each, as task groups raise them."""
    while True:
        inner = getattr(exc, "exceptions", None)
        if not isinstance(inner, tuple) or not inner or not isinstance(inner[0], BaseException):
            return exc
        exc = inner[0]


def _status_error(exc: BaseException) -> BatchStatusError | None:
    """The service error that stopped a run: the exception itself or one of its causes."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, BatchStatusError):
            return current
        seen.add(id(current))
        current = current.__cause__
    return None


_SERVICE_TRAILER = ("RequestId:", "Time:")


def _one_line(text: str) -> str:
    """The lines of ``text`` joined, without the ``RequestId:``/``Time:`` lines the service appends."""
    lines = (part.strip() for part in text.splitlines())
    return " ".join(line for line in lines if line and not line.startswith(_SERVICE_TRAILER))


def describe_status(exc: BatchStatusError) -> str:
    """``JobNotFound: The specified job does not exist. (HTTP 404, request id 0b9c...)``."""
    ids = [f"HTTP {exc.status_code}"]
    if exc.request_id:
        ids.append(f"request id {exc.request_id}")
    elif exc.client_request_id:
        ids.append(f"client request id {exc.client_request_id}")
    message = _one_line(exc.message) or "(no message)"
    return f"{exc.code or 'Error'}: {message} ({', '.join(ids)})"


def error_line(exc: BaseException) -> str:
    """The single line printed for ``exc`` (without the ``error:`` prefix)."""
    exc = unwrap(exc)
    if isinstance(exc, BatchStatusError):
        return describe_status(exc)
    status = _status_error(exc.__cause__) if exc.__cause__ is not None else None
    if isinstance(exc, BulkAddError) and status is not None:  # the service refused the run: say what it said
        return describe_status(status)
    if isinstance(exc, ValidationError):
        return f"invalid input: {_one_line(str(exc))}"
    if isinstance(exc, TransportError):
        return f"{type(exc).__name__}: {_one_line(str(exc))}"
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename is not None else ""
        return f"{exc.strerror}{where}"
    if isinstance(exc, (CliError, BatchaioError)):
        text = _one_line(str(exc))
        if exc.__cause__ is not None and not isinstance(exc, CliError):
            text += f" ({error_line(exc.__cause__) if status is None else describe_status(status)})"
        return text
    return f"{type(exc).__name__}: {_one_line(str(exc))}"


def exit_code_for(exc: BaseException) -> int:
    """2 for bad usage or input found before sending and for a wait that timed out, 1 for everything else."""
    exc = unwrap(exc)
    if isinstance(exc, CliError):
        return exc.exit_code
    if isinstance(exc, ValidationError):
        return EXIT_USAGE
    if isinstance(exc, WaitTimeoutError):
        return EXIT_TIMEOUT
    return EXIT_FAILED

"""batchaio: an asyncio-native, typed client for the Azure Batch data-plane REST API 2024-07-01.20.0."""

from batchaio._bulk_report import (
    BulkAddDeadlineExceeded,
    BulkAddError,
    BulkAddRefusedError,
    BulkAddReport,
    BulkAddUnreachableError,
    TaskFailure,
    TaskOutcome,
    TaskOutcomeStatus,
)
from batchaio._bulk_stream import BulkAddStream
from batchaio._client import BatchClient
from batchaio._config import NOT_GIVEN, Limits, NotGiven, Timeout
from batchaio._events import EventHooks, RequestEvent, ResponseEvent, RetryEvent
from batchaio._failures import FailureExample, FailureGroup, FailureReport
from batchaio._files import BatchFileProperties, FileDownload, FileStream
from batchaio._job_run import JobOutcome
from batchaio._paging import AsyncPager, Page
from batchaio._response import BatchResponse, BatchStreamResponse, ResponseMetadata
from batchaio._retry import RetryPolicy
from batchaio._serde import converter
from batchaio._task_progress import TaskProgress
from batchaio._version import API_VERSION, __version__
from batchaio._watch import TaskWatch, WatchPosition
from batchaio._workflow_errors import (
    JobCannotProgressError,
    NodesUnusableError,
    PoolNotReadyError,
    PoolResizeError,
    PoolWaitTimeoutError,
    StartTaskFailedError,
    StartTaskFailure,
    TasksStalledError,
    WaitTimeoutError,
    WorkflowError,
)
from batchaio.auth import SharedKeyCredential
from batchaio.errors import (
    AuthenticationError,
    BadRequestError,
    BatchaioError,
    BatchStatusError,
    ConflictError,
    DeadlineExceededError,
    FileChangedError,
    NotFoundError,
    NotModifiedError,
    OutcomeUnknownError,
    PreconditionFailedError,
    RequestBodyTooLargeError,
    RequestNotSentError,
    ResponseParseError,
    ServerError,
    ThrottledError,
    TransportError,
    ValidationError,
)
from batchaio.resources import RawResponse

__all__ = [
    "API_VERSION",
    "AsyncPager",
    "AuthenticationError",
    "BadRequestError",
    "BatchClient",
    "BatchFileProperties",
    "BatchResponse",
    "BatchStatusError",
    "BatchStreamResponse",
    "BatchaioError",
    "BulkAddDeadlineExceeded",
    "BulkAddError",
    "BulkAddRefusedError",
    "BulkAddReport",
    "BulkAddStream",
    "BulkAddUnreachableError",
    "ConflictError",
    "DeadlineExceededError",
    "EventHooks",
    "FailureExample",
    "FailureGroup",
    "FailureReport",
    "FileChangedError",
    "FileDownload",
    "FileStream",
    "JobCannotProgressError",
    "JobOutcome",
    "Limits",
    "NOT_GIVEN",
    "NodesUnusableError",
    "NotFoundError",
    "NotGiven",
    "NotModifiedError",
    "OutcomeUnknownError",
    "Page",
    "PoolNotReadyError",
    "PoolResizeError",
    "PoolWaitTimeoutError",
    "PreconditionFailedError",
    "RawResponse",
    "RequestBodyTooLargeError",
    "RequestEvent",
    "RequestNotSentError",
    "ResponseEvent",
    "ResponseMetadata",
    "ResponseParseError",
    "RetryEvent",
    "RetryPolicy",
    "ServerError",
    "SharedKeyCredential",
    "StartTaskFailedError",
    "StartTaskFailure",
    "TaskFailure",
    "TaskOutcome",
    "TaskOutcomeStatus",
    "TaskProgress",
    "TaskWatch",
    "TasksStalledError",
    "ThrottledError",
    "Timeout",
    "TransportError",
    "ValidationError",
    "WaitTimeoutError",
    "WatchPosition",
    "WorkflowError",
    "__version__",
    "converter",
]

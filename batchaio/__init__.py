"""batchaio: an asyncio-native, typed client for the Azure Batch data-plane REST API 2024-07-01.20.0."""

from __future__ import annotations

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
from batchaio._files import BatchFileProperties, FileDownload, FileStream
from batchaio._paging import AsyncPager, Page
from batchaio._response import BatchResponse, BatchStreamResponse, ResponseMetadata
from batchaio._retry import RetryPolicy
from batchaio._serde import converter
from batchaio._version import API_VERSION, __version__
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
    "FileChangedError",
    "FileDownload",
    "FileStream",
    "Limits",
    "NOT_GIVEN",
    "NotFoundError",
    "NotGiven",
    "NotModifiedError",
    "OutcomeUnknownError",
    "Page",
    "PreconditionFailedError",
    "RawResponse",
    "RequestBodyTooLargeError",
    "RequestNotSentError",
    "ResponseMetadata",
    "ResponseParseError",
    "RetryPolicy",
    "ServerError",
    "SharedKeyCredential",
    "TaskFailure",
    "TaskOutcome",
    "TaskOutcomeStatus",
    "ThrottledError",
    "Timeout",
    "TransportError",
    "ValidationError",
    "__version__",
    "converter",
]

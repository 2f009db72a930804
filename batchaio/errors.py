"""Exceptions raised by batchaio.

::

    BatchaioError                       base of everything batchaio raises
     ├── ValidationError                bad input, found before anything is sent (also a ValueError)
     ├── CredentialError                the credential's ``get_token`` raised (its exception is the cause)
     ├── FileChangedError               a file changed on the node while a download was being resumed
     ├── NotModifiedError               304 to a conditional read: the copy held is current (``metadata``)
     ├── ResponseParseError             a success response that cannot be read as the result (``metadata``)
     ├── TransportError                 no HTTP status; ``outcome_unknown``: may it have been applied?
     │    ├── RequestNotSentError       the request provably never reached the service (connect, pool, config)
     │    ├── OutcomeUnknownError       the request may have been applied (reset, read/write timeout, ...)
     │    ├── ClientClosedError         the client was closed while the call was in flight
     │    └── DeadlineExceededError     the call's overall deadline ran out (also a builtin TimeoutError)
     └── BatchStatusError               the service answered with an error status
          ├── BadRequestError           400
          ├── AuthenticationError       401, 403
          ├── NotFoundError             404
          ├── ConflictError             409
          ├── PreconditionFailedError   412
          ├── RequestBodyTooLargeError  413
          ├── ThrottledError            429 (``retry_after``)
          └── ServerError               5xx

:func:`error_class_for_status` is the one mapping from a status code to a class. Every status error carries
the Batch error body: ``code``, ``message`` (the ``message.value``), ``values`` (its key/value pairs), plus
``request_id`` and ``client_request_id``. Messages and URLs shown by these exceptions are redacted.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Mapping
from typing import Any

import orjson

from batchaio._redact import redact_headers, redact_text, redact_url
from batchaio.models import BatchError, BatchErrorDetail, BatchErrorMessage

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "BatchStatusError",
    "BatchaioError",
    "ClientClosedError",
    "ConflictError",
    "CredentialError",
    "DeadlineExceededError",
    "FileChangedError",
    "NotModifiedError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PreconditionFailedError",
    "RequestBodyTooLargeError",
    "RequestNotSentError",
    "ResponseParseError",
    "ServerError",
    "ThrottledError",
    "TransportError",
    "ValidationError",
    "decode_error_body",
    "error_class_for_status",
    "error_message",
    "parse_error_body",
]


class BatchaioError(Exception):
    """Base class of every exception raised by batchaio."""


class ValidationError(BatchaioError, ValueError):
    """Input that breaks a rule of the API, detected before any request is sent.

    ``field`` names the offending field as a dotted path from the object the caller passed in
    (``"value[3].command_line"``), or is ``None`` when the error is not about one field.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class TransportError(BatchaioError):
    """The call failed without an HTTP status: network trouble, timeouts, or the call's deadline.

    ``outcome_unknown`` is ``True`` when some attempt of the call may have reached the service and been
    applied (so a create may exist, an action may have happened); ``False`` when no attempt was ever sent.
    The underlying ``httpx`` exception, if any, is the ``__cause__``.
    """

    def __init__(
        self,
        message: str,
        *,
        outcome_unknown: bool,
        method: str | None = None,
        url: str | None = None,
        attempts: int = 1,
        client_request_id: str | None = None,
    ) -> None:
        self.outcome_unknown = outcome_unknown
        self.method = method
        self.url = redact_url(url) if url is not None else None
        self.attempts = attempts
        self.client_request_id = client_request_id
        where = f" ({method} {self.url})" if method and self.url else ""
        ids = f" client-request-id={client_request_id}" if client_request_id else ""
        super().__init__(f"{redact_text(message)}{where}; attempts={attempts}{ids}")


class RequestNotSentError(TransportError):
    """The request never reached the service (connection refused, DNS, TLS, pool exhausted...)."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, outcome_unknown=False, **kwargs)


class OutcomeUnknownError(TransportError):
    """The request may or may not have been applied by the service.

    Raised at once, without a retry, for operations that are not idempotent (node reboot, reimage, upload of
    service logs) when a connection drops or times out after the request was sent; raised for other operations
    when their retries are exhausted and some attempt had an unknown outcome.
    """

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, outcome_unknown=True, **kwargs)


class DeadlineExceededError(TransportError, builtins.TimeoutError):
    """The call's overall deadline (retries included) ran out while an attempt was in flight."""


class BatchStatusError(BatchaioError):
    """The service answered with an error status.

    Attributes: ``status_code``; ``error`` (the Batch error body as the generated
    :class:`~batchaio.models.BatchError`, redacted, ``None`` without a body); ``headers`` (the response
    headers, redacted); ``code`` (Batch error code such as ``"JobNotFound"``, ``None`` if absent);
    ``message`` (the
    error's ``message.value`` without the service's ``RequestId:``/``Time:`` trailer, possibly empty);
    ``values`` (dict of the error's key/value details, e.g. ``{"Reason": ...}``); ``request_id`` (server) and
    ``client_request_id``; ``retry_after`` (seconds the service asked to wait, or ``None``); ``attempts``;
    ``prior_outcome_unknown`` (an earlier attempt of the same call may have been applied, so e.g. a 412 may be
    caused by our own earlier write); ``method`` and ``url`` (redacted).
    """

    def __init__(
        self,
        status_code: int,
        *,
        error: BatchError | None = None,
        headers: Mapping[str, str] | None = None,
        code: str | None = None,
        message: str | None = None,
        values: Mapping[str, str] | None = None,
        request_id: str | None = None,
        client_request_id: str | None = None,
        retry_after: float | None = None,
        attempts: int = 1,
        prior_outcome_unknown: bool = False,
        method: str | None = None,
        url: str | None = None,
        hint: str | None = None,
    ) -> None:
        error = _redacted_error(error) if error is not None else None
        self.status_code = status_code
        self.error = error
        self.headers = redact_headers(headers or {})
        self.code = code if code is not None else (error.code if error is not None else None)
        raw_message = message if message is not None else _message_of(error)
        self.message = error_message(redact_text(raw_message))
        self.values = {key: redact_text(value) for key, value in (values or _values_of(error)).items()}
        self.request_id = request_id
        self.client_request_id = client_request_id
        self.retry_after = retry_after
        self.attempts = attempts
        self.prior_outcome_unknown = prior_outcome_unknown
        self.method = method
        self.url = redact_url(url) if url is not None else None
        self.hint = hint
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = f"{self.status_code} {self.code or 'error'}"
        summary = " ".join(line.strip() for line in self.message.splitlines() if line.strip())
        if summary:
            text += f": {summary}"
        if self.hint:
            text += f" ({self.hint})"
        if self.method and self.url:
            text += f" ({self.method} {self.url})"
        ids = [
            f"{name}={value}"
            for name, value in (
                ("request-id", self.request_id),
                ("client-request-id", self.client_request_id),
            )
            if value
        ]
        if ids:
            text += f" [{', '.join(ids)}]"
        return text


class BadRequestError(BatchStatusError):
    """400: the service rejected the request as malformed or invalid."""


class AuthenticationError(BatchStatusError):
    """401 or 403: the credential was refused (``AuthenticationFailed``) or lacks permission."""


class NotFoundError(BatchStatusError):
    """404: the pool, job, task, node, file... does not exist (``JobNotFound``, ``TaskNotFound``...)."""


class ConflictError(BatchStatusError):
    """409: already exists (``*Exists``), being deleted (``*BeingDeleted``), wrong state, or quota reached."""


class PreconditionFailedError(BatchStatusError):
    """412: an ``If-Match`` / ``If-Unmodified-Since`` condition did not hold (``ConditionNotMet``)."""


class RequestBodyTooLargeError(BatchStatusError):
    """413: the body was over the service's limit (``values["MaxLimit"]`` gives it in bytes)."""


class ThrottledError(BatchStatusError):
    """429: too many requests; ``retry_after`` holds the seconds the service asked to wait, if any."""


class ServerError(BatchStatusError):
    """5xx: the service (or a proxy in front of it) failed or is busy."""


_BY_STATUS: dict[int, type[BatchStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    412: PreconditionFailedError,
    413: RequestBodyTooLargeError,
    429: ThrottledError,
}


def error_class_for_status(status_code: int) -> type[BatchStatusError]:
    """Return the exception class that represents an error response with ``status_code``."""
    cls = _BY_STATUS.get(status_code)
    if cls is not None:
        return cls
    if 500 <= status_code <= 599:
        return ServerError
    return BatchStatusError


# The service ends error messages with "\nRequestId:<id>\nTime:<when>"; the ids are fields of their own.
_TRAILER = re.compile(r"(?:\r?\n\s*(?:RequestId|Time):[^\n]*)+\s*$")


def error_message(text: str) -> str:
    """A Batch error message without the service's ``RequestId:...``/``Time:...`` trailer lines.

    ``"The specified job does not exist.\\nRequestId:...\\nTime:..."`` becomes
    ``"The specified job does not exist."``. Used for every status error and for bulk per-task failures.
    """
    return _TRAILER.sub("", text).strip() if "\n" in text else text.strip()


def decode_error_body(content: bytes) -> BatchError | None:
    """The Batch error in an error response body, decoded once into the generated model.

    Tolerates an empty body (``None``), a body that is not JSON (its first 200 characters become the
    message), and any missing or oddly typed field; ``values`` entries use ``key`` (or ``name``, as autoscale
    errors do) and ``value``. Not redacted: :class:`BatchStatusError` redacts what it keeps.
    """
    if not content:
        return None
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        text = content[:200].decode("utf-8", "replace").strip()
        return BatchError(message=BatchErrorMessage(value=text))
    if not isinstance(body, dict):
        return BatchError()
    return error_from_data(body)


def error_from_data(body: Mapping[str, Any]) -> BatchError:
    """A :class:`~batchaio.models.BatchError` from an already parsed error object (tolerant, as above)."""
    code = body.get("code")
    raw_message = body.get("message")
    if isinstance(raw_message, dict):
        lang, text = raw_message.get("lang"), raw_message.get("value")
    else:
        lang, text = None, raw_message
    details = []
    raw_values = body.get("values")
    for entry in raw_values if isinstance(raw_values, list) else ():
        key = entry.get("key", entry.get("name")) if isinstance(entry, dict) else None
        if key is not None:
            value = entry.get("value")
            details.append(BatchErrorDetail(key=str(key), value="" if value is None else str(value)))
    message = None
    if text is not None or lang is not None:
        message = BatchErrorMessage(
            lang=str(lang) if lang is not None else None, value=str(text) if text is not None else None
        )
    return BatchError(code=str(code) if code is not None else None, message=message, values=details or None)


def _message_of(error: BatchError | None) -> str:
    if error is None or error.message is None or error.message.value is None:
        return ""
    return error.message.value


def _values_of(error: BatchError | None) -> dict[str, str]:
    if error is None or not error.values:
        return {}
    return {detail.key: detail.value or "" for detail in error.values if detail.key is not None}


def _redacted_error(error: BatchError) -> BatchError:
    message = error.message
    if message is not None and message.value is not None:
        message = BatchErrorMessage(lang=message.lang, value=redact_text(message.value))
    values = None
    if error.values is not None:
        values = [
            BatchErrorDetail(
                key=detail.key, value=redact_text(detail.value) if detail.value else detail.value
            )
            for detail in error.values
        ]
    return BatchError(code=error.code, message=message, values=values)


def parse_error_body(content: bytes) -> tuple[str | None, str, dict[str, str]]:
    """``(code, message, values)`` of a Batch error body (see :func:`decode_error_body`), message as sent."""
    error = decode_error_body(content)
    return (error.code if error is not None else None), _message_of(error), _values_of(error)


class CredentialError(BatchaioError):
    """The credential could not give a token: its ``get_token`` raised (``__cause__`` is its exception).
    Nothing was sent."""


class ClientClosedError(TransportError):
    """The client was closed while this call was waiting or in flight (or before it started).

    ``outcome_unknown`` says whether the request may have reached the service before the close.
    """


class FileChangedError(BatchaioError):
    """A download was interrupted and, when resumed, the file was no longer the one being read (its ETag or
    Last-Modified changed), so the parts received cannot be joined. Start the download again."""


class _AboutResponse(BatchaioError):
    """An error about a response received with a success status: ``metadata`` (a
    :class:`~batchaio.ResponseMetadata`: status, request IDs, ETag, Last-Modified) and ``operation`` (the
    operation ID, e.g. ``"Jobs_GetJob"``) are kept, and the request IDs are shown in the message."""

    def __init__(self, message: str, *, metadata: Any = None, operation: str | None = None) -> None:
        message = redact_text(message)  # a value quoted from the body may be a SAS URL
        self.metadata = metadata
        self.operation = operation
        self.status_code: int | None = getattr(metadata, "status_code", None)
        self.request_id: str | None = getattr(metadata, "request_id", None)
        self.client_request_id: str | None = getattr(metadata, "client_request_id", None)
        details = [f"operation={operation}"] if operation else []
        ids = (("request-id", self.request_id), ("client-request-id", self.client_request_id))
        details += [f"{name}={value}" for name, value in ids if value]
        super().__init__(f"{message} [{', '.join(details)}]" if details else message)


class NotModifiedError(_AboutResponse):
    """A conditional read (``if_none_match``, ``if_modified_since``) was answered 304 Not Modified: the copy
    the caller already holds is current and no body came back. ``metadata.etag`` and
    ``metadata.last_modified`` describe the current version."""


class ResponseParseError(_AboutResponse):
    """The service answered with a success status, but the body or headers could not be read as the
    operation's result (not JSON, a value of the wrong type, an empty listing body, a download that is not
    the byte range asked for). The underlying exception, if any, is the ``__cause__``."""

"""What a call returns besides its data: response metadata and the pipeline's response objects.

:class:`ResponseMetadata` holds the headers that matter (ETag, Last-Modified, request ids, Location,
DataServiceId, status code) and is what create/update/action operations return. :class:`BatchResponse` is a
fully read response as the pipeline's ``send`` returns it; :class:`BatchStreamResponse` is its streamed
counterpart for downloads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import orjson

from batchaio._http import TransportFailed
from batchaio._redact import redact_url
from batchaio.errors import OutcomeUnknownError

if TYPE_CHECKING:
    from batchaio._http import HttpResponse

__all__ = ["BatchResponse", "BatchStreamResponse", "ResponseMetadata", "parse_http_date"]


class _HasStatusAndHeaders(Protocol):
    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


def parse_http_date(value: str | None) -> dt.datetime | None:
    """Parse an RFC 1123 date (``Mon, 01 Jul 2024 10:15:30 GMT``) into an aware UTC datetime, or ``None``."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


@attrs.frozen(kw_only=True)
class ResponseMetadata:
    """The response headers that matter, parsed; returned by create, update and action calls.

    ``etag`` is given as the service sends it (unquoted). ``applied_by_earlier_attempt`` is ``True`` when the
    service answered a retry with "already exists" / "not found" / "already in that state" after an earlier
    attempt whose outcome was unknown: the pipeline then treats the call as done by that earlier attempt, and
    ``status_code`` is the status of the final answer (e.g. 409). ``prior_outcome_unknown`` is ``True`` when
    an earlier attempt of the call failed with an unknown outcome (so, for addtaskcollection, a per-task
    ``TaskExists`` may be our own earlier success). ``client_request_id`` is the id the service echoed, or
    else the one the client sent.
    """

    status_code: int
    request_id: str | None = None
    client_request_id: str | None = None
    etag: str | None = None
    last_modified: dt.datetime | None = None
    location: str | None = attrs.field(
        default=None, repr=lambda value: repr(redact_url(value) if value else value)
    )
    data_service_id: str | None = None
    attempts: int = 1
    applied_by_earlier_attempt: bool = False
    prior_outcome_unknown: bool = False

    @classmethod
    def from_response(
        cls,
        response: _HasStatusAndHeaders,
        *,
        attempts: int = 1,
        applied_by_earlier_attempt: bool = False,
        prior_outcome_unknown: bool = False,
        sent_client_request_id: str | None = None,
    ) -> ResponseMetadata:
        """Build from anything with ``status_code`` and ``headers`` (e.g. ``httpx.Response``).

        ``sent_client_request_id`` stands in when the service did not echo ``client-request-id``.
        """
        headers = response.headers
        return cls(
            status_code=response.status_code,
            request_id=headers.get("request-id"),
            client_request_id=headers.get("client-request-id") or sent_client_request_id,
            etag=headers.get("etag"),
            last_modified=parse_http_date(headers.get("last-modified")),
            location=headers.get("location"),
            data_service_id=headers.get("dataserviceid"),
            attempts=attempts,
            applied_by_earlier_attempt=applied_by_earlier_attempt,
            prior_outcome_unknown=prior_outcome_unknown,
        )


class BatchResponse:
    """A response whose body has been read, as returned by ``Pipeline.send``.

    ``metadata`` is parsed from the headers on first use (most calls never look at it).
    ``prior_outcome_unknown``: see :attr:`ResponseMetadata.prior_outcome_unknown` (the same value).
    """

    __slots__ = (
        "_applied",
        "_attempts",
        "_metadata",
        "_sent_client_request_id",
        "content",
        "headers",
        "method",
        "prior_outcome_unknown",
        "status_code",
        "url",
    )

    def __init__(
        self,
        *,
        status_code: int,
        headers: Mapping[str, str],
        content: bytes,
        method: str,
        url: str,
        metadata: ResponseMetadata | None = None,
        prior_outcome_unknown: bool = False,
        attempts: int = 1,
        applied_by_earlier_attempt: bool = False,
        sent_client_request_id: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content
        self.method = method
        self.url = url
        self.prior_outcome_unknown = prior_outcome_unknown
        self._metadata = metadata
        self._attempts = attempts
        self._applied = applied_by_earlier_attempt
        self._sent_client_request_id = sent_client_request_id

    @property
    def metadata(self) -> ResponseMetadata:
        """The standard response headers, parsed (see :class:`ResponseMetadata`)."""
        if self._metadata is None:
            self._metadata = ResponseMetadata.from_response(
                self,
                attempts=self._attempts,
                applied_by_earlier_attempt=self._applied,
                prior_outcome_unknown=self.prior_outcome_unknown,
                sent_client_request_id=self._sent_client_request_id,
            )
        return self._metadata

    def json(self) -> Any:
        """The body decoded as JSON (``None`` for an empty body)."""
        return orjson.loads(self.content) if self.content else None

    @property
    def applied_by_earlier_attempt(self) -> bool:
        """See :attr:`ResponseMetadata.applied_by_earlier_attempt`."""
        return self.metadata.applied_by_earlier_attempt

    def __repr__(self) -> str:
        return f"<BatchResponse [{self.status_code}] {self.method} {redact_url(self.url)}>"


class BatchStreamResponse:
    """A successful response whose body is still on the wire (downloads).

    Iterate with :meth:`aiter_bytes`; the pipeline closes it when its ``stream`` context exits. A connection
    failure while reading raises :class:`~batchaio.errors.OutcomeUnknownError` (for a download, this only
    means the body is incomplete; resume with ``ocp-range``).
    """

    __slots__ = ("_response", "metadata", "method", "url")

    def __init__(self, response: HttpResponse, metadata: ResponseMetadata, *, method: str, url: str) -> None:
        self._response = response
        self.metadata = metadata
        self.method = method
        self.url = url

    @property
    def status_code(self) -> int:
        """HTTP status of the response."""
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        """Response headers (case-insensitive)."""
        return self._response.headers

    async def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """Yield the body in chunks as it arrives."""
        try:
            async for chunk in self._response.aiter_bytes(chunk_size):
                yield chunk
        except TransportFailed as exc:
            raise OutcomeUnknownError(
                f"the connection failed while reading the body: {exc.name}",
                method=self.method,
                url=self.url,
                client_request_id=self.metadata.client_request_id,
            ) from exc.__cause__

    async def aread(self) -> bytes:
        """Read the rest of the body."""
        return b"".join([chunk async for chunk in self.aiter_bytes()])

    def __repr__(self) -> str:
        return f"<BatchStreamResponse [{self.status_code}]>"

"""What every resource group shares: argument rendering, the ``Call`` that binds a request to its parser, and
the typed raw-response wrapper.

Each generated operation has a private builder ``_<method>`` that validates the arguments and returns a
:class:`Call` (the request plus how to read its response) without sending anything; ``<method>`` sends it and
returns the parsed result, ``client.with_raw_response.<group>.<method>`` sends it and returns a
:class:`RawResponse`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import TYPE_CHECKING, Generic, ParamSpec, TypeVar

import attrs

from batchaio import _constants as C
from batchaio._files import BatchFileProperties
from batchaio._ids import entity_id
from batchaio._response import BatchResponse, ResponseMetadata
from batchaio._results import read_result
from batchaio._serde import decode, encode
from batchaio._serde import format_datetime as format_wire_datetime
from batchaio._transport import BatchRequest
from batchaio.errors import ValidationError
from batchaio.filters import Filter
from batchaio.models import (
    BatchJobCreateContent,
    BatchJobScheduleCreateContent,
    BatchPoolCreateContent,
    BatchTaskCreateContent,
    BatchTaskGroup,
)

if TYPE_CHECKING:
    from batchaio._transport import Pipeline

__all__ = [
    "Call",
    "RawResponse",
    "Resource",
    "bool_query",
    "conditional_headers",
    "datetime_query",
    "list_query",
    "raw_response",
]

T = TypeVar("T")
P = ParamSpec("P")


class Resource:
    """Base of the resource groups (``client.pools``, ``client.tasks``...): holds the client's pipeline."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    def _request(
        self,
        operation_id: str,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        server_timeout: int | None = None,
        client_request_id: str | None = None,
    ) -> BatchRequest:
        return BatchRequest(
            operation_id=operation_id,
            method=method,
            path=path,
            query=dict(query or {}),
            headers=dict(headers or {}),
            content=content,
            server_timeout=server_timeout,
            client_request_id=client_request_id,
        )


@attrs.frozen
class Call(Generic[T]):
    """One prepared request and the function that reads its response into a ``T``."""

    pipeline: Pipeline
    request: BatchRequest
    parse: Callable[[BatchResponse], T]
    when_missing: Callable[[], T] | None = None

    async def send(self) -> T:
        """Send the request and return the parsed result."""
        response = await self._send()
        if self.when_missing is not None and response.status_code == 404:
            return self.when_missing()
        return read_result(self.parse, response, self.request.operation_id)

    async def send_raw(self) -> RawResponse[T]:
        """Send the request and return the response with a deferred parser.

        For the existence checks a 404 is a response too: its :meth:`RawResponse.parse` returns ``False``.
        """
        operation = self.request.operation_id
        response = await self._send()
        if self.when_missing is not None and response.status_code == 404:
            when_missing = self.when_missing
            return RawResponse(response, lambda _: when_missing(), operation)
        return RawResponse(response, self.parse, operation)

    async def _send(self) -> BatchResponse:
        """One pipeline call; for the existence checks the pipeline returns a 404 as the answer."""
        request = self.request
        if self.when_missing is not None:
            request = attrs.evolve(request, missing_is_an_answer=True)
        return await self.pipeline.send(request)


class RawResponse(Generic[T]):
    """A response as received, with :meth:`parse` giving what the plain method would have returned."""

    def __init__(
        self, response: BatchResponse, parser: Callable[[BatchResponse], T], operation: str = ""
    ) -> None:
        self._response = response
        self._parser = parser
        self._operation = operation

    @property
    def status_code(self) -> int:
        """HTTP status code."""
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        """Response headers (case-insensitive)."""
        return self._response.headers

    @property
    def content(self) -> bytes:
        """Response body bytes."""
        return self._response.content

    @property
    def metadata(self) -> ResponseMetadata:
        """Request IDs, ETag, Last-Modified and the other standard response headers."""
        return self._response.metadata

    def parse(self) -> T:
        """Parse the body (or headers) into the result type of the operation.

        Raises :class:`~batchaio.errors.NotModifiedError` for a 304 and
        :class:`~batchaio.errors.ResponseParseError` when the body does not fit the result type.
        """
        return read_result(self._parser, self._response, self._operation)

    def __repr__(self) -> str:
        return f"<RawResponse [{self.status_code}]>"


def raw_response(builder: Callable[P, Call[T]]) -> Callable[P, Awaitable[RawResponse[T]]]:
    """From a bound ``_<method>`` builder, an async function returning the :class:`RawResponse`."""

    @functools.wraps(builder)
    async def send_raw(*args: P.args, **kwargs: P.kwargs) -> RawResponse[T]:
        return await builder(*args, **kwargs).send_raw()

    return send_raw


# --- Response readers -------------------------------------------------------------------------------------


def metadata(response: BatchResponse) -> ResponseMetadata:
    """Result of create, update and action calls: the standard response headers."""
    return response.metadata


def model(cls: type[T]) -> Callable[[BatchResponse], T]:
    """Reader of a JSON body into ``cls``."""

    def read(response: BatchResponse) -> T:
        return decode(cls, response.content)

    return read


def exists(response: BatchResponse) -> bool:
    """Result of the HEAD existence checks on a 2xx answer."""
    return True


def missing() -> bool:
    """Result of the HEAD existence checks on a 404 answer."""
    return False


def file_properties(response: BatchResponse) -> BatchFileProperties:
    """Result of the HEAD file-properties calls."""
    return BatchFileProperties.from_headers(response.headers)


# --- Argument rendering -----------------------------------------------------------------------------------


def list_query(
    *,
    filter: str | Filter | None = None,
    select: Sequence[str] | None = None,
    expand: Sequence[str] | None = None,
    max_results: int | None = None,
    max_results_limit: int = C.MAX_RESULTS_LIMIT,
) -> dict[str, str]:
    """The OData query of list and get operations (``$filter``, ``$select``, ``$expand``, ``maxresults``)."""
    query: dict[str, str] = {}
    if filter is not None:
        text = str(filter)
        _no_control("filter", text)
        if text:
            query["$filter"] = text
    if select is not None:
        query["$select"] = _names("select", select)
    if expand is not None:
        query["$expand"] = _names("expand", expand)
    if max_results is not None:
        if isinstance(max_results, bool) or not isinstance(max_results, int):
            raise ValidationError("max_results must be an int", field="max_results")
        if not 1 <= max_results <= max_results_limit:
            raise ValidationError(
                f"max_results must be between 1 and {max_results_limit}, got {max_results}",
                field="max_results",
            )
        query["maxresults"] = str(max_results)
    return query


def bool_query(field: str, value: bool | None) -> dict[str, str]:
    """A boolean query flag (``force``, ``recursive``) when given."""
    if value is None:
        return {}
    if not isinstance(value, bool):
        raise ValidationError(f"{field} must be a bool", field=field)
    return {_WIRE_NAMES.get(field, field): "true" if value else "false"}


def datetime_query(field: str, value: datetime | None) -> dict[str, str]:
    """A date-time query parameter (``starttime``, ``endtime``) in RFC 3339 UTC; naive datetimes refused."""
    if value is None:
        return {}
    if not isinstance(value, datetime):
        raise ValidationError(f"{field} must be a datetime", field=field)
    return {_WIRE_NAMES[field]: format_wire_datetime(value, field)}


def conditional_headers(
    *,
    if_match: str | None = None,
    if_none_match: str | None = None,
    if_modified_since: datetime | None = None,
    if_unmodified_since: datetime | None = None,
) -> dict[str, str]:
    """The conditional request headers: ETags quoted, date-times in RFC 1123."""
    headers: dict[str, str] = {}
    if if_match is not None:
        headers["If-Match"] = _etag("if_match", if_match)
    if if_none_match is not None:
        headers["If-None-Match"] = _etag("if_none_match", if_none_match)
    if if_modified_since is not None:
        headers["If-Modified-Since"] = http_date("if_modified_since", if_modified_since)
    if if_unmodified_since is not None:
        headers["If-Unmodified-Since"] = http_date("if_unmodified_since", if_unmodified_since)
    return headers


def range_header(offset: int, length: int | None) -> dict[str, str]:
    """``ocp-range: bytes=START-END`` (inclusive) for a download of ``length`` bytes from ``offset``."""
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValidationError("offset must be a non-negative int", field="offset")
    if length is None:
        return {"ocp-range": f"bytes={offset}-"} if offset else {}
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValidationError("length must be a positive int or None", field="length")
    return {"ocp-range": f"bytes={offset}-{offset + length - 1}"}


def http_date(field: str, value: datetime) -> str:
    """RFC 1123 rendering of a timezone-aware datetime."""
    return format_datetime(_utc(field, value), usegmt=True)


def path(template: str, *segments: str) -> str:
    """Fill the ``{}`` slots of a path template with already checked and encoded segments."""
    return template.format(*segments)


def body(field: str, value: object, expected: type) -> bytes:
    """Check that a body argument has the model type the operation sends, and encode it."""
    if not isinstance(value, expected):
        raise ValidationError(
            f"{field} must be a {expected.__name__}, not {type(value).__name__}", field=field
        )
    if isinstance(value, _CREATED) and value.id is not None:
        entity_id(value.id, "id")
    return encode(value)


def optional_body(field: str, value: object, expected: type) -> bytes | None:
    """:func:`body` for operations whose body may be left out."""
    return None if value is None else body(field, value, expected)


def check_task_collection(group: BatchTaskGroup) -> None:
    """``add_collection`` sends at most 100 tasks in one request."""
    if not isinstance(group, BatchTaskGroup):
        raise ValidationError(
            f"task_collection must be a BatchTaskGroup, not {type(group).__name__}", field="task_collection"
        )
    count = len(group.value or ())
    if not 1 <= count <= C.MAX_TASKS_PER_COLLECTION:
        raise ValidationError(
            f"task_collection.value holds {count} tasks: add_collection takes 1 to "
            f"{C.MAX_TASKS_PER_COLLECTION} (use add_many for more)",
            field="task_collection.value",
        )
    for index, task in enumerate(group.value or ()):
        if isinstance(task, BatchTaskCreateContent) and task.id is not None:
            entity_id(task.id, f"value[{index}].id")


# Bodies that create an entity: their ``id`` must follow the strict rule of new IDs.
_CREATED = (
    BatchPoolCreateContent,
    BatchJobCreateContent,
    BatchJobScheduleCreateContent,
    BatchTaskCreateContent,
)


# Query names are sent in lower case, as the Shared Key rules expect and the REST reference spells them.
_WIRE_NAMES = {"start_time": "starttime", "end_time": "endtime"}


def _utc(field: str, value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise ValidationError(f"{field} must be a datetime", field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(f"{field} must be timezone-aware (a naive datetime is ambiguous)", field=field)
    return value.astimezone(timezone.utc)


def _etag(field: str, value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{field} must be a non-empty ETag string", field=field)
    _no_control(field, value)
    if value == "*" or (len(value) >= 2 and value.startswith('"') and value.endswith('"')):
        return value
    if value.startswith('W/"'):
        return value
    return f'"{value}"'


def _names(field: str, names: Sequence[str]) -> str:
    if isinstance(names, str):
        raise ValidationError(f"{field} must be a sequence of property names, not one str", field=field)
    items = list(names)
    for name in items:
        if not isinstance(name, str) or not name or "," in name:
            raise ValidationError(f"{field} items must be non-empty property names without ','", field=field)
        _no_control(field, name)
    if not items:
        raise ValidationError(f"{field} must name at least one property", field=field)
    return ",".join(items)


def _no_control(field: str, value: str) -> None:
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValidationError(f"{field} must not contain control characters (CR, LF...)", field=field)

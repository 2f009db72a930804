"""What every resource group shares: the one way an operation is sent, argument rendering and the typed
raw-response view.

Each generated operation is one method: it checks and renders its arguments, then hands the request and the
reader of its result to :meth:`Resource._call` (or :meth:`Resource._pager` for listings). The per-call options
(``timeout``, ``retry``, ``deadline``, ``server_timeout``, ``client_request_id``) go over the defaults of the
group into the pipeline's request. ``client.with_raw_response.<group>.<method>`` is the same method bound to a
copy of the group that answers with the :class:`RawResponse` instead of the parsed result.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import TYPE_CHECKING, Generic, ParamSpec, TypeVar, cast

import attrs

from batchaio import _constants as C
from batchaio._files import BatchFileProperties
from batchaio._ids import entity_id
from batchaio._options import CallOptions, DefaultOptions, request_options
from batchaio._paging import AsyncPager
from batchaio._response import BatchResponse, ResponseMetadata
from batchaio._results import read_result
from batchaio._select import select_names
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
    from typing_extensions import Self

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

_NO_DEFAULTS: DefaultOptions = {}


class Resource:
    """Base of the resource groups (``client.pools``, ``client.tasks``...): the client's pipeline and the
    default per-call options of the client (or of its :meth:`~batchaio.BatchClient.with_options` view)."""

    def __init__(self, pipeline: Pipeline, defaults: DefaultOptions = _NO_DEFAULTS) -> None:
        self._pipeline = pipeline
        self._defaults = defaults
        self._raw = False

    def _as_raw(self) -> Self:
        """A copy of this group whose operations answer with a :class:`RawResponse`."""
        raw = copy.copy(self)
        raw._raw = True
        return raw

    def _request(
        self,
        operation_id: str,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        options: CallOptions,
    ) -> BatchRequest:
        return BatchRequest(
            operation_id=operation_id,
            method=method,
            path=path,
            query=dict(query or {}),
            headers=dict(headers or {}),
            content=content,
            **request_options(self._defaults, options, operation_id),
        )

    async def _call(
        self,
        read: Callable[[BatchResponse], T],
        operation_id: str,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        options: CallOptions,
        when_missing: Callable[[], T] | None = None,
    ) -> T:
        """Send one request and read its answer (or, on a raw view, return the :class:`RawResponse`)."""
        request = self._request(
            operation_id, method, path, query=query, headers=headers, content=content, options=options
        )
        call = Call(self._pipeline, request, read, when_missing)
        if self._raw:
            # The raw view's methods are typed by ``raw_response``; here the result is the RawResponse.
            return cast(T, await call.send_raw())
        return await call.send()

    def _pager(
        self,
        item_type: type[T],
        operation_id: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        options: CallOptions,
    ) -> AsyncPager[T]:
        """The pager of a listing (every listing is a GET)."""
        request = self._request(operation_id, "GET", path, query=query, options=options)
        return AsyncPager(self._pipeline, request, item_type)


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


def raw_response(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[RawResponse[T]]]:
    """An operation of a raw group (see :meth:`Resource._as_raw`), typed as returning the raw response."""
    return cast(Callable[P, Awaitable[RawResponse[T]]], method)


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
    model: type | None = None,
) -> dict[str, str]:
    """The OData query of list and get operations (``$filter``, ``$select``, ``$expand``, ``maxresults``).

    ``select`` names properties of ``model`` (the result, or the listed item) by field or wire name.
    """
    query: dict[str, str] = {}
    if filter is not None:
        text = str(filter)
        _no_control("filter", text)
        if text:
            query["$filter"] = text
    if select is not None:
        query["$select"] = _names("select", select, model)
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


def _names(field: str, names: Sequence[str], model: type | None = None) -> str:
    if isinstance(names, str):
        raise ValidationError(f"{field} must be a sequence of property names, not one str", field=field)
    items = list(names)
    for name in items:
        if not isinstance(name, str) or not name or "," in name:
            raise ValidationError(f"{field} items must be non-empty property names without ','", field=field)
        _no_control(field, name)
    if not items:
        raise ValidationError(f"{field} must name at least one property", field=field)
    return ",".join(items if model is None else select_names(model, items))


def _no_control(field: str, value: str) -> None:
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValidationError(f"{field} must not contain control characters (CR, LF...)", field=field)

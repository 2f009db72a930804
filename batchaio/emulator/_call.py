"""One request as the handlers see it, and the answers they build: JSON, empty, conditional, paged."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response

from batchaio.emulator import _constants as C
from batchaio.emulator._bodies import ITEM_MODELS, SELECTABLE
from batchaio.emulator._checks import _check_writable, check_body
from batchaio.emulator._faults import FaultInjector
from batchaio.emulator._odata import FILTERABLE, FilterError, Predicate, parse_filter, parse_select, project
from batchaio.emulator._state import Entity, Job, Store, TaskRecord
from batchaio.emulator._wire import JSON_CONTENT_TYPE, ServiceError, format_rfc1123, parse_http_date


class Call:
    """One request as the handlers see it."""

    def __init__(
        self,
        request: Request,
        store: Store,
        body_model: str | None = None,
        route: str = "",
        subscription: str = C.DEFAULT_SUBSCRIPTION,
    ) -> None:
        self.request = request
        self.store = store
        self.body_model = body_model
        # The route's path with its parameters emptied (``/jobs/{}/tasks``): what the operation is.
        self.route = route
        self.subscription = subscription
        self._raw: bytes | None = None
        self._parsed: dict[str, Any] | None = None
        self.now = time.time()
        host = request.headers.get("host", "127.0.0.1")
        self.base = f"{request.url.scheme}://{host}"
        self.query = {name.lower(): value for name, value in request.query_params.items()}
        self.params = request.path_params

    def q(self, name: str) -> str | None:
        return self.query.get(name.lower())

    def flag(self, name: str) -> bool:
        return (self.q(name) or "").lower() == "true"

    async def _read(self) -> bytes:
        """The request body, refused with 413 as soon as it grows past the limit (chunked bodies have no
        ``Content-Length`` to check beforehand)."""
        if self._raw is None:
            chunks: list[bytes] = []
            size = 0
            async for chunk in self.request.stream():
                size += len(chunk)
                if size > C.MAX_REQUEST_BODY_BYTES:
                    raise _too_large()
                chunks.append(chunk)
            self._raw = b"".join(chunks)
        return self._raw

    async def body(self, *, optional: bool = False) -> dict[str, Any]:
        """The JSON object of the body, checked against the operation's body model (once per request)."""
        if self._parsed is None:
            self._parsed = await self._parse(optional)
        return self._parsed

    async def _parse(self, optional: bool) -> dict[str, Any]:
        raw = await self._read()
        if not raw.strip():
            if optional:
                return {}
            raise ServiceError("InvalidRequestBody", values=[("Reason", "The request body is empty")])
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ServiceError(
                "InvalidRequestBody", values=[("Reason", "The body is not valid JSON")]
            ) from None
        if not isinstance(value, dict):
            raise ServiceError("InvalidRequestBody", values=[("Reason", "The body must be a JSON object")])
        if self.body_model is not None:
            _check_writable(value, self.body_model)
            if self.body_model in ITEM_MODELS:  # items are checked one by one: one bad task fails alone
                if not isinstance(value.get("value"), list):
                    raise ServiceError("MissingRequiredProperty", values=[("PropertyName", "value")])
            else:
                check_body(value, self.body_model, self.subscription)
        return value


def _too_large() -> ServiceError:
    return ServiceError("RequestBodyTooLarge", values=[("MaxLimit", str(C.MAX_REQUEST_BODY_BYTES))])


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(obj), status_code=status, headers=headers, media_type=JSON_CONTENT_TYPE)


def _empty(status: int, headers: dict[str, str] | None = None) -> Response:
    response = Response(b"", status_code=status, headers=headers)
    return response


def _entity_headers(entity: Entity, url: str | None = None) -> dict[str, str]:
    headers = {"ETag": entity.etag, "Last-Modified": format_rfc1123(entity.last_modified)}
    if url is not None:
        headers["DataServiceId"] = url
    return headers


def _created(entity: Entity, url: str) -> Response:
    headers = _entity_headers(entity, url)
    headers["Location"] = url
    return _empty(201, headers)


def _etags(value: str) -> list[str]:
    return [part.strip().removeprefix("W/").strip('"') for part in value.split(",") if part.strip()]


def _check_conditions(call: Call, etag: str, last_modified: float, *, read: bool) -> Response | None:
    """Apply If-Match / If-None-Match / If-Modified-Since / If-Unmodified-Since; 304 or 412 on failure."""
    headers = call.request.headers
    if_match = headers.get("if-match")
    if if_match is not None:
        tags = _etags(if_match)
        if "*" not in tags and etag not in tags:
            raise ServiceError("ConditionNotMet")
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = _etags(if_none_match)
        if "*" in tags or etag in tags:
            if read:
                return _empty(304, {"ETag": etag, "Last-Modified": format_rfc1123(last_modified)})
            raise ServiceError("ConditionNotMet")
    since = headers.get("if-modified-since")
    if since is not None:
        moment = parse_http_date(since)
        if moment is not None and int(last_modified) <= int(moment):
            if read:
                return _empty(304, {"ETag": etag, "Last-Modified": format_rfc1123(last_modified)})
            raise ServiceError("ConditionNotMet")
    unmodified = headers.get("if-unmodified-since")
    if unmodified is not None:
        moment = parse_http_date(unmodified)
        if moment is not None and int(last_modified) > int(moment):
            raise ServiceError("ConditionNotMet")
    return None


def _max_results(call: Call, limit: int) -> int:
    text = call.q("maxresults")
    if text is None:
        return min(C.MAX_RESULTS_DEFAULT, limit)
    try:
        value = int(text)
    except ValueError:
        value = None
    reason = None
    if value is None:
        reason = "MaxResults must be an integer"
    elif value < 1:
        reason = "MaxResults cannot be less than 1"
    elif value > limit:
        reason = f"MaxResults cannot be greater than {limit}"
    if reason is not None or value is None:
        raise ServiceError(
            "InvalidQueryParameterValue",
            values=[
                ("QueryParameterName", "maxresults"),
                ("QueryParameterValue", text),
                ("Reason", reason or ""),
            ],
        )
    return value


def _page(
    call: Call,
    metadata: str,
    items: Callable[[int], Iterator[tuple[int, Any]]],
    render: Callable[[Any], dict[str, Any]],
    *,
    limit: int = C.MAX_RESULTS_LIMIT,
    filterable: bool = True,
) -> Response:
    """One page of a list: ``maxresults``, ``$filter``, ``$select`` and ``$skiptoken`` handling."""
    size = _max_results(call, limit)
    start = _skip_position(call)
    predicate = _predicate(call) if filterable else None
    selected = _selection(call)
    values: list[dict[str, Any]] = []
    next_position: int | None = None
    scanned = 0
    for position, item in items(start):
        if len(values) >= size or scanned >= C.MAX_SCANNED_PER_PAGE:
            next_position = position
            break
        scanned += 1
        rendered = render(item)
        if predicate is not None and not predicate(rendered):
            continue
        values.append(project(rendered, selected) if selected else rendered)
    body: dict[str, Any] = {"odata.metadata": f"{call.base}/$metadata#{metadata}", "value": values}
    if next_position is not None:
        pairs = [
            (k, v) for k, v in parse_qsl(call.request.url.query, keep_blank_values=True) if k != "$skiptoken"
        ]
        pairs.append(("$skiptoken", f"emu:{next_position}"))
        query = urlencode(pairs, quote_via=quote, safe="$:")
        body["odata.nextLink"] = f"{call.base}{call.request.url.path}?{query}"
    return _json(body)


def _skip_position(call: Call) -> int:
    """Where the page starts in the listing: the position in the ``$skiptoken`` of a next link, or 0."""
    token = call.q("$skiptoken")
    if not token:
        return 0
    try:
        return int(token.removeprefix("emu:"))
    except ValueError:
        raise ServiceError(
            "InvalidQueryParameterValue",
            values=[("QueryParameterName", "$skiptoken"), ("QueryParameterValue", token)],
        ) from None


def _predicate(call: Call) -> Predicate | None:
    """The compiled ``$filter`` of the request, limited to what its operation accepts (``None`` without)."""
    filter_text = call.q("$filter")
    if not filter_text:
        return None
    try:
        return parse_filter(filter_text, FILTERABLE.get(call.route))
    except FilterError as error:
        raise ServiceError(
            "InvalidQueryParameterValue",
            values=[
                ("QueryParameterName", "$filter"),
                ("QueryParameterValue", filter_text),
                ("Reason", str(error)),
            ],
        ) from None


def _selection(call: Call) -> list[str] | None:
    """The property names of ``$select`` (``None`` without one); 400 ``InvalidQueryParameterValue`` for a
    name the operation's result does not have."""
    text = call.q("$select")
    if not text:
        return None
    names = parse_select(text)
    known = SELECTABLE.get(call.route)
    if known is not None:
        lowered = {name.lower() for name in known}
        for name in names:
            if name.lower() not in lowered:
                raise ServiceError(
                    "InvalidQueryParameterValue",
                    values=[
                        ("QueryParameterName", "$select"),
                        ("QueryParameterValue", text[:200]),
                        ("Reason", f"{name} is not a property this operation returns"),
                    ],
                )
    return names


def _listing(values: list[Any]) -> Callable[[int], Iterator[tuple[int, Any]]]:
    def items(start: int) -> Iterator[tuple[int, Any]]:
        for position in range(start, len(values)):
            yield position, values[position]

    return items


def _single(
    call: Call, metadata: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    selected = _selection(call)
    if selected:
        body = project(body, selected)
    return _json({"odata.metadata": f"{call.base}/$metadata#{metadata}", **body}, headers=headers)


Handler = Callable[[Call], Awaitable[Response]]


class Routes:
    """What every group of route handlers works with; ``EmulatorApp`` sets it up."""

    store: Store
    faults: FaultInjector
    subscription_id: str
    account: str
    work_root: Path | None

    def _task(self, call: Call) -> tuple[Job, TaskRecord]:
        job = self.store.job(call.params["jobId"], call.now)
        return job, self.store.task(job, call.params["taskId"], call.now)

"""The HTTP surface: Starlette routes for the operations and the outer ASGI layer (auth, faults, headers)."""

from __future__ import annotations

import copy
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode

import anyio
import httpx
import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route, Router

from batchaio.emulator import _constants as C
from batchaio.emulator._auth import verify_request
from batchaio.emulator._bodies import BODY_MODELS, ITEM_MODELS, WRITABLE
from batchaio.emulator._faults import FaultInjector, retry_after_headers
from batchaio.emulator._files import FileEntry, node_files, task_files
from batchaio.emulator._odata import FilterError, parse_filter, parse_select, project
from batchaio.emulator._render import (
    NODE_COUNT_FIELDS,
    certificate_url,
    job_url,
    node_url,
    pool_url,
    render_certificate,
    render_job,
    render_node,
    render_pool,
    render_schedule,
    render_task,
    schedule_url,
    task_url,
)
from batchaio.emulator._state import (
    Certificate,
    Entity,
    Job,
    JobSchedule,
    Pool,
    Store,
    TaskRecord,
    valid_id,
)
from batchaio.emulator._wire import (
    JSON_CONTENT_TYPE,
    ServiceError,
    error_body,
    format_rfc1123,
    format_time,
    new_request_id,
    parse_duration,
    parse_http_date,
)

if TYPE_CHECKING:
    from starlette.types import Message, Receive, Scope, Send

__all__ = ["ConnectionDropped", "EmulatorApp"]


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised by the ASGI app to drop the connection without an answer.

    Over real HTTP the emulator's server closes the socket instead; through ``httpx.ASGITransport`` the client
    sees this exception, which is an ``httpx.RemoteProtocolError`` as a real dropped connection would be.
    """

    def __init__(self) -> None:
        super().__init__("the emulator dropped the connection (fault injection)")


class Call:
    """One request as the handlers see it."""

    def __init__(self, request: Request, store: Store, body_model: str | None = None) -> None:
        self.request = request
        self.store = store
        self.body_model = body_model
        self.now = time.time()
        host = request.headers.get("host", "127.0.0.1")
        self.base = f"{request.url.scheme}://{host}"
        self.query = {name.lower(): value for name, value in request.query_params.items()}
        self.params = request.path_params

    def q(self, name: str) -> str | None:
        return self.query.get(name.lower())

    def flag(self, name: str) -> bool:
        return (self.q(name) or "").lower() == "true"

    async def body(self, *, optional: bool = False) -> dict[str, Any]:
        raw = await self.request.body()
        if len(raw) > C.MAX_REQUEST_BODY_BYTES:
            raise _too_large()
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
        return value


def _check_writable(body: dict[str, Any], model: str) -> None:
    """400 ``InvalidRequestBody`` naming the first top-level property ``model`` does not let a client set."""
    item_model = ITEM_MODELS.get(model)
    if item_model is not None:
        items = body.get("value")
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict):
                _check_writable(item, item_model)
        return
    for name in body:
        if name not in WRITABLE[model]:
            raise ServiceError(
                "InvalidRequestBody",
                values=[
                    ("PropertyName", name),
                    ("Reason", f"{name} is read-only or not a property of {model}"),
                ],
            )


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


def _require_id(doc: dict[str, Any], name: str = "id") -> str:
    value = doc.get(name)
    if value is None:
        raise ServiceError("MissingRequiredProperty", values=[("PropertyName", name)])
    if not valid_id(value):
        raise ServiceError(
            "InvalidPropertyValue",
            values=[("PropertyName", name), ("PropertyValue", str(value)[:100]), ("Reason", "Invalid id")],
        )
    return str(value)


def _check_pool_info(value: Any, name: str) -> None:
    """A ``poolInfo`` must be an object whose ``poolId``, when given, is a valid id (it names directories)."""
    if not isinstance(value, dict):
        raise _invalid(name, "poolInfo must be a JSON object")
    if "poolId" in value and not valid_id(value["poolId"]):
        raise _invalid(f"{name}.poolId", "Invalid id", value["poolId"])


def _invalid(name: str, reason: str, value: Any = None) -> ServiceError:
    values = [("PropertyName", name)]
    if value is not None:
        values.append(("PropertyValue", str(value)[:100]))
    values.append(("Reason", reason))
    return ServiceError("InvalidPropertyValue", values=values)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_task_types(doc: dict[str, Any]) -> None:
    """``InvalidPropertyValue`` for a task property of the wrong JSON type (checked before anything is
    stored, so a bad value cannot break later reads of the job's tasks)."""
    objects = ("constraints", "dependsOn", "multiInstanceSettings", "userIdentity", "exitConditions")
    for name in objects:
        if doc.get(name) is not None and not isinstance(doc[name], dict):
            raise _invalid(name, f"{name} must be a JSON object")
    for name in ("environmentSettings", "resourceFiles", "outputFiles", "applicationPackageReferences"):
        value = doc.get(name)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
            raise _invalid(name, f"{name} must be a list of JSON objects")
    for setting in doc.get("environmentSettings") or []:
        if not isinstance(setting.get("name"), str) or not setting["name"]:
            raise _invalid("environmentSettings.name", "Every environment setting needs a name")
        if setting.get("value") is not None and not isinstance(setting["value"], str):
            raise _invalid("environmentSettings.value", "An environment value must be a string")
    constraints = doc.get("constraints") or {}
    for name in ("maxWallClockTime", "retentionTime"):
        if constraints.get(name) is not None and parse_duration(str(constraints[name])) is None:
            raise _invalid(f"constraints.{name}", "Not an ISO 8601 duration", constraints[name])
    retries = constraints.get("maxTaskRetryCount")
    if retries is not None and not _is_int(retries):
        raise _invalid("constraints.maxTaskRetryCount", "Must be an integer", retries)
    slots = doc.get("requiredSlots")
    if slots is not None and not (_is_int(slots) and slots >= 1):
        raise _invalid("requiredSlots", "Must be an integer of at least 1", slots)
    instances = (doc.get("multiInstanceSettings") or {}).get("numberOfInstances")
    if instances is not None and not (_is_int(instances) and instances >= 1):
        raise _invalid(
            "multiInstanceSettings.numberOfInstances", "Must be an integer of at least 1", instances
        )
    depends_on = doc.get("dependsOn") or {}
    ids = depends_on.get("taskIds")
    if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
        raise _invalid("dependsOn.taskIds", "Must be a list of task ids")
    ranges = depends_on.get("taskIdRanges")
    if ranges is not None and not isinstance(ranges, list):
        raise _invalid("dependsOn.taskIdRanges", "Must be a list of ranges")
    for id_range in ranges or []:
        bounds: dict[str, Any] = id_range if isinstance(id_range, dict) else {}
        start: Any = bounds.get("start")
        end: Any = bounds.get("end")
        if not (_is_int(start) and _is_int(end) and 0 <= start <= end):
            raise _invalid("dependsOn.taskIdRanges", "start and end must be integers with 0 <= start <= end")


def _check_constraints(doc: dict[str, Any]) -> None:
    if doc.get("constraints") is not None and not isinstance(doc["constraints"], dict):
        raise _invalid("constraints", "constraints must be a JSON object")


def _require(doc: dict[str, Any], name: str) -> Any:
    if doc.get(name) in (None, ""):
        raise ServiceError("MissingRequiredProperty", values=[("PropertyName", name)])
    return doc[name]


_JOB_CONSTRAINTS_DEFAULT = {"maxWallClockTime": C.UNBOUNDED_DURATION, "maxTaskRetryCount": 0}

# What a replace (PUT, updateproperties) gives a writable property its body omits; writable properties not
# listed here are removed. An object given in the body is completed with its default's omitted members.
_REPLACE_DEFAULTS: dict[str, dict[str, Any]] = {
    "BatchJob": {
        "priority": 0,
        "allowTaskPreemption": False,
        "maxParallelTasks": -1,
        "onAllTasksComplete": "noaction",
        "constraints": _JOB_CONSTRAINTS_DEFAULT,
    },
    "BatchJobSchedule": {"schedule": {}},
    "BatchPoolReplaceContent": {"targetNodeCommunicationMode": "default"},
}


def _replaced(name: str, value: Any, defaults: dict[str, Any]) -> Any:
    """``value`` given for ``name`` in a replace, objects completed from their default."""
    default = defaults.get(name)
    if isinstance(default, dict) and isinstance(value, dict):
        return {**copy.deepcopy(default), **copy.deepcopy(value)}
    return copy.deepcopy(value)


def _replace(doc: dict[str, Any], body: dict[str, Any], model: str) -> None:
    """Replace every writable property of ``model`` in ``doc``: from ``body``, else its default, else gone
    (``null`` counts as omitted)."""
    defaults = _REPLACE_DEFAULTS.get(model, {})
    for name in WRITABLE[model]:
        if body.get(name) is not None:
            doc[name] = _replaced(name, body[name], defaults)
        elif name in defaults:
            doc[name] = copy.deepcopy(defaults[name])
        else:
            doc.pop(name, None)


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
    token = call.q("$skiptoken")
    start = 0
    if token:
        try:
            start = int(token.removeprefix("emu:"))
        except ValueError:
            raise ServiceError(
                "InvalidQueryParameterValue",
                values=[("QueryParameterName", "$skiptoken"), ("QueryParameterValue", token)],
            ) from None
    predicate = None
    filter_text = call.q("$filter")
    if filter_text and filterable:
        try:
            predicate = parse_filter(filter_text)
        except FilterError as error:
            raise ServiceError(
                "InvalidQueryParameterValue",
                values=[
                    ("QueryParameterName", "$filter"),
                    ("QueryParameterValue", filter_text),
                    ("Reason", str(error)),
                ],
            ) from None
    select_text = call.q("$select")
    selected = parse_select(select_text) if select_text else None
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


def _listing(values: list[Any]) -> Callable[[int], Iterator[tuple[int, Any]]]:
    def items(start: int) -> Iterator[tuple[int, Any]]:
        for position in range(start, len(values)):
            yield position, values[position]

    return items


def _single(
    call: Call, metadata: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    select_text = call.q("$select")
    if select_text:
        body = project(body, parse_select(select_text))
    return _json({"odata.metadata": f"{call.base}/$metadata#{metadata}", **body}, headers=headers)


Handler = Callable[[Call], Awaitable[Response]]


class EmulatorApp:
    """The emulated service as an ASGI application.

    The outer layer checks ``api-version``, verifies the signature, injects faults and adds the common
    headers; the inner Starlette router serves the operations.
    """

    def __init__(
        self,
        store: Store,
        faults: FaultInjector,
        *,
        account: str,
        key: str,
        allow_bearer: bool,
        require_auth: bool,
        work_root: Path | None,
        lifespan: Callable[[Any], Any] | None = None,
    ) -> None:
        self.store = store
        self.faults = faults
        self.account = account
        self.key = key
        self.allow_bearer = allow_bearer
        self.require_auth = require_auth
        self.work_root = work_root
        self.router = Router(routes=self._routes(), default=self._unknown_route, lifespan=lifespan)

    # ---- outer ASGI layer -------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.router(scope, receive, send)
            return
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
        }
        request_id = new_request_id()
        scope = {**scope, "batchaio.request_id": request_id}
        extra: list[tuple[bytes, bytes]] = [
            (b"request-id", request_id.encode()),
            (b"dataserviceversion", b"3.0"),
            (b"x-content-type-options", b"nosniff"),
        ]
        if headers.get("return-client-request-id", "").lower() == "true" and "client-request-id" in headers:
            extra.append((b"client-request-id", headers["client-request-id"].encode("latin-1")))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        host = headers.get("host", "127.0.0.1")
        base = f"{scope.get('scheme', 'http')}://{host}"
        path: str = scope["path"]
        latency = self.faults.latency(path)
        if latency > 0:
            await anyio.sleep(latency)
        try:
            self._check_api_version(scope)
            if self.require_auth:
                raw_path = scope.get("raw_path") or quote(path).encode()
                target = raw_path.decode("latin-1")
                if scope.get("query_string"):
                    target += "?" + scope["query_string"].decode("latin-1")
                verify_request(
                    scope["method"],
                    target,
                    headers,
                    account=self.account,
                    key=self.key,
                    allow_bearer=self.allow_bearer,
                    now=time.time(),
                )
            length = headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > C.MAX_REQUEST_BODY_BYTES:
                raise _too_large()
            fault = self.faults.decide(path)
            if fault == "throttle":
                status = self.faults.throttle_status()
                raise ServiceError(
                    "TooManyRequests" if status == 429 else "ServerBusy",
                    status=status,
                    headers=retry_after_headers(self.faults.config.retry_after),
                )
            if fault == "server_error":
                raise ServiceError("InternalError")
            if fault == "drop":
                raise ConnectionDropped()
        except ServiceError as error:
            response = self._error_response(base, error, request_id, scope["method"])
            await response(scope, receive, send_with_headers)
            return
        if fault == "reset_after_apply":

            async def discard(message: Message) -> None:
                return None

            await self.router(scope, receive, discard)
            raise ConnectionDropped()
        await self.router(scope, receive, send_with_headers)

    def _check_api_version(self, scope: Scope) -> None:
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        version = query.get("api-version")
        if version is None:
            raise ServiceError(
                "MissingRequiredQueryParameter", values=[("QueryParameterName", "api-version")]
            )
        if version != C.API_VERSION:
            raise ServiceError(
                "InvalidQueryParameterValue",
                values=[
                    ("QueryParameterName", "api-version"),
                    ("QueryParameterValue", version),
                    ("Reason", f"This emulator serves api-version {C.API_VERSION}"),
                ],
            )

    @staticmethod
    def _error_response(base: str, error: ServiceError, request_id: str, method: str) -> Response:
        if method == "HEAD":
            return _empty(error.status, error.headers)
        return _json(error_body(base, error, request_id), error.status, error.headers)

    async def _unknown_route(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        base = f"{request.url.scheme}://{request.headers.get('host', '127.0.0.1')}"
        await self._error_response(
            base, ServiceError("InvalidUri", status=404), new_request_id(), scope["method"]
        )(scope, receive, send)

    def _endpoint(self, handler: Handler, body_model: str | None) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            call = Call(request, self.store, body_model)
            try:
                return await handler(call)
            except ClientDisconnect:
                # The client went away mid-request: nobody to answer, nothing worth logging.
                return Response(b"", status_code=499)
            except ServiceError as error:
                request_id = request.scope.get("batchaio.request_id") or new_request_id()
                return self._error_response(call.base, error, request_id, request.method)

        return endpoint

    def _routes(self) -> list[Route]:
        table: list[tuple[str, str, Handler]] = [
            ("/applications", "GET", self.list_applications),
            ("/applications/{applicationId}", "GET", self.get_application),
            ("/certificates", "GET", self.list_certificates),
            ("/certificates", "POST", self.create_certificate),
            (_CERT, "GET", self.get_certificate),
            (_CERT, "DELETE", self.delete_certificate),
            (_CERT + "/canceldelete", "POST", self.cancel_delete_certificate),
            ("/jobs", "GET", self.list_jobs),
            ("/jobs", "POST", self.create_job),
            ("/jobs/{jobId}", "GET", self.get_job),
            ("/jobs/{jobId}", "PUT", self.replace_job),
            ("/jobs/{jobId}", "PATCH", self.update_job),
            ("/jobs/{jobId}", "DELETE", self.delete_job),
            ("/jobs/{jobId}/addtaskcollection", "POST", self.add_task_collection),
            ("/jobs/{jobId}/disable", "POST", self.disable_job),
            ("/jobs/{jobId}/enable", "POST", self.enable_job),
            ("/jobs/{jobId}/terminate", "POST", self.terminate_job),
            ("/jobs/{jobId}/jobpreparationandreleasetaskstatus", "GET", self.job_prep_release_status),
            ("/jobs/{jobId}/taskcounts", "GET", self.task_counts),
            ("/jobs/{jobId}/tasks", "GET", self.list_tasks),
            ("/jobs/{jobId}/tasks", "POST", self.create_task),
            ("/jobs/{jobId}/tasks/{taskId}", "GET", self.get_task),
            ("/jobs/{jobId}/tasks/{taskId}", "PUT", self.replace_task),
            ("/jobs/{jobId}/tasks/{taskId}", "DELETE", self.delete_task),
            ("/jobs/{jobId}/tasks/{taskId}/files", "GET", self.list_task_files),
            ("/jobs/{jobId}/tasks/{taskId}/files/{filePath:path}", "GET", self.get_task_file),
            ("/jobs/{jobId}/tasks/{taskId}/files/{filePath:path}", "HEAD", self.get_task_file),
            ("/jobs/{jobId}/tasks/{taskId}/files/{filePath:path}", "DELETE", self.delete_task_file),
            ("/jobs/{jobId}/tasks/{taskId}/reactivate", "POST", self.reactivate_task),
            ("/jobs/{jobId}/tasks/{taskId}/subtasksinfo", "GET", self.list_subtasks),
            ("/jobs/{jobId}/tasks/{taskId}/terminate", "POST", self.terminate_task),
            ("/jobschedules", "GET", self.list_schedules),
            ("/jobschedules", "POST", self.create_schedule),
            ("/jobschedules/{scheduleId}", "GET", self.get_schedule),
            ("/jobschedules/{scheduleId}", "HEAD", self.schedule_exists),
            ("/jobschedules/{scheduleId}", "PUT", self.replace_schedule),
            ("/jobschedules/{scheduleId}", "PATCH", self.update_schedule),
            ("/jobschedules/{scheduleId}", "DELETE", self.delete_schedule),
            ("/jobschedules/{scheduleId}/disable", "POST", self.disable_schedule),
            ("/jobschedules/{scheduleId}/enable", "POST", self.enable_schedule),
            ("/jobschedules/{scheduleId}/terminate", "POST", self.terminate_schedule),
            ("/jobschedules/{scheduleId}/jobs", "GET", self.list_schedule_jobs),
            ("/nodecounts", "GET", self.node_counts),
            ("/poolusagemetrics", "GET", self.usage_metrics),
            ("/supportedimages", "GET", self.supported_images),
            ("/pools", "GET", self.list_pools),
            ("/pools", "POST", self.create_pool),
            ("/pools/{poolId}", "GET", self.get_pool),
            ("/pools/{poolId}", "HEAD", self.pool_exists),
            ("/pools/{poolId}", "PATCH", self.update_pool),
            ("/pools/{poolId}", "DELETE", self.delete_pool),
            ("/pools/{poolId}/disableautoscale", "POST", self.disable_autoscale),
            ("/pools/{poolId}/enableautoscale", "POST", self.enable_autoscale),
            ("/pools/{poolId}/evaluateautoscale", "POST", self.evaluate_autoscale),
            ("/pools/{poolId}/removenodes", "POST", self.remove_nodes),
            ("/pools/{poolId}/resize", "POST", self.resize_pool),
            ("/pools/{poolId}/stopresize", "POST", self.stop_resize),
            ("/pools/{poolId}/updateproperties", "POST", self.replace_pool_properties),
            ("/pools/{poolId}/nodes", "GET", self.list_nodes),
            ("/pools/{poolId}/nodes/{nodeId}", "GET", self.get_node),
            ("/pools/{poolId}/nodes/{nodeId}/deallocate", "POST", self.node_action("deallocate")),
            ("/pools/{poolId}/nodes/{nodeId}/reboot", "POST", self.node_action("reboot")),
            ("/pools/{poolId}/nodes/{nodeId}/reimage", "POST", self.node_action("reimage")),
            ("/pools/{poolId}/nodes/{nodeId}/start", "POST", self.node_action("start")),
            ("/pools/{poolId}/nodes/{nodeId}/disablescheduling", "POST", self.node_scheduling(False)),
            ("/pools/{poolId}/nodes/{nodeId}/enablescheduling", "POST", self.node_scheduling(True)),
            ("/pools/{poolId}/nodes/{nodeId}/extensions", "GET", self.list_extensions),
            ("/pools/{poolId}/nodes/{nodeId}/extensions/{extensionName}", "GET", self.get_extension),
            ("/pools/{poolId}/nodes/{nodeId}/files", "GET", self.list_node_files),
            ("/pools/{poolId}/nodes/{nodeId}/files/{filePath:path}", "GET", self.get_node_file),
            ("/pools/{poolId}/nodes/{nodeId}/files/{filePath:path}", "HEAD", self.get_node_file),
            ("/pools/{poolId}/nodes/{nodeId}/files/{filePath:path}", "DELETE", self.delete_node_file),
            ("/pools/{poolId}/nodes/{nodeId}/remoteloginsettings", "GET", self.remote_login_settings),
            ("/pools/{poolId}/nodes/{nodeId}/uploadbatchservicelogs", "POST", self.upload_logs),
            ("/pools/{poolId}/nodes/{nodeId}/users", "POST", self.create_node_user),
            ("/pools/{poolId}/nodes/{nodeId}/users/{userName}", "PUT", self.replace_node_user),
            ("/pools/{poolId}/nodes/{nodeId}/users/{userName}", "DELETE", self.delete_node_user),
        ]
        by_path: dict[str, dict[str, Handler]] = {}
        for path, method, handler in table:
            by_path.setdefault(path, {})[method] = handler
        # Every verb reaches ``_dispatch``, which answers the ones a path lacks itself.
        return [
            Route(path, self._dispatch(path, handlers), methods=_VERBS) for path, handlers in by_path.items()
        ]

    def _dispatch(self, path: str, handlers: dict[str, Handler]) -> Callable[[Request], Awaitable[Response]]:
        """One endpoint per path: HEAD without a handler of its own is GET without the body (as HTTP and the
        service do); a verb the path does not support is 405 ``UnsupportedHttpVerb`` with ``Allow``."""
        key = re.sub(r"\{[^}]*\}", "{}", path)
        endpoints = {
            method: self._endpoint(handler, BODY_MODELS.get((method, key)))
            for method, handler in handlers.items()
        }
        allowed = sorted({*endpoints, *(("HEAD",) if "GET" in endpoints else ())})

        async def endpoint(request: Request) -> Response:
            method = request.method
            if method in endpoints:
                return await endpoints[method](request)
            if method == "HEAD" and "GET" in endpoints:
                response = await endpoints["GET"](request)
                headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
                headers["Content-Length"] = str(len(response.body))
                return Response(b"", status_code=response.status_code, headers=headers)
            request_id = request.scope.get("batchaio.request_id") or new_request_id()
            base = f"{request.url.scheme}://{request.headers.get('host', '127.0.0.1')}"
            error = ServiceError("UnsupportedHttpVerb", headers={"Allow": ", ".join(allowed)})
            return self._error_response(base, error, request_id, method)

        return endpoint

    # ---- applications --------------------------------------------------------------------------------

    async def list_applications(self, call: Call) -> Response:
        return _page(call, "applications", _listing(self.store.applications), dict, filterable=False)

    async def get_application(self, call: Call) -> Response:
        wanted = call.params["applicationId"].lower()
        for application in self.store.applications:
            if str(application["id"]).lower() == wanted:
                return _single(call, "applications/@Element", dict(application))
        raise ServiceError("ApplicationNotFound")

    # ---- certificates ----------------------------------------------------------------------------------

    async def list_certificates(self, call: Call) -> Response:
        certificates = self.store.certificates
        return _page(
            call,
            "certificates",
            lambda start: certificates.scan(start, call.now),
            lambda item: render_certificate(item, call.base),
            limit=C.MAX_RESULTS_LIMIT_CERTIFICATES,
        )

    async def create_certificate(self, call: Call) -> Response:
        doc = await call.body()
        thumbprint = str(_require(doc, "thumbprint")).lower()
        algorithm = str(_require(doc, "thumbprintAlgorithm")).lower()
        _require(doc, "data")
        key = f"{algorithm}-{thumbprint}"
        existing = self.store.certificates.find(key, call.now)
        if existing is not None:
            raise ServiceError(
                "CertificateBeingDeleted" if existing.state == "deleting" else "CertificateExists"
            )
        stored = {
            "thumbprint": thumbprint,
            "thumbprintAlgorithm": algorithm,
            "certificateFormat": doc.get("certificateFormat", "pfx"),
            "publicData": "ZW11bGF0ZWQtY2VydGlmaWNhdGU=",
        }
        certificate = self.store.certificates.add(Certificate(key, stored, call.now))
        return _created(certificate, certificate_url(call.base, algorithm, thumbprint))

    def _certificate(self, call: Call) -> Certificate:
        return self.store.certificate(
            call.params["thumbprintAlgorithm"].lower(), call.params["thumbprint"].lower(), call.now
        )

    async def get_certificate(self, call: Call) -> Response:
        certificate = self._certificate(call)
        return _single(call, "certificates/@Element", render_certificate(certificate, call.base))

    async def delete_certificate(self, call: Call) -> Response:
        certificate = self._certificate(call)
        if certificate.state == "deleting":
            raise ServiceError("CertificateBeingDeleted")
        certificate.set_state("deleting", call.now)
        certificate.deleting_until = call.now + self.store.delete_delay
        return _empty(202, _entity_headers(certificate))

    async def cancel_delete_certificate(self, call: Call) -> Response:
        certificate = self._certificate(call)
        if certificate.state == "deleting":
            raise ServiceError("CertificateBeingDeleted")
        if certificate.state != "deletefailed":
            raise ServiceError(
                "CertificateStateActive", status=409, message="The specified certificate is in active state."
            )
        certificate.set_state("active", call.now)
        return _empty(204)

    # ---- pools ---------------------------------------------------------------------------------------

    async def list_pools(self, call: Call) -> Response:
        pools = self.store.pools
        return _page(
            call,
            "pools",
            lambda start: pools.scan(start, call.now),
            lambda pool: render_pool(pool, call.base, call.now),
        )

    async def create_pool(self, call: Call) -> Response:
        doc = await call.body()
        pool_id = _require_id(doc)
        _require(doc, "vmSize")
        if doc.get("enableAutoScale") and not doc.get("autoScaleFormula"):
            raise ServiceError("MissingRequiredProperty", values=[("PropertyName", "autoScaleFormula")])
        pool = self.store.create_pool(doc, call.now)
        return _created(pool, pool_url(call.base, pool_id))

    async def get_pool(self, call: Call) -> Response:
        pool = self.store.pool(call.params["poolId"], call.now)
        not_modified = _check_conditions(call, pool.etag, pool.last_modified, read=True)
        if not_modified is not None:
            return not_modified
        return _single(call, "pools/@Element", render_pool(pool, call.base, call.now), _entity_headers(pool))

    async def pool_exists(self, call: Call) -> Response:
        pool = self.store.pools.find(call.params["poolId"], call.now)
        if pool is None:
            return _empty(404)
        not_modified = _check_conditions(call, pool.etag, pool.last_modified, read=True)
        return not_modified or _empty(200, _entity_headers(pool))

    def _pool_for_write(self, call: Call) -> Pool:
        pool = self.store.pool(call.params["poolId"], call.now)
        _check_conditions(call, pool.etag, pool.last_modified, read=False)
        if pool.deleting_until is not None:
            raise ServiceError("PoolBeingDeleted")
        return pool

    async def update_pool(self, call: Call) -> Response:
        pool = self._pool_for_write(call)
        doc = await call.body()
        for key, value in doc.items():
            if key not in ("id", "targetDedicatedNodes", "targetLowPriorityNodes", "enableAutoScale"):
                pool.doc[key] = value
        pool.touch(call.now)
        return _empty(200, _entity_headers(pool, pool_url(call.base, pool.id)))

    async def replace_pool_properties(self, call: Call) -> Response:
        pool = self._pool_for_write(call)
        doc = await call.body()
        for name in ("certificateReferences", "applicationPackageReferences", "metadata"):
            if name not in doc:
                raise ServiceError("MissingRequiredProperty", values=[("PropertyName", name)])
        _replace(pool.doc, doc, "BatchPoolReplaceContent")
        pool.touch(call.now)
        return _empty(204, _entity_headers(pool, pool_url(call.base, pool.id)))

    async def delete_pool(self, call: Call) -> Response:
        pool = self.store.pool(call.params["poolId"], call.now)
        _check_conditions(call, pool.etag, pool.last_modified, read=False)
        self.store.delete_pool(pool, call.now)
        return _empty(202, _entity_headers(pool))

    async def resize_pool(self, call: Call) -> Response:
        pool = self._pool_for_write(call)
        doc = await call.body()
        if pool.doc.get("enableAutoScale"):
            raise ServiceError("AutoScaleEnabled")
        dedicated = int(doc.get("targetDedicatedNodes", pool.doc.get("targetDedicatedNodes") or 0))
        low = int(doc.get("targetLowPriorityNodes", pool.doc.get("targetLowPriorityNodes") or 0))
        if "resizeTimeout" in doc:
            pool.doc["resizeTimeout"] = doc["resizeTimeout"]
        self.store.resize_pool(pool, dedicated, low, call.now)
        return _empty(202, _entity_headers(pool, pool_url(call.base, pool.id)))

    async def stop_resize(self, call: Call) -> Response:
        pool = self._pool_for_write(call)
        pool.touch(call.now)
        return _empty(202, _entity_headers(pool, pool_url(call.base, pool.id)))

    async def remove_nodes(self, call: Call) -> Response:
        pool = self._pool_for_write(call)
        doc = await call.body()
        node_ids = _require(doc, "nodeList")
        if not isinstance(node_ids, list) or len(node_ids) > 100:
            raise ServiceError("InvalidPropertyValue", values=[("PropertyName", "nodeList")])
        nodes = [pool.nodes.find(str(node_id), call.now) for node_id in node_ids]
        if any(node is None for node in nodes):
            raise ServiceError("NodeNotFound")
        self.store.advance_pool(pool.id.lower(), call.now)
        self.store.capacity_changed(pool.id)
        for node in nodes:
            assert node is not None
            pool.nodes.remove(node)
            key = "targetDedicatedNodes" if node.is_dedicated else "targetLowPriorityNodes"
            pool.doc[key] = max(0, int(pool.doc.get(key) or 0) - 1)
        pool.touch(call.now)
        return _empty(202, _entity_headers(pool, pool_url(call.base, pool.id)))

    async def enable_autoscale(self, call: Call) -> Response:
        pool = self._pool_for_write(call)
        doc = await call.body(optional=True)
        formula = doc.get("autoScaleFormula") or pool.doc.get("autoScaleFormula")
        if not formula:
            raise ServiceError("MissingRequiredProperty", values=[("PropertyName", "autoScaleFormula")])
        pool.doc["enableAutoScale"] = True
        pool.doc["autoScaleFormula"] = formula
        pool.doc["autoScaleEvaluationInterval"] = doc.get(
            "autoScaleEvaluationInterval", pool.doc.get("autoScaleEvaluationInterval", "PT15M")
        )
        self.store.run_autoscale(pool, formula, call.now, apply=True)
        pool.touch(call.now)
        return _empty(200, _entity_headers(pool, pool_url(call.base, pool.id)))

    async def disable_autoscale(self, call: Call) -> Response:
        pool = self._pool_for_write(call)
        pool.doc["enableAutoScale"] = False
        pool.doc.pop("autoScaleFormula", None)
        pool.doc.pop("autoScaleEvaluationInterval", None)
        pool.touch(call.now)
        return _empty(200, _entity_headers(pool, pool_url(call.base, pool.id)))

    async def evaluate_autoscale(self, call: Call) -> Response:
        pool = self.store.pool(call.params["poolId"], call.now)
        doc = await call.body()
        formula = str(_require(doc, "autoScaleFormula"))
        if not pool.doc.get("enableAutoScale"):
            raise ServiceError("AutoScaleDisabled")
        run = self.store.run_autoscale(pool, formula, call.now, apply=False)
        run["timestamp"] = format_time(run["timestamp"])
        return _json(
            {
                "odata.metadata": f"{call.base}/$metadata#Microsoft.Azure.Batch.Protocol.Entities."
                "AutoScaleRun",
                **run,
            },
            headers={"DataServiceId": f"{pool_url(call.base, pool.id)}/evaluateautoscale"},
        )

    async def node_counts(self, call: Call) -> Response:
        def render(pool: Pool) -> dict[str, Any]:
            result: dict[str, Any] = {"poolId": pool.id}
            for label, dedicated in (("dedicated", True), ("lowPriority", False)):
                counts = dict.fromkeys(NODE_COUNT_FIELDS.values(), 0)
                for node in pool.live_nodes(call.now):
                    if node.is_dedicated == dedicated:
                        field = NODE_COUNT_FIELDS.get(node.current_state(call.now), "unknown")
                        counts[field] += 1
                counts["total"] = sum(counts.values())
                result[label] = counts
            return result

        pools = self.store.pools
        return _page(call, "poolnodecounts", lambda start: pools.scan(start, call.now), render, limit=10)

    async def usage_metrics(self, call: Call) -> Response:
        def render(pool: Pool) -> dict[str, Any]:
            hours = (call.now - pool.created) / 3600 * len(pool.live_nodes(call.now))
            return {
                "poolId": pool.id,
                "startTime": format_time(pool.created - pool.created % 1800),
                "endTime": format_time(call.now),
                "vmSize": pool.doc.get("vmSize", ""),
                "totalCoreHours": round(hours, 6),
            }

        pools = self.store.pools
        return _page(call, "poolusagemetrics", lambda start: pools.scan(start, call.now), render)

    async def supported_images(self, call: Call) -> Response:
        return _page(call, "supportedimages", _listing(_SUPPORTED_IMAGES), dict)

    # ---- nodes ---------------------------------------------------------------------------------------

    async def list_nodes(self, call: Call) -> Response:
        pool = self.store.pool(call.params["poolId"], call.now)
        return _page(
            call,
            "nodes",
            lambda start: pool.nodes.scan(start, call.now),
            lambda node: render_node(pool, node, call.base, call.now),
        )

    async def get_node(self, call: Call) -> Response:
        pool, node = self.store.node(call.params["poolId"], call.params["nodeId"], call.now)
        return _single(call, "nodes/@Element", render_node(pool, node, call.base, call.now))

    def node_action(self, action: str) -> Handler:
        transient = {
            "reboot": "rebooting",
            "reimage": "reimaging",
            "start": "starting",
            "deallocate": "deallocating",
        }

        async def handler(call: Call) -> Response:
            pool, node = self.store.node(call.params["poolId"], call.params["nodeId"], call.now)
            await call.body(optional=True)
            state = node.current_state(call.now)
            if action == "start" and state != "deallocated":
                raise ServiceError("NodeNotReady")
            if action != "start" and state in (
                "deallocated",
                "deallocating",
                "rebooting",
                "reimaging",
                "starting",
            ):
                raise ServiceError("NodeNotReady")
            node.transient_state = transient[action]
            node.state_until = call.now + self.store.delete_delay
            node.state = "deallocated" if action == "deallocate" else "idle"
            node.state_time = call.now
            self.store.capacity_changed(pool.id)
            return _empty(202, {"DataServiceId": f"{node_url(call.base, pool.id, node.id)}/{action}"})

        return handler

    def node_scheduling(self, enable: bool) -> Handler:
        async def handler(call: Call) -> Response:
            pool, node = self.store.node(call.params["poolId"], call.params["nodeId"], call.now)
            await call.body(optional=True)
            node.scheduling_state = "enabled" if enable else "disabled"
            self.store.capacity_changed(pool.id)
            action = "enablescheduling" if enable else "disablescheduling"
            return _empty(200, {"DataServiceId": f"{node_url(call.base, pool.id, node.id)}/{action}"})

        return handler

    def _extensions(self, call: Call) -> list[dict[str, Any]]:
        _, node = self.store.node(call.params["poolId"], call.params["nodeId"], call.now)
        return [
            {
                "provisioningState": "Succeeded",
                "vmExtension": extension,
                "instanceView": {
                    "name": extension.get("name"),
                    "statuses": [
                        {
                            "code": "ProvisioningState/succeeded",
                            "displayStatus": "Provisioning succeeded",
                            "level": "Info",
                            "time": format_time(node.created),
                        }
                    ],
                },
            }
            for extension in node.extensions
        ]

    async def list_extensions(self, call: Call) -> Response:
        return _page(call, "extensions", _listing(self._extensions(call)), dict, filterable=False)

    async def get_extension(self, call: Call) -> Response:
        for extension in self._extensions(call):
            if str(extension["vmExtension"].get("name", "")).lower() == call.params["extensionName"].lower():
                return _single(call, "extensions/@Element", extension)
        raise ServiceError("ExtensionNotFound")

    async def remote_login_settings(self, call: Call) -> Response:
        _, node = self.store.node(call.params["poolId"], call.params["nodeId"], call.now)
        return _json(
            {
                "odata.metadata": f"{call.base}/$metadata#Microsoft.Azure.Batch.Protocol.Entities."
                "RemoteLoginSettings",
                "remoteLoginIPAddress": "127.0.0.1",
                "remoteLoginPort": 50000 + node.seq,
            }
        )

    async def upload_logs(self, call: Call) -> Response:
        pool, node = self.store.node(call.params["poolId"], call.params["nodeId"], call.now)
        doc = await call.body()
        _require(doc, "containerUrl")
        _require(doc, "startTime")
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(call.now))
        return _json(
            {
                "odata.metadata": f"{call.base}/$metadata#Microsoft.Azure.Batch.Protocol.Entities."
                "UploadBatchServiceLogsResult",
                "virtualDirectoryName": f"{self.account}/{pool.id}/{node.id}/{stamp}Z-{uuid.uuid4()}",
                "numberOfFilesUploaded": 0,
            }
        )

    async def create_node_user(self, call: Call) -> Response:
        pool, node = self.store.node(call.params["poolId"], call.params["nodeId"], call.now)
        doc = await call.body()
        name = str(_require(doc, "name"))
        if name.lower() in node.users:
            raise ServiceError("NodeUserExists")
        node.users[name.lower()] = {"name": name, **{k: v for k, v in doc.items() if k != "name"}}
        url = f"{node_url(call.base, pool.id, node.id)}/users/{quote(name, safe='')}"
        return _empty(201, {"Location": url, "DataServiceId": url})

    async def replace_node_user(self, call: Call) -> Response:
        pool, node = self.store.node(call.params["poolId"], call.params["nodeId"], call.now)
        name = call.params["userName"]
        if name.lower() not in node.users:
            raise ServiceError("NodeUserNotFound")
        doc = await call.body()
        node.users[name.lower()] = {"name": name, **doc}
        return _empty(
            200, {"DataServiceId": f"{node_url(call.base, pool.id, node.id)}/users/{quote(name, safe='')}"}
        )

    async def delete_node_user(self, call: Call) -> Response:
        _, node = self.store.node(call.params["poolId"], call.params["nodeId"], call.now)
        if node.users.pop(call.params["userName"].lower(), None) is None:
            raise ServiceError("NodeUserNotFound")
        return _empty(200)

    async def list_node_files(self, call: Call) -> Response:
        pool, node = self.store.node(call.params["poolId"], call.params["nodeId"], call.now)
        files = node_files(pool, node, self.work_root)
        base_url = f"{node_url(call.base, pool.id, node.id)}/files"
        return self._list_files(call, files, base_url)

    async def get_node_file(self, call: Call) -> Response:
        pool, node = self.store.node(call.params["poolId"], call.params["nodeId"], call.now)
        files = node_files(pool, node, self.work_root)
        return self._serve_file(call, files, f"{node_url(call.base, pool.id, node.id)}/files")

    async def delete_node_file(self, call: Call) -> Response:
        pool, node = self.store.node(call.params["poolId"], call.params["nodeId"], call.now)
        entry = node_files(pool, node, self.work_root).get(call.params["filePath"].strip("/"))
        if entry is None:
            raise ServiceError("FileNotFound")
        self._delete_on_disk(entry, call.flag("recursive"))
        return _empty(200)

    # ---- files ---------------------------------------------------------------------------------------

    @staticmethod
    def _list_files(call: Call, files: dict[str, FileEntry], base_url: str) -> Response:
        recursive = call.flag("recursive")
        names = sorted(name for name in files if recursive or "/" not in name)

        def render(name: str) -> dict[str, Any]:
            entry = files[name]
            item: dict[str, Any] = {
                "name": name,
                "url": f"{base_url}/{quote(name, safe='')}",
                "isDirectory": entry.is_directory,
            }
            if not entry.is_directory:
                # Emulated nodes are Linux: a file mode and no creation time.
                item["properties"] = {
                    "lastModified": format_time(entry.modified),
                    "contentLength": str(entry.size),
                    "contentType": _content_type(name),
                    "fileMode": _FILE_MODE,
                }
            return item

        return _page(call, "files", _listing(names), render)

    @staticmethod
    def _serve_file(call: Call, files: dict[str, FileEntry], base_url: str) -> Response:
        name = call.params["filePath"].strip("/")
        entry = files.get(name)
        if entry is None:
            raise ServiceError("FileNotFound")
        etag = f"0x8DC{int(entry.modified * 10_000_000) & 0xFFFFFFFFFFFF:012X}"
        not_modified = _check_conditions(call, etag, entry.modified, read=True)
        if not_modified is not None:
            return not_modified
        headers = {
            "ETag": etag,
            "Last-Modified": format_rfc1123(entry.modified),
            "ocp-batch-file-isdirectory": "True" if entry.is_directory else "False",
            "ocp-batch-file-url": f"{base_url}/{quote(name, safe='')}",
            "ocp-batch-file-mode": _DIRECTORY_MODE if entry.is_directory else _FILE_MODE,
        }
        media_type = _content_type(name)
        data = entry.read()
        range_header = call.request.headers.get("ocp-range")
        if range_header:
            data = _slice(data, range_header)
        if call.request.method == "HEAD":
            headers["Content-Length"] = str(entry.size)
            return Response(b"", status_code=200, headers=headers, media_type=media_type)
        return Response(data, status_code=200, headers=headers, media_type=media_type)

    @staticmethod
    def _delete_on_disk(entry: FileEntry, recursive: bool) -> None:
        if entry.path is None:
            return
        if entry.is_directory:
            if not recursive:
                raise ServiceError(
                    "DirectoryNotEmpty", status=409, message="The directory is not empty; use recursive."
                )
            import shutil

            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            entry.path.unlink(missing_ok=True)

    # ---- jobs ----------------------------------------------------------------------------------------

    def _job_for_write(self, call: Call) -> Job:
        job = self.store.job(call.params["jobId"], call.now)
        _check_conditions(call, job.etag, job.last_modified, read=False)
        if job.deleting_until is not None:
            raise ServiceError("JobBeingDeleted")
        return job

    async def list_jobs(self, call: Call) -> Response:
        jobs = self.store.jobs

        def items(start: int) -> Iterator[tuple[int, Job]]:
            for position, job in jobs.scan(start, call.now):
                self.store.refresh_job(job, call.now)
                yield position, job

        return _page(call, "jobs", items, lambda job: render_job(self.store, job, call.base, call.now))

    async def list_schedule_jobs(self, call: Call) -> Response:
        schedule = self.store.schedule(call.params["scheduleId"], call.now)
        jobs = self.store.jobs

        def items(start: int) -> Iterator[tuple[int, Job]]:
            for position, job in jobs.scan(start, call.now):
                if job.schedule_id == schedule.id:
                    self.store.refresh_job(job, call.now)
                    yield position, job

        return _page(call, "jobs", items, lambda job: render_job(self.store, job, call.base, call.now))

    async def create_job(self, call: Call) -> Response:
        doc = await call.body()
        job_id = _require_id(doc)
        _check_pool_info(_require(doc, "poolInfo"), "poolInfo")
        job = self.store.create_job(doc, call.now)
        return _created(job, job_url(call.base, job_id))

    async def get_job(self, call: Call) -> Response:
        job = self.store.job(call.params["jobId"], call.now)
        not_modified = _check_conditions(call, job.etag, job.last_modified, read=True)
        if not_modified is not None:
            return not_modified
        return _single(
            call, "jobs/@Element", render_job(self.store, job, call.base, call.now), _entity_headers(job)
        )

    async def replace_job(self, call: Call) -> Response:
        job = self._job_for_write(call)
        doc = await call.body()
        _check_pool_info(_require(doc, "poolInfo"), "poolInfo")
        _check_constraints(doc)
        _replace(job.doc, doc, "BatchJob")
        job.touch(call.now)
        return _empty(200, _entity_headers(job, job_url(call.base, job.id)))

    async def update_job(self, call: Call) -> Response:
        job = self._job_for_write(call)
        doc = await call.body()
        if job.state == "completed":
            raise ServiceError("JobCompleted")
        if "poolInfo" in doc:
            _check_pool_info(doc["poolInfo"], "poolInfo")
        _check_constraints(doc)
        # An update: omitted properties stay; a property given, objects included, is replaced as a whole.
        for key, value in doc.items():
            if value is not None:
                job.doc[key] = _replaced(key, value, _REPLACE_DEFAULTS["BatchJob"])
        job.touch(call.now)
        self.store.refresh_job(job, call.now)
        return _empty(200, _entity_headers(job, job_url(call.base, job.id)))

    async def delete_job(self, call: Call) -> Response:
        job = self.store.job(call.params["jobId"], call.now)
        _check_conditions(call, job.etag, job.last_modified, read=False)
        self.store.delete_job(job, call.now)
        return _empty(202, _entity_headers(job))

    async def disable_job(self, call: Call) -> Response:
        job = self._job_for_write(call)
        doc = await call.body()
        option = str(_require(doc, "disableTasks"))
        if option.lower() not in ("requeue", "terminate", "wait"):
            raise ServiceError("InvalidPropertyValue", values=[("PropertyName", "disableTasks")])
        self.store.disable_job(job, option, call.now)
        return _empty(202, _entity_headers(job, f"{job_url(call.base, job.id)}/disable"))

    async def enable_job(self, call: Call) -> Response:
        job = self._job_for_write(call)
        self.store.enable_job(job, call.now)
        return _empty(202, _entity_headers(job, f"{job_url(call.base, job.id)}/enable"))

    async def terminate_job(self, call: Call) -> Response:
        job = self._job_for_write(call)
        doc = await call.body(optional=True)
        self.store.terminate_job(job, doc.get("terminateReason"), call.now)
        return _empty(202, _entity_headers(job, f"{job_url(call.base, job.id)}/terminate"))

    async def task_counts(self, call: Call) -> Response:
        job = self.store.job(call.params["jobId"], call.now)
        counts = self.store.task_counts(job, call.now)
        return _json({"odata.metadata": f"{call.base}/$metadata#taskcounts/@Element", **counts})

    async def job_prep_release_status(self, call: Call) -> Response:
        job = self.store.job(call.params["jobId"], call.now)
        if not job.doc.get("jobPreparationTask") and not job.doc.get("jobReleaseTask"):
            raise ServiceError("JobPreparationTaskOrReleaseTaskNotSpecified")
        pool = self.store.pools.find(job.pool_id or "", call.now)
        nodes = pool.live_nodes(call.now) if pool is not None else []
        entries: list[dict[str, Any]] = []
        for node in nodes:
            assert pool is not None
            url = node_url(call.base, pool.id, node.id)
            info = {
                "startTime": format_time(job.created),
                "endTime": format_time(job.created),
                "state": "completed",
                "taskRootDirectory": f"workitems/{job.id}/job-1/jobpreparation",
                "taskRootDirectoryUrl": f"{url}/files/workitems/{job.id}/job-1/jobpreparation",
                "exitCode": 0,
                "retryCount": 0,
                "result": "success",
            }
            entry: dict[str, Any] = {"poolId": pool.id, "nodeId": node.id, "nodeUrl": url}
            if job.doc.get("jobPreparationTask"):
                entry["jobPreparationTaskExecutionInfo"] = info
            if job.doc.get("jobReleaseTask") and job.state == "completed":
                entry["jobReleaseTaskExecutionInfo"] = {
                    key: value for key, value in info.items() if key not in ("retryCount",)
                }
            entries.append(entry)
        return _page(call, "jobpreparationandreleasetaskstatus", _listing(entries), dict)

    # ---- tasks ---------------------------------------------------------------------------------------

    def _validate_task(self, doc: Any, job: Job) -> str:
        """Check a task's id, command line and the types of the properties the emulator acts on."""
        if not isinstance(doc, dict):
            raise ServiceError("InvalidRequestBody", values=[("Reason", "A task must be a JSON object")])
        task_id = _require_id(doc)
        command = doc.get("commandLine")
        if not isinstance(command, str) or not command:
            raise ServiceError("MissingRequiredProperty", values=[("PropertyName", "commandLine")])
        _check_task_types(doc)
        if doc.get("dependsOn") is not None and not job.doc.get("usesTaskDependencies"):
            raise ServiceError("TaskDependenciesNotSpecifiedOnJob")
        return task_id

    async def create_task(self, call: Call) -> Response:
        job = self.store.job(call.params["jobId"], call.now)
        self.store.check_can_add_tasks(job)
        doc = await call.body()
        task_id = self._validate_task(doc, job)
        task = self.store.add_task(job, doc, call.now)
        url = task_url(call.base, job.id, task_id)
        if task is None:
            return _empty(201, {"Location": url, "DataServiceId": url})
        return _created(task, url)

    async def add_task_collection(self, call: Call) -> Response:
        job = self.store.job(call.params["jobId"], call.now)
        doc = await call.body()
        tasks = doc.get("value")
        if not isinstance(tasks, list):
            raise ServiceError("MissingRequiredProperty", values=[("PropertyName", "value")])
        if len(tasks) > C.MAX_TASKS_PER_COLLECTION:
            raise ServiceError(
                "RequestBodyTooLarge",
                values=[
                    ("MaxLimit", str(C.MAX_TASKS_PER_COLLECTION)),
                    ("Reason", f"A task collection can hold at most {C.MAX_TASKS_PER_COLLECTION} tasks"),
                ],
            )
        self.store.check_can_add_tasks(job)
        results = []
        path = call.request.url.path
        for item in tasks:
            task_id = item.get("id") if isinstance(item, dict) else None
            result: dict[str, Any] = {"taskId": task_id}
            if self.faults.task_server_error(path):
                result["status"] = "servererror"
                result["error"] = self._task_error(call, ServiceError("InternalError"))
                results.append(result)
                continue
            try:
                self._validate_task(item, job)
                task = self.store.add_task(job, item, call.now)
            except Exception as error:  # one bad task never fails the others nor the request
                if not isinstance(error, ServiceError):
                    error = ServiceError("InvalidPropertyValue", values=[("Reason", "The task is invalid")])
                result["status"] = "clienterror"
                result["error"] = self._task_error(call, error)
                results.append(result)
                continue
            result["status"] = "success"
            result["location"] = task_url(call.base, job.id, str(task_id))
            if task is not None:
                result["eTag"] = task.etag
                result["lastModified"] = format_time(task.last_modified)
            else:
                result["eTag"] = "0x8DC000000000000"
                result["lastModified"] = format_time(call.now)
            results.append(result)
        return _json({"odata.metadata": f"{call.base}/$metadata#taskaddresult", "value": results})

    @staticmethod
    def _task_error(call: Call, error: ServiceError) -> dict[str, Any]:
        body = error_body(call.base, error, str(uuid.uuid4()))
        body.pop("odata.metadata", None)
        return body

    async def list_tasks(self, call: Call) -> Response:
        job = self.store.job(call.params["jobId"], call.now)
        store = self.store

        def items(start: int) -> Iterator[tuple[int, TaskRecord]]:
            store.sync(job, call.now)
            yield from job.tasks.scan(start, call.now)

        return _page(call, "tasks", items, lambda task: render_task(job, task, call.base, call.now))

    def _task(self, call: Call) -> tuple[Job, TaskRecord]:
        job = self.store.job(call.params["jobId"], call.now)
        return job, self.store.task(job, call.params["taskId"], call.now)

    async def get_task(self, call: Call) -> Response:
        job, task = self._task(call)
        not_modified = _check_conditions(call, task.etag, task.last_modified, read=True)
        if not_modified is not None:
            return not_modified
        return _single(
            call, "tasks/@Element", render_task(job, task, call.base, call.now), _entity_headers(task)
        )

    async def replace_task(self, call: Call) -> Response:
        job, task = self._task(call)
        _check_conditions(call, task.etag, task.last_modified, read=False)
        doc = await call.body()
        constraints = doc.get("constraints")
        if constraints is not None and not isinstance(constraints, dict):
            raise ServiceError("InvalidPropertyValue", values=[("PropertyName", "constraints")])
        # A replace: constraints the body omits go back to their defaults.
        replaced: dict[str, Any] = {
            "maxWallClockTime": C.UNBOUNDED_DURATION,
            "retentionTime": C.DEFAULT_RETENTION,
            "maxTaskRetryCount": (job.doc.get("constraints") or {}).get("maxTaskRetryCount", 0),
        }
        replaced.update(copy.deepcopy(constraints or {}))
        task.doc["constraints"] = replaced
        task.touch(call.now)
        return _empty(200, _entity_headers(task, task_url(call.base, job.id, task.id)))

    async def delete_task(self, call: Call) -> Response:
        job, task = self._task(call)
        _check_conditions(call, task.etag, task.last_modified, read=False)
        self.store.delete_task(job, task, call.now)
        return _empty(200)

    async def terminate_task(self, call: Call) -> Response:
        job, task = self._task(call)
        _check_conditions(call, task.etag, task.last_modified, read=False)
        self.store.terminate_task(job, task, call.now)
        return _empty(204, _entity_headers(task, f"{task_url(call.base, job.id, task.id)}/terminate"))

    async def reactivate_task(self, call: Call) -> Response:
        job, task = self._task(call)
        _check_conditions(call, task.etag, task.last_modified, read=False)
        self.store.reactivate_task(job, task, call.now)
        return _empty(204, _entity_headers(task, f"{task_url(call.base, job.id, task.id)}/reactivate"))

    async def list_subtasks(self, call: Call) -> Response:
        job, task = self._task(call)
        settings = task.doc.get("multiInstanceSettings") or {}
        count = int(settings.get("numberOfInstances") or 1)
        values: list[dict[str, Any]] = []
        rendered = render_task(job, task, call.base, call.now)
        execution = rendered.get("executionInfo", {})
        for index in range(1, count):
            subtask: dict[str, Any] = {"id": index, "state": rendered["state"]}
            subtask["stateTransitionTime"] = rendered["stateTransitionTime"]
            for key in ("startTime", "endTime", "exitCode", "result", "failureInfo"):
                if key in execution:
                    subtask[key] = execution[key]
            if "nodeInfo" in rendered:
                subtask["nodeInfo"] = rendered["nodeInfo"]
            values.append(subtask)
        select_text = call.q("$select")
        if select_text:
            values = [project(value, parse_select(select_text)) for value in values]
        return _json({"odata.metadata": f"{call.base}/$metadata#subtaskinformation", "value": values})

    async def list_task_files(self, call: Call) -> Response:
        job, task = self._task(call)
        files = task_files(job, task, call.now, self.work_root)
        return self._list_files(call, files, f"{task_url(call.base, job.id, task.id)}/files")

    async def get_task_file(self, call: Call) -> Response:
        job, task = self._task(call)
        files = task_files(job, task, call.now, self.work_root)
        return self._serve_file(call, files, f"{task_url(call.base, job.id, task.id)}/files")

    async def delete_task_file(self, call: Call) -> Response:
        job, task = self._task(call)
        name = call.params["filePath"].strip("/")
        entry = task_files(job, task, call.now, self.work_root).get(name)
        if entry is None:
            raise ServiceError("FileNotFound")
        recursive = call.flag("recursive")
        if entry.is_directory and entry.path is None and not recursive:
            raise ServiceError(
                "DirectoryNotEmpty", status=409, message="The directory is not empty; use recursive."
            )
        self._delete_on_disk(entry, recursive)
        if task.deleted_files is None:
            task.deleted_files = set()
        task.deleted_files.add(name)
        return _empty(200)

    # ---- job schedules ---------------------------------------------------------------------------------

    async def list_schedules(self, call: Call) -> Response:
        schedules = self.store.schedules
        return _page(
            call,
            "jobschedules",
            lambda start: schedules.scan(start, call.now),
            lambda schedule: render_schedule(self.store, schedule, call.base, call.now),
        )

    async def create_schedule(self, call: Call) -> Response:
        doc = await call.body()
        schedule_id = _require_id(doc)
        _require(doc, "schedule")
        specification = _require(doc, "jobSpecification")
        if not isinstance(specification, dict) or not specification.get("poolInfo"):
            raise ServiceError(
                "MissingRequiredProperty", values=[("PropertyName", "jobSpecification.poolInfo")]
            )
        _check_pool_info(specification["poolInfo"], "jobSpecification.poolInfo")
        schedule = self.store.create_schedule(doc, call.now)
        return _created(schedule, schedule_url(call.base, schedule_id))

    def _schedule_for_write(self, call: Call) -> JobSchedule:
        schedule = self.store.schedule(call.params["scheduleId"], call.now)
        _check_conditions(call, schedule.etag, schedule.last_modified, read=False)
        return schedule

    async def get_schedule(self, call: Call) -> Response:
        schedule = self.store.schedule(call.params["scheduleId"], call.now)
        not_modified = _check_conditions(call, schedule.etag, schedule.last_modified, read=True)
        if not_modified is not None:
            return not_modified
        return _single(
            call,
            "jobschedules/@Element",
            render_schedule(self.store, schedule, call.base, call.now),
            _entity_headers(schedule),
        )

    async def schedule_exists(self, call: Call) -> Response:
        schedule = self.store.schedules.find(call.params["scheduleId"], call.now)
        if schedule is None:
            return _empty(404)
        not_modified = _check_conditions(call, schedule.etag, schedule.last_modified, read=True)
        return not_modified or _empty(200, _entity_headers(schedule))

    async def replace_schedule(self, call: Call) -> Response:
        schedule = self._schedule_for_write(call)
        doc = await call.body()
        _require(doc, "jobSpecification")
        _replace(schedule.doc, doc, "BatchJobSchedule")
        schedule.touch(call.now)
        return _empty(200, _entity_headers(schedule, schedule_url(call.base, schedule.id)))

    async def update_schedule(self, call: Call) -> Response:
        schedule = self._schedule_for_write(call)
        doc = await call.body()
        for key in ("schedule", "jobSpecification", "metadata"):
            if key in doc:
                schedule.doc[key] = doc[key]
        schedule.touch(call.now)
        return _empty(200, _entity_headers(schedule, schedule_url(call.base, schedule.id)))

    async def delete_schedule(self, call: Call) -> Response:
        schedule = self._schedule_for_write(call)
        self.store.delete_schedule(schedule, call.now)
        return _empty(202, _entity_headers(schedule))

    async def disable_schedule(self, call: Call) -> Response:
        schedule = self._schedule_for_write(call)
        if schedule.state != "active":
            raise ServiceError("JobScheduleNotActive")
        schedule.set_state("disabled", call.now)
        schedule.touch(call.now)
        return _empty(204, _entity_headers(schedule, f"{schedule_url(call.base, schedule.id)}/disable"))

    async def enable_schedule(self, call: Call) -> Response:
        schedule = self._schedule_for_write(call)
        if schedule.state not in ("disabled", "active"):
            raise ServiceError("JobScheduleNotActive")
        schedule.set_state("active", call.now)
        schedule.touch(call.now)
        return _empty(204, _entity_headers(schedule, f"{schedule_url(call.base, schedule.id)}/enable"))

    async def terminate_schedule(self, call: Call) -> Response:
        schedule = self._schedule_for_write(call)
        self.store.terminate_schedule(schedule, call.now)
        return _empty(202, _entity_headers(schedule, f"{schedule_url(call.base, schedule.id)}/terminate"))


_VERBS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]

_CERT = "/certificates(thumbprintAlgorithm={thumbprintAlgorithm},thumbprint={thumbprint})"

_SUPPORTED_IMAGES: list[dict[str, Any]] = [
    {
        "nodeAgentSKUId": "batch.node.ubuntu 22.04",
        "imageReference": {
            "publisher": "canonical",
            "offer": "0001-com-ubuntu-server-jammy",
            "sku": "22_04-lts",
            "version": "latest",
        },
        "osType": "linux",
        "capabilities": [],
        "batchSupportEndOfLife": "2027-04-30T00:00:00Z",
        "verificationType": "verified",
    },
    {
        "nodeAgentSKUId": "batch.node.windows amd64",
        "imageReference": {
            "publisher": "microsoftwindowsserver",
            "offer": "windowsserver",
            "sku": "2022-datacenter",
            "version": "latest",
        },
        "osType": "windows",
        "capabilities": [],
        "verificationType": "verified",
    },
]


_FILE_MODE = "0o100644"
_DIRECTORY_MODE = "0o40755"


def _content_type(name: str) -> str:
    """The Content-Type of a node or task file, the same in its listing, on GET and on HEAD."""
    return "text/plain" if name.endswith(".txt") else "application/octet-stream"


def _slice(data: bytes, header: str) -> bytes:
    """Apply ``ocp-range: bytes=START-END`` (inclusive; ``START-`` to the end; ``-N`` the last N bytes)."""
    text = header.strip()
    if not text.lower().startswith("bytes="):
        raise ServiceError(
            "InvalidHeaderValue", values=[("HeaderName", "ocp-range"), ("HeaderValue", header)]
        )
    first, _, last = text[6:].partition("-")
    try:
        if first == "":
            count = int(last)
            return data[-count:] if count else b""
        start = int(first)
        end = int(last) if last else len(data) - 1
    except ValueError:
        raise ServiceError(
            "InvalidHeaderValue", values=[("HeaderName", "ocp-range"), ("HeaderValue", header)]
        ) from None
    if start > end or (start >= len(data) and len(data) > 0):
        raise ServiceError(
            "InvalidRange",
            status=416,
            message="The range specified is invalid for the current size of the resource.",
        )
    return data[start : end + 1]

"""The outer ASGI layer (api-version, authentication, faults, common headers) and the route table."""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote

import anyio
import httpx
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route, Router

from batchaio.emulator import _constants as C
from batchaio.emulator._auth import verify_request
from batchaio.emulator._bodies import BODY_MODELS, OPTIONAL_BODIES
from batchaio.emulator._call import Call, Handler, _empty, _json, _too_large
from batchaio.emulator._faults import FaultInjector
from batchaio.emulator._route_table import ROUTES
from batchaio.emulator._routes_files import FileRoutes
from batchaio.emulator._routes_jobs import JobRoutes
from batchaio.emulator._routes_misc import MiscRoutes
from batchaio.emulator._routes_pools import PoolRoutes
from batchaio.emulator._routes_tasks import TaskRoutes
from batchaio.emulator._state import Store
from batchaio.emulator._wire import ServiceError, error_body, new_request_id

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


_VERBS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]


class EmulatorApp(MiscRoutes, PoolRoutes, FileRoutes, JobRoutes, TaskRoutes):
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
        bearer_audience: str | None = None,
        subscription_id: str = C.DEFAULT_SUBSCRIPTION,
    ) -> None:
        self.store = store
        self.faults = faults
        self.account = account
        self.key = key
        self.allow_bearer = allow_bearer
        self.bearer_audience = bearer_audience
        self.subscription_id = subscription_id
        self.require_auth = require_auth
        self.work_root = work_root
        # Host names accepted besides IP addresses and ``localhost`` when served over a socket; ``None``
        # (in process, through an ASGI transport) accepts any.
        self.allowed_hosts: frozenset[str] | None = None
        self.router = Router(routes=self._routes(), default=self._unknown_route, lifespan=lifespan)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.router(scope, receive, send)
            return
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
        }
        request_id = new_request_id()
        scope = {**scope, "batchaio.request_id": request_id}
        send_with_headers = _adding(send, _common_headers(request_id, headers))
        base = f"{scope.get('scheme', 'http')}://{headers.get('host', '127.0.0.1')}"
        latency = self.faults.latency(scope["path"])
        if latency > 0:
            await anyio.sleep(latency)
        try:
            fault = self._admit(scope, headers)
            scope = _with_routable_path(scope)
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

    def _admit(self, scope: Scope, headers: dict[str, str]) -> str | None:
        """Every check before routing, in the service's order; the fault to inject, if any."""
        self._check_host(headers.get("host"))
        self._check_api_version(scope)
        if self.require_auth:
            verify_request(
                scope["method"],
                _signed_target(scope),
                headers,
                account=self.account,
                key=self.key,
                allow_bearer=self.allow_bearer,
                now=time.time(),
                bearer_audience=self.bearer_audience,
            )
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > C.MAX_REQUEST_BODY_BYTES:
            raise _too_large()
        fault = self.faults.decide(scope["path"])
        if fault == "throttle":
            status = self.faults.throttle_status()
            raise ServiceError(
                "TooManyRequests" if status == 429 else "ServerBusy",
                status=status,
                headers=self.faults.throttle_headers(),
            )
        if fault == "server_error":
            raise ServiceError("InternalError")
        if fault == "drop":
            raise ConnectionDropped()
        return fault

    def _check_host(self, host: str | None) -> None:
        """Refuse a ``Host`` that names neither an IP address nor ``localhost`` nor an allowed name, so that a
        web page whose DNS name was rebound to this machine cannot reach the emulator (served mode only)."""
        if self.allowed_hosts is None or host is None:
            return
        name = _host_name(host)
        if name in self.allowed_hosts or name == "localhost" or _is_ip_literal(name):
            return
        raise ServiceError(
            "InvalidHeaderValue",
            values=[
                ("HeaderName", "Host"),
                ("HeaderValue", host[:100]),
                ("Reason", "The emulator answers only to its own address"),
            ],
        )

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

    def _endpoint(
        self, handler: Handler, body_model: str | None, route: str, optional_body: bool
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            params = request.path_params
            for name, value in params.items():
                if _ENCODED_SLASH in value:
                    params[name] = value.replace(_ENCODED_SLASH, "/")
            call = Call(request, self.store, body_model, route, self.subscription_id)
            try:
                if body_model is not None:
                    # The body is checked before anything is looked up, as the service does (400 before 404).
                    await call.body(optional=optional_body)
                return await handler(call)
            except ClientDisconnect:
                # The client went away mid-request: nobody to answer, nothing worth logging.
                return Response(b"", status_code=499)
            except ServiceError as error:
                request_id = request.scope.get("batchaio.request_id") or new_request_id()
                return self._error_response(call.base, error, request_id, request.method)

        return endpoint

    def _handlers(self) -> dict[str, Handler]:
        """The handler of each operation, keyed by the ``operationId`` of the generated route table."""
        return {
            "Applications_ListApplications": self.list_applications,
            "Applications_GetApplication": self.get_application,
            "Certificates_ListCertificates": self.list_certificates,
            "Certificates_CreateCertificate": self.create_certificate,
            "Certificates_GetCertificate": self.get_certificate,
            "Certificates_DeleteCertificate": self.delete_certificate,
            "Certificates_CancelCertificateDeletion": self.cancel_delete_certificate,
            "Jobs_ListJobs": self.list_jobs,
            "Jobs_CreateJob": self.create_job,
            "Jobs_GetJob": self.get_job,
            "Jobs_ReplaceJob": self.replace_job,
            "Jobs_UpdateJob": self.update_job,
            "Jobs_DeleteJob": self.delete_job,
            "Tasks_CreateTaskCollection": self.add_task_collection,
            "Jobs_DisableJob": self.disable_job,
            "Jobs_EnableJob": self.enable_job,
            "Jobs_TerminateJob": self.terminate_job,
            "Jobs_ListJobPreparationAndReleaseTaskStatus": self.job_prep_release_status,
            "Jobs_GetJobTaskCounts": self.task_counts,
            "Tasks_ListTasks": self.list_tasks,
            "Tasks_CreateTask": self.create_task,
            "Tasks_GetTask": self.get_task,
            "Tasks_ReplaceTask": self.replace_task,
            "Tasks_DeleteTask": self.delete_task,
            "Tasks_ListTaskFiles": self.list_task_files,
            "Tasks_GetTaskFile": self.get_task_file,
            "Tasks_GetTaskFileProperties": self.get_task_file,
            "Tasks_DeleteTaskFile": self.delete_task_file,
            "Tasks_ReactivateTask": self.reactivate_task,
            "Tasks_ListSubTasks": self.list_subtasks,
            "Tasks_TerminateTask": self.terminate_task,
            "JobSchedules_ListJobSchedules": self.list_schedules,
            "JobSchedules_CreateJobSchedule": self.create_schedule,
            "JobSchedules_GetJobSchedule": self.get_schedule,
            "JobSchedules_JobScheduleExists": self.schedule_exists,
            "JobSchedules_ReplaceJobSchedule": self.replace_schedule,
            "JobSchedules_UpdateJobSchedule": self.update_schedule,
            "JobSchedules_DeleteJobSchedule": self.delete_schedule,
            "JobSchedules_DisableJobSchedule": self.disable_schedule,
            "JobSchedules_EnableJobSchedule": self.enable_schedule,
            "JobSchedules_TerminateJobSchedule": self.terminate_schedule,
            "Jobs_ListJobsFromSchedule": self.list_schedule_jobs,
            "Pools_ListPoolNodeCounts": self.node_counts,
            "Pools_ListPoolUsageMetrics": self.usage_metrics,
            "Pools_ListSupportedImages": self.supported_images,
            "Pools_ListPools": self.list_pools,
            "Pools_CreatePool": self.create_pool,
            "Pools_GetPool": self.get_pool,
            "Pools_PoolExists": self.pool_exists,
            "Pools_UpdatePool": self.update_pool,
            "Pools_DeletePool": self.delete_pool,
            "Pools_DisablePoolAutoScale": self.disable_autoscale,
            "Pools_EnablePoolAutoScale": self.enable_autoscale,
            "Pools_EvaluatePoolAutoScale": self.evaluate_autoscale,
            "Pools_RemoveNodes": self.remove_nodes,
            "Pools_ResizePool": self.resize_pool,
            "Pools_StopPoolResize": self.stop_resize,
            "Pools_ReplacePoolProperties": self.replace_pool_properties,
            "Nodes_ListNodes": self.list_nodes,
            "Nodes_GetNode": self.get_node,
            "Nodes_DeallocateNode": self.node_action("deallocate"),
            "Nodes_RebootNode": self.node_action("reboot"),
            "Nodes_ReimageNode": self.node_action("reimage"),
            "Nodes_StartNode": self.node_action("start"),
            "Nodes_DisableNodeScheduling": self.node_scheduling(False),
            "Nodes_EnableNodeScheduling": self.node_scheduling(True),
            "Nodes_ListNodeExtensions": self.list_extensions,
            "Nodes_GetNodeExtension": self.get_extension,
            "Nodes_ListNodeFiles": self.list_node_files,
            "Nodes_GetNodeFile": self.get_node_file,
            "Nodes_GetNodeFileProperties": self.get_node_file,
            "Nodes_DeleteNodeFile": self.delete_node_file,
            "Nodes_GetNodeRemoteLoginSettings": self.remote_login_settings,
            "Nodes_UploadNodeLogs": self.upload_logs,
            "Nodes_CreateNodeUser": self.create_node_user,
            "Nodes_ReplaceNodeUser": self.replace_node_user,
            "Nodes_DeleteNodeUser": self.delete_node_user,
        }

    def _routes(self) -> list[Route]:
        handlers = self._handlers()
        unmatched = {operation for operation, _, _ in ROUTES} ^ set(handlers)
        if unmatched:
            raise RuntimeError(
                f"operations without a handler, or handlers of no operation: {sorted(unmatched)}"
            )
        by_path: dict[str, dict[str, Handler]] = {}
        for operation, method, path in ROUTES:
            by_path.setdefault(path, {})[method] = handlers[operation]
        # Every verb reaches ``_dispatch``, which answers the ones a path lacks itself.
        return [
            Route(path, self._dispatch(path, handlers), methods=_VERBS) for path, handlers in by_path.items()
        ]

    def _dispatch(self, path: str, handlers: dict[str, Handler]) -> Callable[[Request], Awaitable[Response]]:
        """One endpoint per path: HEAD without a handler of its own is GET without the body (as HTTP and the
        service do); a verb the path does not support is 405 ``UnsupportedHttpVerb`` with ``Allow``."""
        key = re.sub(r"\{[^}]*\}", "{}", path)
        endpoints = {
            method: self._endpoint(
                handler, BODY_MODELS.get((method, key)), key, (method, key) in OPTIONAL_BODIES
            )
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


# Stands for ``%2F`` inside a path segment while the router matches, so that an encoded slash in an id is part
# of that id (``/jobs/j1%2Ftasks`` is job ``j1/tasks``), never a separator; file paths get their ``/`` back.
_ENCODED_SLASH = "\x00"


def _with_routable_path(scope: Scope) -> Scope:
    """``scope`` with a path in which each ``%2F`` of the raw path is ``_ENCODED_SLASH``."""
    raw: bytes | None = scope.get("raw_path")
    if "\x00" in scope["path"]:
        raise ServiceError("InvalidUri", values=[("Reason", "The path contains a NUL character")])
    if raw is None or b"%2f" not in raw.lower():
        return scope
    segments = raw.split(b"?", 1)[0].decode("ascii", "replace").split("/")
    path = "/".join(unquote(segment).replace("/", _ENCODED_SLASH) for segment in segments)
    return {**scope, "path": path}


def _signed_target(scope: Scope) -> str:
    """The request target as the client signed it: the raw path and the query string."""
    raw_path = scope.get("raw_path") or quote(scope["path"]).encode()
    target: str = raw_path.decode("latin-1")
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    return target


def _common_headers(request_id: str, headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """The headers every response carries."""
    extra = [
        (b"request-id", request_id.encode()),
        (b"dataserviceversion", b"3.0"),
        (b"x-content-type-options", b"nosniff"),
    ]
    if headers.get("return-client-request-id", "").lower() == "true" and "client-request-id" in headers:
        extra.append((b"client-request-id", headers["client-request-id"].encode("latin-1")))
    return extra


def _adding(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    """``send`` that adds ``extra`` to the response's headers."""

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = dict(message)
            message["headers"] = list(message.get("headers", [])) + extra
        await send(message)

    return send_with_headers


def _host_name(host: str) -> str:
    """The name part of a ``Host`` value (``[::1]:80`` -> ``::1``, ``Example:80`` -> ``example``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True

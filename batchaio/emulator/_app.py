"""The outer ASGI layer (api-version, authentication, faults, common headers) and the route table."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote

import anyio
import httpx
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route, Router

from batchaio.emulator import _constants as C
from batchaio.emulator._auth import verify_request
from batchaio.emulator._bodies import BODY_MODELS
from batchaio.emulator._call import Call, Handler, _empty, _json, _too_large
from batchaio.emulator._faults import FaultInjector, retry_after_headers
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


_CERT = "/certificates(thumbprintAlgorithm={thumbprintAlgorithm},thumbprint={thumbprint})"


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
    ) -> None:
        self.store = store
        self.faults = faults
        self.account = account
        self.key = key
        self.allow_bearer = allow_bearer
        self.require_auth = require_auth
        self.work_root = work_root
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

    def _endpoint(
        self, handler: Handler, body_model: str | None, route: str
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            call = Call(request, self.store, body_model, route)
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
            method: self._endpoint(handler, BODY_MODELS.get((method, key)), key)
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

"""Handlers for tasks: add (one or a collection), read, replace, terminate, reactivate, subtasks."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

from starlette.responses import Response

from batchaio.emulator import _constants as C
from batchaio.emulator._call import (
    Call,
    Routes,
    _check_conditions,
    _created,
    _empty,
    _entity_headers,
    _json,
    _page,
    _selection,
    _single,
)
from batchaio.emulator._checks import _check_task_types, _require_id, check_body
from batchaio.emulator._odata import project
from batchaio.emulator._render import render_task, task_url
from batchaio.emulator._state import Job, TaskRecord
from batchaio.emulator._wire import ServiceError, error_body, format_time


class TaskRoutes(Routes):
    """The task operations."""

    def _validate_task(self, doc: Any, job: Job) -> str:
        """Check a task's id, command line and the types of the properties the emulator acts on."""
        if not isinstance(doc, dict):
            raise ServiceError("InvalidRequestBody", values=[("Reason", "A task must be a JSON object")])
        task_id = _require_id(doc)
        check_body(doc, "BatchTaskCreateContent", self.subscription_id)
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
        # One instance per node: never more subtasks than the pool has nodes.
        pool = self.store.pools.find(task.pool_id or job.pool_id or "", call.now)
        nodes = len(pool.nodes) if pool is not None else 0
        count = min(int(settings.get("numberOfInstances") or 1), nodes)
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
        selected = _selection(call)
        if selected:
            values = [project(value, selected) for value in values]
        return _json({"odata.metadata": f"{call.base}/$metadata#subtaskinformation", "value": values})

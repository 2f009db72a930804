"""Handlers for jobs and job schedules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from starlette.responses import Response

from batchaio.emulator._call import (
    Call,
    Routes,
    _check_conditions,
    _created,
    _empty,
    _entity_headers,
    _json,
    _listing,
    _page,
    _single,
)
from batchaio.emulator._checks import (
    _REPLACE_DEFAULTS,
    _check_constraints,
    _check_pool_info,
    _replace,
    _replaced,
    _require,
    _require_id,
)
from batchaio.emulator._render import job_url, node_url, render_job, render_schedule, schedule_url
from batchaio.emulator._state import Job, JobSchedule
from batchaio.emulator._wire import ServiceError, format_time


class JobRoutes(Routes):
    """The job and job schedule operations."""

    def _job_for_write(self, call: Call) -> Job:
        job = self.store.job(call.params["jobId"], call.now)
        _check_conditions(call, job.etag, job.last_modified, read=False)
        if job.deleting_until is not None:
            raise ServiceError("JobBeingDeleted")
        return job

    async def list_jobs(self, call: Call) -> Response:
        self.store.catch_up_schedules(call.now)
        jobs = self.store.jobs

        def items(start: int) -> Iterator[tuple[int, Job]]:
            for position, job in jobs.scan(start, call.now):
                self.store.refresh_job(job, call.now)
                yield position, job

        return _page(call, "jobs", items, lambda job: render_job(self.store, job, call.base, call.now))

    async def list_schedule_jobs(self, call: Call) -> Response:
        schedule = self.store.schedule(call.params["jobScheduleId"], call.now)
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

    async def list_schedules(self, call: Call) -> Response:
        self.store.catch_up_schedules(call.now)
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
        schedule = self.store.schedule(call.params["jobScheduleId"], call.now)
        _check_conditions(call, schedule.etag, schedule.last_modified, read=False)
        return schedule

    async def get_schedule(self, call: Call) -> Response:
        schedule = self.store.schedule(call.params["jobScheduleId"], call.now)
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
        schedule = self.store.schedules.find(call.params["jobScheduleId"], call.now)
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

"""Hand-written base of the generated :class:`batchaio.resources.jobs.Jobs`: the workflow helpers on jobs,
waiting for their tasks and running a job end to end."""

from __future__ import annotations

import random

from batchaio import _constants as C
from batchaio import _job_run, _wait
from batchaio._bulk import TaskSource
from batchaio._job_run import JobOutcome
from batchaio._task_progress import TaskProgress
from batchaio._tracing import traced
from batchaio._wait import ProgressCallback
from batchaio._workflow_api import groups
from batchaio.models import BatchJobCreateContent
from batchaio.resources._base import Resource

__all__ = ["JobExtensions"]


class JobExtensions(Resource):
    """Job helpers built on the public operations: :meth:`wait_for_tasks` and :meth:`run`."""

    @traced("jobs.wait_for_tasks", job_id="jobId")
    async def wait_for_tasks(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        poll_interval: float = C.WATCH_POLL_INTERVAL,
        stall_timeout: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> TaskProgress:
        """Wait until no task of the job is active or running; return the final
        :class:`~batchaio.TaskProgress`.

        Polls ``jobs.get_task_counts`` every ``poll_interval`` seconds (one small request) and calls
        ``progress`` with each reading. Raises :class:`~batchaio.WaitTimeoutError` after ``timeout`` seconds,
        :class:`~batchaio.TasksStalledError` when the counts did not move for ``stall_timeout`` seconds, and
        :class:`~batchaio.JobCannotProgressError` as soon as the job's tasks cannot run: when nothing runs and
        nothing moves, it reads the job's pool and gives up if it is missing, stopped resizing with errors
        (quota named), failed its start task on its nodes, or has no usable node (the reason is in the
        message, the pool's :class:`~batchaio.PoolNotReadyError` is its ``__cause__``). The counts may lag the
        tasks by a few seconds. Throttling and server errors that outlast the client's retries are waited
        out (``Retry-After`` honoured) within ``timeout``; other errors are raised.
        """
        return await _wait.wait_for_tasks(
            groups(self._pipeline, self._defaults),
            job_id,
            time_limit=timeout,
            poll_interval=poll_interval,
            stall_timeout=stall_timeout,
            progress=progress,
        )

    @traced("jobs.run", job="jobId")
    async def run(
        self,
        job: BatchJobCreateContent,
        tasks: TaskSource,
        *,
        concurrency: int = C.BULK_DEFAULT_CONCURRENCY,
        poll_interval: float = C.WATCH_POLL_INTERVAL,
        timeout: float | None = None,
        progress: ProgressCallback | None = None,
        rng: random.Random | None = None,
    ) -> JobOutcome:
        """Run a job end to end and return its :class:`~batchaio.JobOutcome`.

        Creates ``job`` (without ``onAllTasksComplete``; a 409 ``ActiveJobAndScheduleQuotaReached`` waits
        with long jittered backoff within ``timeout``), submits ``tasks`` with ``tasks.add_many``
        (``concurrency`` requests at a time), and only once every task is accounted for sets the job to
        terminate when all its tasks complete, so it cannot complete before the last task is added. Then it
        waits as :meth:`wait_for_tasks` does (``progress`` gets each reading) and, if a task failed, adds the
        :meth:`~batchaio.resources.tasks.Tasks.failure_report`. ``timeout`` bounds the whole run
        (:class:`~batchaio.WaitTimeoutError`); errors of ``add_many`` are raised as it raises them, leaving
        the job in place.
        """
        return await _job_run.run_job(
            groups(self._pipeline, self._defaults),
            job,
            tasks,
            concurrency=concurrency,
            poll_interval=poll_interval,
            time_limit=timeout,
            progress=progress,
            rng=rng,
        )

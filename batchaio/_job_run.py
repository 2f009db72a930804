"""A job end to end: ``client.jobs.run`` creates it, submits its tasks, waits for them and reports.

The order is what avoids the race of ``onAllTasksComplete=terminatejob`` set at creation (the job would
complete as soon as the first tasks finish, before the rest are added): the job is created without it, every
task is submitted and accounted for by ``add_many``, and only then is the job told to terminate when its
tasks are done. A create refused with ``ActiveJobAndScheduleQuotaReached`` waits with long jittered backoff
(:func:`quota_backoff`) within the run's timeout.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import anyio
import attrs

from batchaio import _constants as C
from batchaio._bulk import TaskSource
from batchaio._bulk_report import BulkAddReport
from batchaio._failures import FailureReport
from batchaio._task_progress import TaskProgress
from batchaio._wait import ProgressCallback, wait_for_tasks
from batchaio._workflow_checks import check_seconds
from batchaio._workflow_errors import WaitTimeoutError
from batchaio.errors import ConflictError, ValidationError
from batchaio.models import BatchJobCreateContent, BatchJobUpdateContent, OnAllBatchTasksComplete

if TYPE_CHECKING:
    from batchaio._workflow_api import Groups

__all__ = ["JobOutcome", "quota_backoff", "run_job"]

QUOTA_CODE = "ActiveJobAndScheduleQuotaReached"


@attrs.frozen
class JobOutcome:
    """What ``jobs.run`` did: the bulk ``report`` of the submission, the final ``progress`` and the
    ``failures`` (``None`` when no task failed)."""

    job_id: str
    report: BulkAddReport
    progress: TaskProgress
    failures: FailureReport | None

    @property
    def succeeded(self) -> bool:
        """Every task was created and completed successfully."""
        return self.failures is None and self.report.failed == 0 and self.progress.failed == 0


def quota_backoff(attempt: int, rng: random.Random) -> float:
    """Seconds to wait before creating again after the ``attempt``-th (from 1) quota refusal: at least half
    of a window doubling from ``JOB_QUOTA_BACKOFF_BASE`` to ``JOB_QUOTA_BACKOFF_CAP``, the rest at random."""
    window = min(C.JOB_QUOTA_BACKOFF_CAP, C.JOB_QUOTA_BACKOFF_BASE * 2 ** (attempt - 1))
    return float(window / 2 + rng.uniform(0, window / 2))


def is_quota_refusal(error: ConflictError) -> bool:
    """Whether a 409 on create says the account has too many active jobs and schedules."""
    return (error.code or "").lower() == QUOTA_CODE.lower()


async def create_job(
    api: Groups, job: BatchJobCreateContent, *, deadline: float | None, rng: random.Random
) -> None:
    """Create ``job``, waiting out quota refusals until ``deadline`` (monotonic seconds)."""
    attempt = 0
    while True:
        try:
            await api.jobs.create(job)
            return
        except ConflictError as err:
            if not is_quota_refusal(err):
                raise
            attempt += 1
            delay = quota_backoff(attempt, rng)
            if deadline is not None and anyio.current_time() + delay >= deadline:
                raise WaitTimeoutError(
                    f"job {job.id}: the account's job quota stayed full ({err.code}) within the timeout"
                ) from err
            await anyio.sleep(delay)


async def run_job(
    api: Groups,
    job: BatchJobCreateContent,
    tasks: TaskSource,
    *,
    concurrency: int,
    poll_interval: float,
    time_limit: float | None,
    progress: ProgressCallback | None = None,
    rng: random.Random | None = None,
) -> JobOutcome:
    """Create, submit, set ``terminatejob``, wait, report (see the module docstring)."""
    if not isinstance(job, BatchJobCreateContent) or not job.id:
        raise ValidationError("job must be a BatchJobCreateContent with an id", field="job")
    check_seconds("timeout", time_limit)
    deadline = None if time_limit is None else anyio.current_time() + time_limit
    job_id = job.id
    created = attrs.evolve(job, on_all_tasks_complete=OnAllBatchTasksComplete.NO_ACTION)
    await create_job(api, created, deadline=deadline, rng=rng or random.Random())
    report = await api.tasks.add_many(job_id, tasks, concurrency=concurrency, deadline=_left(deadline))
    await api.jobs.update(
        job_id, BatchJobUpdateContent(on_all_tasks_complete=OnAllBatchTasksComplete.TERMINATE_JOB)
    )
    final = await wait_for_tasks(
        api,
        job_id,
        time_limit=_left(deadline),
        poll_interval=poll_interval,
        stall_timeout=None,
        progress=progress,
        min_total=report.created + report.existing,
    )
    failures = await api.tasks.failure_report(job_id) if final.failed else None
    return JobOutcome(job_id=job_id, report=report, progress=final, failures=failures)


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - anyio.current_time())

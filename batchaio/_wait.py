"""Waiting until every task of a job has completed: ``client.jobs.wait_for_tasks``.

:func:`wait_step` decides from the task counts and the clock (done, timed out, stalled, check the pool, or
wait); :func:`job_blocker` decides from the job's pool whether its tasks can run at all. The loop polls
``jobs.get_task_counts`` (one small request) and reads the pool only when nothing runs and nothing moved.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

import anyio
import attrs

from batchaio import _constants as C
from batchaio._polling import keep_polling
from batchaio._pool_ready import pool_verdict, read_pool, with_start_task_tails
from batchaio._task_progress import TaskProgress
from batchaio._workflow_checks import check_seconds
from batchaio._workflow_errors import (
    JobCannotProgressError,
    PoolNotReadyError,
    StartTaskFailedError,
    TasksStalledError,
    WaitTimeoutError,
)
from batchaio.models import BatchNode, BatchPool

if TYPE_CHECKING:
    from batchaio._workflow_api import Groups

__all__ = ["Clock", "Step", "job_blocker", "wait_for_tasks", "wait_step"]

ProgressCallback = Callable[[TaskProgress], object]


class Step(enum.Enum):
    """What ``wait_for_tasks`` does after a poll."""

    DONE = "done"
    TIMEOUT = "timeout"
    STALLED = "stalled"
    CHECK_POOL = "check_pool"  # nothing runs and nothing moved: can the job's tasks run at all?
    WAIT = "wait"


@attrs.frozen
class Clock:
    """The times a wait decision looks at (seconds on a monotonic clock)."""

    now: float
    started: float
    last_change: float
    last_pool_check: float | None = None


def wait_step(
    progress: TaskProgress,
    clock: Clock,
    *,
    time_limit: float | None,
    stall_timeout: float | None,
    min_total: int = 0,
    pool_check_interval: float = C.WAIT_POOL_CHECK_INTERVAL,
) -> Step:
    """Decide after a poll. Done once no task is active or running (and at least ``min_total`` are known)."""
    if progress.unfinished == 0 and progress.total >= min_total:
        return Step.DONE
    if time_limit is not None and clock.now - clock.started >= time_limit:
        return Step.TIMEOUT
    if stall_timeout is not None and clock.now - clock.last_change >= stall_timeout:
        return Step.STALLED
    idle = progress.running == 0 and progress.active > 0 and clock.last_change < clock.now
    due = clock.last_pool_check is None or clock.now - clock.last_pool_check >= pool_check_interval
    return Step.CHECK_POOL if idle and due else Step.WAIT


def job_blocker(pool: BatchPool | None, nodes: Sequence[BatchNode], pool_id: str) -> PoolNotReadyError | None:
    """Why the job's tasks cannot run on ``pool`` (``None``: they can, or may soon)."""
    if pool is None:
        return PoolNotReadyError(f"pool {pool_id} does not exist", pool_id=pool_id)
    return pool_verdict(pool, nodes, min_nodes=1).error


async def wait_for_tasks(
    api: Groups,
    job_id: str,
    *,
    time_limit: float | None,
    poll_interval: float,
    stall_timeout: float | None,
    progress: ProgressCallback | None,
    min_total: int = 0,
) -> TaskProgress:
    """Poll the job's task counts until :func:`wait_step` says done (return them) or give up (raise)."""
    check_seconds("timeout", time_limit)
    check_seconds("stall_timeout", stall_timeout)
    check_seconds("poll_interval", poll_interval, optional=False, zero=False)
    started = anyio.current_time()
    deadline = None if time_limit is None else started + time_limit
    clock = Clock(now=started, started=started, last_change=started)
    last: TaskProgress | None = None
    while True:
        read = await keep_polling(partial(api.jobs.get_task_counts, job_id), poll_interval, deadline)
        counts = TaskProgress.from_counts(read)
        now = anyio.current_time()
        clock = attrs.evolve(clock, now=now, last_change=now if counts != last else clock.last_change)
        last = counts
        if progress is not None:
            progress(counts)
        step = wait_step(
            counts, clock, time_limit=time_limit, stall_timeout=stall_timeout, min_total=min_total
        )
        if step is Step.DONE:
            return counts
        if step is Step.TIMEOUT:
            raise WaitTimeoutError(
                f"job {job_id}: tasks not done after {time_limit} s: {counts}", progress=counts
            )
        if step is Step.STALLED:
            stalled = now - clock.last_change
            raise TasksStalledError(
                f"job {job_id}: no task changed state for {stalled:.0f} s: {counts}",
                progress=counts,
                stalled_for=stalled,
            )
        if step is Step.CHECK_POOL:
            clock = attrs.evolve(clock, last_pool_check=now)
            await keep_polling(partial(_raise_if_blocked, api, job_id, counts), poll_interval, deadline)
        left = None if deadline is None else deadline - anyio.current_time()
        await anyio.sleep(poll_interval if left is None else max(0.0, min(poll_interval, left)))


async def _raise_if_blocked(api: Groups, job_id: str, counts: TaskProgress) -> None:
    job = await api.jobs.get(job_id, select=["id", "poolInfo", "executionInfo"])
    pool_id = job.pool_info.pool_id if job.pool_info is not None else None
    if pool_id is None and job.execution_info is not None:
        pool_id = job.execution_info.pool_id
    if pool_id is None:
        return  # an auto pool not yet created: nothing to judge
    try:
        pool, nodes = await read_pool(api.pools, api.nodes, pool_id)
        blocker = job_blocker(pool, nodes, pool_id)
    except PoolNotReadyError as missing:
        blocker = missing
    if blocker is None:
        return
    if isinstance(blocker, StartTaskFailedError):
        blocker = await with_start_task_tails(api.nodes, blocker, C.FAILURE_TAIL_BYTES)
    raise JobCannotProgressError(
        f"job {job_id} cannot make progress: {blocker}",
        job_id=job_id,
        pool_id=pool_id,
        reason=str(blocker),
        progress=counts,
    ) from blocker

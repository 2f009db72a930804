"""``wait_for_tasks``' decisions as a table: done, timeout, stall, when to look at the pool."""

from __future__ import annotations

import pytest

from batchaio import PoolNotReadyError, TaskProgress
from batchaio._wait import Clock, Step, job_blocker, wait_step
from batchaio.models import AllocationState, BatchNode, BatchNodeState, BatchPool

RUNNING = TaskProgress(active=3, running=2, completed=5, succeeded=5)
QUEUED = TaskProgress(active=10)
DONE = TaskProgress(completed=10, succeeded=8, failed=2)

# (progress, clock, timeout, stall_timeout, min_total, expected)
TABLE = [
    pytest.param(DONE, Clock(5, 0, 5), None, None, 0, Step.DONE, id="all completed"),
    pytest.param(DONE, Clock(50, 0, 0), 10, 5, 0, Step.DONE, id="done wins over timeout and stall"),
    pytest.param(TaskProgress(), Clock(1, 0, 1), None, None, 0, Step.DONE, id="a job without tasks"),
    pytest.param(TaskProgress(), Clock(1, 0, 1), None, None, 10, Step.WAIT, id="counts lag the submission"),
    pytest.param(RUNNING, Clock(10, 0, 10), 10, None, 0, Step.TIMEOUT, id="timeout reached"),
    pytest.param(RUNNING, Clock(9, 0, 9), 10, None, 0, Step.WAIT, id="timeout not yet"),
    pytest.param(RUNNING, Clock(30, 0, 10), None, 20, 0, Step.STALLED, id="nothing moved for stall_timeout"),
    pytest.param(RUNNING, Clock(29, 0, 10), None, 20, 0, Step.WAIT, id="moved recently enough"),
    pytest.param(QUEUED, Clock(3, 0, 1), None, None, 0, Step.CHECK_POOL, id="nothing runs, nothing moved"),
    pytest.param(QUEUED, Clock(3, 0, 3), None, None, 0, Step.WAIT, id="nothing runs but counts just moved"),
    pytest.param(QUEUED, Clock(3, 0, 1, 2), None, None, 0, Step.WAIT, id="pool checked recently"),
    pytest.param(QUEUED, Clock(40, 0, 1, 5), None, None, 0, Step.CHECK_POOL, id="pool check due again"),
    pytest.param(RUNNING, Clock(3, 0, 1), None, None, 0, Step.WAIT, id="tasks run: no pool check"),
]


@pytest.mark.parametrize(("progress", "clock", "timeout", "stall", "min_total", "expected"), TABLE)
def test_wait_step(
    progress: TaskProgress,
    clock: Clock,
    timeout: float | None,
    stall: float | None,
    min_total: int,
    expected: Step,
) -> None:
    step = wait_step(progress, clock, time_limit=timeout, stall_timeout=stall, min_total=min_total)
    assert step is expected


def test_job_blocker() -> None:
    missing = job_blocker(None, [], "gone")
    assert isinstance(missing, PoolNotReadyError) and "gone does not exist" in str(missing)
    steady = BatchPool(id="p", allocation_state=AllocationState.STEADY, target_dedicated_nodes=1)
    assert job_blocker(steady, [BatchNode(id="n", state=BatchNodeState.IDLE)], "p") is None
    assert job_blocker(steady, [BatchNode(id="n", state=BatchNodeState.UNUSABLE)], "p") is not None
    resizing = BatchPool(id="p", allocation_state=AllocationState.RESIZING, target_dedicated_nodes=1)
    assert job_blocker(resizing, [], "p") is None


def test_progress_reads_the_counts() -> None:
    assert str(TaskProgress(1, 2, 3, 2, 1)) == "3/6 completed (2 succeeded, 1 failed), 2 running, 1 active"
    assert TaskProgress(1, 2, 3, 2, 1).unfinished == 3

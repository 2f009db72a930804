"""Exceptions of the workflow helpers (waiting for tasks and pools, running a job)::

    BatchaioError
     └── WorkflowError                  a wait or a run could not reach its goal
          ├── WaitTimeoutError          the caller's timeout passed (also a builtin TimeoutError)
          ├── TasksStalledError         no task changed state for ``stall_timeout`` seconds
          ├── JobCannotProgressError    the job's tasks cannot run: its pool is missing or not usable
          └── PoolNotReadyError         a pool will not become ready
               ├── PoolResizeError      the pool's allocation stopped with resize errors (quota codes named)
               ├── StartTaskFailedError nodes failed their start task (node ids, stderr tails)
               ├── NodesUnusableError   nodes are unusable, or none are left to come
               └── PoolWaitTimeoutError the timeout passed first (also a WaitTimeoutError)

Each carries what was known when it was raised (``progress``, ``pool``), so a pipeline can report it.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence

import attrs

from batchaio._task_progress import TaskProgress
from batchaio.errors import BatchaioError
from batchaio.models import BatchPool, ResizeError

__all__ = [
    "JobCannotProgressError",
    "NodesUnusableError",
    "PoolNotReadyError",
    "PoolResizeError",
    "PoolWaitTimeoutError",
    "StartTaskFailedError",
    "StartTaskFailure",
    "TasksStalledError",
    "WaitTimeoutError",
    "WorkflowError",
]


class WorkflowError(BatchaioError):
    """A workflow helper (``wait_for_tasks``, ``wait_until_ready``, ``jobs.run``) gave up."""


class WaitTimeoutError(WorkflowError, builtins.TimeoutError):
    """The wait's ``timeout`` passed. ``progress`` is the last task progress seen (``None`` for a pool)."""

    def __init__(self, message: str, *, progress: TaskProgress | None = None) -> None:
        super().__init__(message)
        self.progress = progress


class TasksStalledError(WorkflowError):
    """No task of the job changed state for ``stall_timeout`` seconds; ``progress`` is where they stood."""

    def __init__(self, message: str, *, progress: TaskProgress, stalled_for: float) -> None:
        super().__init__(message)
        self.progress = progress
        self.stalled_for = stalled_for


class JobCannotProgressError(WorkflowError):
    """The job's remaining tasks cannot run; ``reason`` says why (the ``__cause__`` is the pool's error)."""

    def __init__(
        self, message: str, *, job_id: str, pool_id: str | None, reason: str, progress: TaskProgress
    ) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.pool_id = pool_id
        self.reason = reason
        self.progress = progress


class PoolNotReadyError(WorkflowError):
    """A pool will not become ready. ``pool`` is the pool as last read (``None`` if it does not exist)."""

    def __init__(self, message: str, *, pool_id: str, pool: BatchPool | None = None) -> None:
        super().__init__(message)
        self.pool_id = pool_id
        self.pool = pool


class PoolResizeError(PoolNotReadyError):
    """The pool's allocation ended with resize errors; ``quota_codes`` are those about quota."""

    def __init__(
        self,
        message: str,
        *,
        pool_id: str,
        pool: BatchPool | None,
        resize_errors: Sequence[ResizeError],
        quota_codes: Sequence[str],
    ) -> None:
        super().__init__(message, pool_id=pool_id, pool=pool)
        self.resize_errors = tuple(resize_errors)
        self.quota_codes = tuple(quota_codes)


@attrs.frozen
class StartTaskFailure:
    """One node whose start task failed: its exit code or failure code, and the tail of its stderr."""

    node_id: str
    exit_code: int | None
    failure_code: str | None
    stderr_tail: str | None = None


class StartTaskFailedError(PoolNotReadyError):
    """Nodes of the pool failed their start task (``failures``: one per node, with its stderr tail)."""

    def __init__(
        self, message: str, *, pool_id: str, pool: BatchPool | None, failures: Sequence[StartTaskFailure]
    ) -> None:
        super().__init__(message, pool_id=pool_id, pool=pool)
        self.failures = tuple(failures)

    @property
    def node_ids(self) -> tuple[str, ...]:
        """The nodes whose start task failed."""
        return tuple(failure.node_id for failure in self.failures)


class NodesUnusableError(PoolNotReadyError):
    """Nodes are unusable (``states``: node id -> state), or the pool has no node and none to come."""

    def __init__(self, message: str, *, pool_id: str, pool: BatchPool | None, states: dict[str, str]) -> None:
        super().__init__(message, pool_id=pool_id, pool=pool)
        self.states = dict(states)

    @property
    def node_ids(self) -> tuple[str, ...]:
        """The nodes found unusable."""
        return tuple(self.states)


class PoolWaitTimeoutError(PoolNotReadyError, WaitTimeoutError):
    """``wait_until_ready``'s timeout passed before the pool was ready (and before it failed)."""

    def __init__(self, message: str, *, pool_id: str, pool: BatchPool | None) -> None:
        PoolNotReadyError.__init__(self, message, pool_id=pool_id, pool=pool)
        self.progress = None
